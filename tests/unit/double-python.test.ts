/**
 * The Python the double's `st2 --version` names: the one the real package of that release runs on
 * on the host's distribution (components/catalog/python.ts, from st2-packages), at the patch
 * release that distribution ships. Run without a lab host, with the scenario's own /etc/os-release.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { compareLines, lineName } from "../../components/catalog";
import { PACKAGED_PYTHON } from "../../components/catalog/python";
import { RELEASE_LINES } from "../../components/catalog/releases";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";
import { doubleInstall, runDouble, shellQuote } from "../support/double";

const DOUBLE = path.join(LAB_PROJECT_ROOT, "lab", "double");
/** version -> the Python its package claims when the distribution is not one it was built for. */
const BUILT: [string, string][] = fs.readFileSync(path.join(DOUBLE, "versions.tsv"), "utf8").split("\n")
    .filter((l) => /^\d/.test(l)).map((l) => { const f = l.split(/\s+/); return [f[0], f[f.length - 1]]; });

function catalogPython(line: string, os: string): string | undefined {
    return PACKAGED_PYTHON.find((p) => p.os.includes(os as never) && compareLines(p.lines[0], line) <= 0 && compareLines(line, p.lines[1]) <= 0)?.python;
}

/** os-release of an OS key: ubuntu-22.04 -> ID=ubuntu VERSION_ID="22.04", el8 -> ID="rocky" VERSION_ID="8.10". */
function osRelease(os: string): string {
    return os.startsWith("ubuntu-") ? `ID=ubuntu\nVERSION_ID="${os.slice(7)}"\n` : `ID="rocky"\nVERSION_ID="${os.slice(2)}.10"\n`;
}

/** `st2 --version` (stdout and stderr) of the double at `version` on a host whose os-release is `os`'s. */
function st2Version(install: string, os: string | null): string {
    const etc = os === null ? "" : [
        "mkdir -p /var/lib/etc-upper /var/lib/etc-work",
        "mount -t overlay overlay -o lowerdir=/etc,upperdir=/var/lib/etc-upper,workdir=/var/lib/etc-work /etc",
        `rm -f /etc/os-release && printf '%s' ${shellQuote(osRelease(os))} >/etc/os-release`,
    ].join("\n");
    const r = runDouble(install, `${etc}\nst2 --version`);
    assert.equal(r.code, 0, r.stdout);
    return r.stdout;
}

describe("the double's st2 --version names the Python of the real package", () => {
    it("the double's table is the catalog's", () => {
        const install = doubleInstall("3.9.0", "3.8.10");
        const py = `import sys, json; sys.path.insert(0, ${JSON.stringify(install)})\nfrom st2double import common as c\n` +
            "print(json.dumps([['%d.%d' % a, '%d.%d' % b, list(d), p] for a, b, d, p in c.PACKAGED_PYTHON]))";
        const r = runDouble(install, `python3 -c ${shellQuote(py)}`);
        assert.equal(r.code, 0, r.stdout);
        assert.deepEqual(JSON.parse(r.stdout), PACKAGED_PYTHON.map((p) => [p.lines[0], p.lines[1], [...p.os], p.python]));
    });

    it("the catalog names a Python for every distribution of every line from 2.7 (when st2 --version starts naming it)", () => {
        const missing = RELEASE_LINES.filter((l) => compareLines(l.line, "2.7") >= 0)
            .flatMap((l) => l.os.filter((os) => catalogPython(l.line, os) === undefined).map((os) => `${l.line} on ${os}`));
        assert.deepEqual(missing, []);
        for (const p of PACKAGED_PYTHON) assert.match(p.source, /^StackStorm\/st2-packages@v\d/, p.source);
    });

    for (const [version, built] of BUILT) {
        const line = RELEASE_LINES.find((l) => l.line === lineName(version))!;
        it(`${version}: on each distribution of its line (${line.os.join(", ")}), and elsewhere the package's own claim (${built})`, () => {
            const install = doubleInstall(version, built);
            for (const os of line.os) {
                const out = st2Version(install, os);
                if (compareLines(line.line, "2.7") < 0) {
                    assert.equal(out, `st2 ${version}\n`, `${version} on ${os}`);
                    continue;
                }
                const python = out.match(/^st2 [0-9.]+, on Python ([0-9.]+)\n$/)?.[1];
                assert.ok(python, `${version} on ${os}: ${out}`);
                assert.equal(python.split(".").slice(0, 2).join("."), catalogPython(line.line, os), `${version} on ${os}`);
            }
            // a distribution the release was not packaged for (this machine's own os-release is Debian's)
            assert.equal(st2Version(install, "ubuntu-12.04"), compareLines(line.line, "2.7") < 0 ? `st2 ${version}\n` : `st2 ${version}, on Python ${built}\n`);
        });
    }

    it("3.9.0 on Ubuntu 22.04 runs on jammy's Python 3.10, 3.8.1 on Ubuntu 20.04 on focal's 3.8", () => {
        assert.equal(st2Version(doubleInstall("3.9.0", "3.8.10"), "ubuntu-22.04"), "st2 3.9.0, on Python 3.10.12\n");
        assert.equal(st2Version(doubleInstall("3.9.0", "3.8.10"), "ubuntu-20.04"), "st2 3.9.0, on Python 3.8.10\n");
        assert.equal(st2Version(doubleInstall("3.8.1", "3.8.10"), "ubuntu-20.04"), "st2 3.8.1, on Python 3.8.10\n");
        assert.equal(st2Version(doubleInstall("3.2.0", "2.7.12"), "ubuntu-16.04"), "st2 3.2.0, on Python 2.7.12\n");
    });
});
