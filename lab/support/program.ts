// Runs the project's own program (index.ts + components/) on a throwaway stack whose hosts are lab
// hosts: the real engine, the real program, real hosts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before } from "node:test";
import { ensureToolchain, makeTempStack, PROJECT_ROOT, runPulumi, type PulumiResult, type TempStack } from "./engine";
import { lossesSince, type Inventory } from "./inventory";
import { labDown, labUp, sshdSessions, sshRun, type LabHost, type LabUpOptions } from "./lab";

/** The program's files, as a user's checkout has them. */
function programFiles(): Record<string, string> {
    const files: Record<string, string> = {};
    for (const f of ["Pulumi.yaml", "index.ts", "tsconfig.json", "package.json"]) {
        files[f] = fs.readFileSync(path.join(PROJECT_ROOT, f), "utf8");
    }
    const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true })) {
            const rel = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(rel);
            else if (entry.name.endsWith(".ts")) files[rel] = fs.readFileSync(path.join(PROJECT_ROOT, rel), "utf8");
        }
    };
    walk("components");
    // Only the program: the tests and tools of the checkout are not part of it.
    files["tsconfig.json"] = JSON.stringify({ ...JSON.parse(files["tsconfig.json"]), include: ["index.ts", "components/**/*.ts"] });
    return files;
}

/** Stack config for lab hosts, every host at its lab version unless `currentVersion` says otherwise. */
export function labConfig(hosts: readonly LabHost[], settings: Record<string, unknown>): Record<string, unknown> {
    return {
        hosts: hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, user: h.user, currentVersion: h.version })),
        sshPrivateKeyPath: hosts[0].privateKeyPath,
        backup: { extraPaths: ["/var/lib/st2-double"] },
        ...settings,
    };
}

/**
 * The lab of one describe block: before its tests, the toolchain, the hosts `up` describes and a stack
 * of the program with `config(hosts)`; after them, the stack and the hosts removed. Read `hosts` and
 * `stack` inside the tests (they exist once the block's `before` ran).
 */
export function labSuite(up: LabUpOptions & { prefix: string }, config: (hosts: LabHost[]) => Record<string, unknown>): { hosts: LabHost[]; stack: ProgramStack } {
    const lab = {} as { hosts: LabHost[]; stack: ProgramStack };
    before(() => {
        ensureToolchain();
        lab.hosts = labUp(up);
        lab.stack = programStack(config(lab.hosts));
    });
    after(() => {
        lab.stack?.cleanup();
        labDown({ prefix: up.prefix });
    });
    return lab;
}

/** What the engine did to one resource, from its event log. */
export interface ResourceEvent {
    op: string;
    type: string;
    name: string;
}

export interface UpResult extends PulumiResult {
    /** Every resource the engine finished, in order (`same` ones included). */
    events: ResourceEvent[];
    /** Names of the commands that ran (created or replaced), in order. */
    ran: string[];
}

export interface ProgramStack extends TempStack {
    up(extra?: readonly string[]): UpResult;
    outputs(): Record<string, unknown>;
}

/** A temp stack of the real program with `config` as its `st2-upgrade:*` settings. */
export function programStack(config: Record<string, unknown>, stack = "e2e"): ProgramStack {
    const yaml = Object.entries(config)
        .map(([key, value]) => `  st2-upgrade:${key}: ${JSON.stringify(value)}`)
        .join("\n");
    const made = makeTempStack({ files: { ...programFiles(), [`Pulumi.${stack}.yaml`]: `config:\n${yaml}\n` }, stack });
    // `npm run build` type-checks the program already; each engine run only needs it transpiled.
    const env = { ...made.env, PULUMI_NODEJS_TRANSPILE_ONLY: "true" };
    const temp: TempStack = { ...made, env, pulumi: (args, input) => runPulumi([...args, "--non-interactive"], { cwd: made.dir, env, input }) };
    return {
        ...temp,
        up: (extra = []) => {
            const log = path.join(temp.dir, `events-${Date.now()}.jsonl`);
            // The event log flag exists only with PULUMI_DEBUG_COMMANDS set.
            const r = runPulumi(["up", "--yes", "--skip-preview", "--non-interactive", "--event-log", log, ...extra], {
                cwd: temp.dir,
                env: { ...temp.env, PULUMI_DEBUG_COMMANDS: "true" },
            });
            const events = readEvents(log);
            return { ...r, events, ran: events.filter((e) => e.type === "command:remote:Command" && ["create", "replace", "create-replacement"].includes(e.op)).map((e) => e.name) };
        },
        outputs: () => {
            const r = temp.pulumi(["stack", "output", "--json"]);
            if (r.code !== 0) throw new Error(`pulumi stack output failed:\n${r.stderr}`);
            return JSON.parse(r.stdout) as Record<string, unknown>;
        },
    };
}

