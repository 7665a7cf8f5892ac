// Properties of plan(), over every pair and triple of releases the catalog knows (fast-check, in the
// style of pulumi-awsx's subnetDistributorNew.test.ts). Versions come from the exported catalog, never
// from a list here: a release added to components/catalog needs no edit of this file.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import * as semver from "semver";
import { compareLines, executableMigrationIds, knownReleases, lineName, releaseLine, type Migration, type PackageName, type ReleaseLine } from "../../components/catalog";
import { plan, plannedMigrationIds } from "../../components/plan";

const RELEASES = knownReleases();
const LINES: ReleaseLine[] = [...new Map(RELEASES.map((v) => [lineName(v), releaseLine(v)])).values()];
const runs = (numRuns: number) => ({ numRuns, includeErrorInReport: true });

const release = fc.constantFrom(...RELEASES);
const ordered = (vs: string[]) => [...vs].sort(semver.compare);
const pair = fc.tuple(release, release).map(ordered);
const triple = fc.tuple(release, release, release).map(ordered);

/** What upgrading from `from` to `to` must run, read from the catalog data alone: the executable migrations of every line above from's, up to to's. */
function expectedMigrations(from: string, to: string): Migration[] {
    return LINES.filter((l) => compareLines(l.line, lineName(from)) > 0 && compareLines(l.line, lineName(to)) <= 0)
        .sort((a, b) => compareLines(a.line, b.line))
        .flatMap((l) => l.migrations ?? [])
        .filter((m) => m.kind !== "notice");
}

describe("plan() properties over the catalog (fast-check)", () => {
    it("the catalog has releases to draw from", () => {
        assert.ok(RELEASES.length > 2 && LINES.length > 2, `${RELEASES.length} releases in ${LINES.length} lines`);
    });

    it("runs every migration between from and to exactly once, and nothing else", () => {
        fc.assert(
            fc.property(pair, ([from, to]) => {
                const ids = plannedMigrationIds(plan(from, to));
                assert.equal(new Set(ids).size, ids.length, `a migration runs twice: ${ids.join(", ")}`);
                assert.deepEqual([...ids].sort(), expectedMigrations(from, to).map((m) => m.id).sort());
            }),
            runs(300),
        );
    });

    it("ascends: every leg above the one before, the last at the target, none when from = to", () => {
        fc.assert(
            fc.property(pair, ([from, to]) => {
                const legs = plan(from, to).legs.map((l) => l.version);
                if (from === to) return assert.deepEqual(legs, []);
                assert.equal(legs[legs.length - 1], to);
                [from, ...legs].reduce((previous, v) => {
                    assert.ok(semver.gt(v, previous), `leg ${v} after ${previous}: ${[from, ...legs].join(" -> ")}`);
                    return v;
                });
            }),
            runs(300),
        );
    });

    it("never runs a script past the last release line that ships it", () => {
        fc.assert(
            fc.property(pair, ([from, to]) => {
                for (const leg of plan(from, to).legs) {
                    for (const m of leg.migrations) {
                        if (m.kind === "script" && m.shippedUntil) {
                            assert.ok(compareLines(lineName(leg.version), m.shippedUntil) <= 0, `${m.id} runs in the ${leg.version} leg, shipped until ${m.shippedUntil}`);
                        }
                    }
                }
            }),
            runs(300),
        );
    });

    it("runs the same migrations from A to C as from A to B and then B to C", () => {
        fc.assert(
            fc.property(triple, ([a, b, c]) => {
                const direct = plannedMigrationIds(plan(a, c));
                const stepped = [...plannedMigrationIds(plan(a, b)), ...plannedMigrationIds(plan(b, c))];
                assert.deepEqual(stepped, direct, `${a} -> ${b} -> ${c}`);
            }),
            runs(300),
        );
    });

    it("leaves out exactly the skipped migrations, and lists those it would have run", () => {
        fc.assert(
            fc.property(pair, fc.subarray(executableMigrationIds()), ([from, to], skip) => {
                const all = plannedMigrationIds(plan(from, to));
                const p = plan(from, to, undefined, skip);
                assert.deepEqual(plannedMigrationIds(p), all.filter((id) => !skip.includes(id)));
                assert.deepEqual(p.skipped, all.filter((id) => skip.includes(id)));
            }),
            runs(200),
        );
    });

    it("upgrades only installed packages the leg's release publishes, and the Mistral DB only with st2mistral", () => {
        const community: PackageName[] = ["st2", "st2web", "st2chatops", "st2mistral"];
        fc.assert(
            fc.property(pair, fc.subarray(community, { minLength: 1 }), ([from, to], installed) => {
                for (const leg of plan(from, to, installed).legs) {
                    const published = releaseLine(leg.version).packages;
                    assert.deepEqual(leg.packages, published.filter((p) => installed.includes(p)), `leg ${leg.version}`);
                    assert.equal(leg.mistralDb, leg.packages.includes("st2mistral"), `leg ${leg.version}`);
                }
            }),
            runs(200),
        );
    });

    it("refuses every downgrade", () => {
        fc.assert(
            fc.property(pair.filter(([a, b]) => a !== b), ([lower, higher]) => {
                assert.throws(() => plan(higher, lower), /refusing to downgrade/);
            }),
            runs(100),
        );
    });
});