function readEvents(file: string): ResourceEvent[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as { resOutputsEvent?: { metadata: { op: string; type: string; urn: string } } })
        .flatMap((e) => (e.resOutputsEvent ? [e.resOutputsEvent.metadata] : []))
        .map((m) => ({ op: m.op, type: m.type, name: m.urn.split("::").pop()! }));
}

/** Audit logs only grow: each file of `before` must still begin with exactly the bytes it had. */
export function auditLogsKept(host: LabHost, before: Inventory): string[] {
    const problems: string[] = [];
    for (const [file, { size, sha256 }] of Object.entries(before.audit_logs)) {
        const r = sshRun(host, `sudo head -c ${size} /var/log/st2/${file} | sha256sum`);
        if (r.stdout.split(" ")[0] !== sha256) problems.push(`${host.name}:/var/log/st2/${file} lost its first ${size} bytes`);
    }
    return problems;
}

/** An engine run's result, for assertion messages. */
export function show(r: PulumiResult): string {
    return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

/** Every key (names, scopes, values, secrets), pack, Mistral row and audit log byte is still there. */
export function assertNothingLost(host: LabHost, before: Inventory, after: Inventory): void {
    assert.deepEqual(lossesSince(before, after), [], `${host.name} lost data`);
    assert.deepEqual(auditLogsKept(host, before), []);
}

/** The double's log of every root invocation of st2 and st2ctl (lab/double/README.md), a JSON line each. */
export function commandLog(host: LabHost): string[] {
    return sshRun(host, "sudo cat /var/log/st2-double/commands.log").stdout.split("\n").filter((l) => l !== "");
}

/**
 * A second `preview` and `up` after a finished upgrade: no change, no step, and on each host only
 * our own login for the command log and one read-only fact read per run. Returns the preview (with
 * `--diff`) for more checks of its text.
 */
export function assertSecondRunChangesNothing(stack: ProgramStack, hosts: readonly LabHost[]): PulumiResult {
    const sessions = hosts.map(sshdSessions);
    const logs = hosts.map((h) => commandLog(h));
    const preview = stack.pulumi(["preview", "--expect-no-changes", "--diff"]);
    assert.equal(preview.code, 0, show(preview));
    const r = stack.up();
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(r.ran, []);
    assert.ok(r.events.length > 0 && r.events.every((e) => e.op === "same"), JSON.stringify(r.events.filter((e) => e.op !== "same")));
    // Per host: our login for the command log above, and one read-only fact read per run
    // (preview, up); the command log shows only the fact read's st2 --version and st2ctl status.
    assert.deepEqual(hosts.map(sshdSessions), sessions.map((n) => n + 3));
    hosts.forEach((h, i) => assertOnlyFactReads(h, commandLog(h).slice(logs[i].length), 2));
    return preview;
}

/**
 * The double logs every root invocation of st2 and st2ctl (`added`: the lines since a snapshot).
 * The fact read's mark is its two read-only commands, `st2 --version` and `st2ctl status` (started
 * side by side, so in either order), once per run (components/facts.ts); any other line is a step
 * or a test's own command.
 */
export function assertOnlyFactReads(host: LabHost, added: string[], runs: number): void {
    const calls = added.map((l) => (JSON.parse(l) as { argv: string[] }).argv.join(" "));
    const perRun = Array.from({ length: Math.ceil(calls.length / 2) }, (_, i) => calls.slice(2 * i, 2 * i + 2).sort());
    assert.deepEqual(perRun, Array.from({ length: runs }, () => ["st2 --version", "st2ctl status"]), `${host.name}: commands run as root`);
}

/**
 * The StackStorm double's running services, `<service>.pid <pid>` per line, from its pid files
 * (/var/run/st2/, lab/double/README.md), each checked alive: the same lines before and after a run
 * mean no service was stopped or restarted. Read without st2 or st2ctl, so the command log is left alone.
 */
export function servicePids(host: LabHost): string[] {
    const r = sshRun(host, `sudo sh -c 'for f in /var/run/st2/*.pid; do [ -e "$f" ] || continue; p=$(cat "$f"); kill -0 "$p" 2>/dev/null && echo "$(basename "$f") $p"; done'`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => l !== "").sort();
}
