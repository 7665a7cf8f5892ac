/**
 * The double's `st2` client against real st2's transcripts (real-st2/3.8.1, real-st2/3.9.0), run on
 * this machine without a lab host (tests/support/double.ts): help texts and usage errors (38b, 44,
 * 44b, 60), listings (44c, 44d, 45) of a database holding the recorded rows, the 60 recorded
 * `st2 key set` calls (30), and the recorded loads into a fresh database with the same crypto key
 * with the listings after each (61-67b). Each scenario has its own /etc (an overlay: the crypto
 * key), database (tmpfs), token and st2api/st2auth processes (the double's API answers while they
 * run, like the real client's connection to their ports).
 *
 * What differs on purpose: ciphertexts (real st2 encrypts with AES, the double with its own
 * cipher: another length, so table rows of encrypted values wrap onto another number of lines,
 * and these rows are left out of table comparisons) and the TTL key's expiry time.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { doubleInstall, runDouble, shellQuote } from "../support/double";
import { transcript } from "../support/reference";

const VERSIONS: [string, string][] = [["3.8.1", "3.8.10"], ["3.9.0", "3.8.10"]];
const TOKEN = "0123456789abcdef0123456789abcdef";

/**
 * Bash making a scenario's world: the crypto key in an overlay of /etc (the machine's /etc is not
 * written), a token for st2admin (the recorded user), and st2api and st2auth running under their
 * packaged paths. runDouble gives the scenario private tmpfs on /var/lib and /opt.
 */
function world(install: string, collections: Record<string, unknown[]> = {}): string {
    const db = "/var/lib/st2-double/db";
    const docs: Record<string, unknown[]> = {
        tokens: [{ _id: "0".repeat(24), user: "st2admin", token: TOKEN, expiry: 4102444800 }],
        ...collections,
    };
    return [
        "mkdir -p /var/lib/etc-upper /var/lib/etc-work",
        "mount -t overlay overlay -o lowerdir=/etc,upperdir=/var/lib/etc-upper,workdir=/var/lib/etc-work /etc",
        `python3 -c ${shellQuote(`import sys; sys.path.insert(0, ${JSON.stringify(install)}); from st2double import common; common.generate_key(common.KEY_PATH)`)}`,
        `mkdir -p ${db}`,
        ...Object.entries(docs).map(([name, list]) => `printf '%s\\n' ${shellQuote(JSON.stringify(list))} >${db}/${name}.json`),
        "for s in st2api st2auth; do printf 'import time\\ntime.sleep(120)\\n' >/opt/stackstorm/st2/bin/$s; python3 /opt/stackstorm/st2/bin/$s --config-file /etc/st2/st2.conf & done",
        "for _ in $(seq 1 100); do pgrep -f bin/st2api >/dev/null && pgrep -f bin/st2auth >/dev/null && break; sleep 0.05; done",
        `export ST2_AUTH_TOKEN=${TOKEN}`,
    ].join("\n");
}

interface Step {
    output: string;
    code: number;
}

/**
 * Runs named commands in one world, each one's stdout+stderr and exit code apart. A step whose
 * command is an array is a run of `st2` calls made in one Python process (the seed's 60 calls:
 * one process each is slow on a busy machine), each with its own name and markers.
 */
function scenario(install: string, steps: [string, string | string[]][], collections?: Record<string, unknown[]>): Map<string, Step> {
    const inProcess = (name: string, calls: string[]) => `python3 -c ${shellQuote([
        "import shlex, sys",
        `sys.path.insert(0, ${JSON.stringify(install)})`,
        "from st2double.cli import main",
        `for i, cmd in enumerate(${JSON.stringify(calls)}):`,
        `    print('@@@ ${name}.%d' % i, flush=True)`,
        "    try:",
        "        rc = main(shlex.split(cmd)[1:])",
        "    except SystemExit as e:",
        "        rc = e.code",
        "    sys.stderr.flush()",
        "    print('@@@ exit %d' % rc, flush=True)",
    ].join("\n"))} 2>&1`;
    const script = [
        world(install, collections),
        ...steps.map(([name, cmd]) => Array.isArray(cmd) ? inProcess(name, cmd) : `echo '@@@ ${name}'; ( ${cmd} ) 2>&1; echo "@@@ exit $?"`),
    ].join("\n");
    const r = runDouble(install, script, [], {}, 180_000);
    const out = new Map<string, Step>();
    for (const m of r.stdout.matchAll(/^@@@ (\S+)\n([\s\S]*?)^@@@ exit (\d+)\n/gm)) out.set(m[1], { output: m[2], code: Number(m[3]) });
    for (const [name, cmd] of steps) {
        for (const n of Array.isArray(cmd) ? cmd.map((_, i) => `${name}.${i}`) : [name]) assert.ok(out.has(n), `step ${n} did not run: ${r.stdout}`);
    }
    return out;
}

/** Ciphertexts and the TTL key's expiry are the double's own: JSON outputs keep their shape only. */
function normJson(text: string): string {
    return text
        .replace(/"value": "[0-9A-F]{32,}"/g, '"value": "<ciphertext>"')
        .replace(/"expire_timestamp": "[^"]+"/g, '"expire_timestamp": "<time>"');
}

/** Property tables (`key set`): a ciphertext cell (one per wrapped line) and an expiry time. */
function normProps(text: string): string {
    return text
        .replace(/\| [0-9A-F]{16,} +\|/g, "| <ciphertext> |")
        .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/g, (t) => t.replace(/\d/g, "9"));
}

/** A key table without the rows (with their wrapped continuation lines) whose `secret` is True. */
function withoutSecretRows(table: string): string {
    const lines = table.split("\n");
    const header = lines.find((l) => l.startsWith("| name "));
    if (!header) return table;
    const secretCol = header.split("|").map((x) => x.trim()).indexOf("secret");
    const out: string[] = [];
    let drop = false;
    for (const line of lines) {
        const cells = line.split("|").map((x) => x.trim());
        if (line.startsWith("|") && cells[1] !== "") drop = cells[secretCol] === "True";
        else if (!line.startsWith("|")) drop = false;
        if (!drop) out.push(line);
    }
    return out.join("\n");
}

/**
 * The rows of a recorded table, wrapped cells joined again: a row's continuation lines have an
 * empty `key` column; a line was cut inside a word if it ends with a hyphen or is one word that
 * fills its column (textwrap breaks at spaces and hyphens, and inside words longer than a line).
 */
function tableRows(text: string, key: string): Record<string, string>[] {
    const lines = text.split("\n");
    const sep = lines.find((l) => l.startsWith("+-"))!;
    const spans: [number, number][] = [];
    for (let i = 0; i < sep.length - 1;) {
        const j = sep.indexOf("+", i + 1);
        spans.push([i + 2, j - 1]);
        i = j;
    }
    const cut = (l: string) => spans.map(([a, b]) => l.slice(a, b).replace(/ +$/, ""));
    const header = cut(lines.find((l) => l.startsWith("| "))!);
    const rows: string[][] = [];
    const widths = spans.map(([a, b]) => b - a - 1);
    for (const line of lines.filter((l) => l.startsWith("| ")).slice(1)) {
        const cells = cut(line);
        if (cells[header.indexOf(key)] !== "" || rows.length === 0) {
            rows.push(cells);
            continue;
        }
        const row = rows[rows.length - 1];
        cells.forEach((piece, i) => {
            if (piece === "") return;
            const prev = row[i];
            const whole = prev.endsWith("-") || (!prev.includes(" ") && prev.length >= widths[i]);
            row[i] = whole ? prev + piece : `${prev} ${piece}`;
        });
    }
    return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

/** A deterministic shuffle, so that the double's order is its own sorting, not the seed's. */
function shuffled<T>(list: T[]): T[] {
    return list.map((x, i) => [(i * 7919) % 101, x] as [number, T]).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
}

for (const [version, python] of VERSIONS) {
    describe(`double st2 ${version} = real st2 ${version}`, () => {
        let install = "";
        before(() => {
            install = doubleInstall(version, python);
        });

        it("38b, 44, 44b, 60: help texts and the usage error of an unknown option, byte for byte", () => {
            // argparse's layout is the Python's that runs the double; the transcripts ran on Debian
            // 12's 3.11 like the lab hosts (a packaged st2 on Python 3.8 says "optional arguments:")
            for (const name of ["38b", "44", "44b", "60"]) {
                const t = transcript(version, name);
                const r = runDouble(install, t.command);
                assert.equal(r.stdout, t.output, t.file);
                assert.equal(r.code, t.exitCode, t.file);
            }
        });

        it("70: the [database] options the double's services know are the ones real st2 registers", () => {
            // the recording's first line is its probe's own header; each row: name | type | default |
            // deprecated names | deprecated for removal
            const t = transcript(version, "70");
            const py = "from st2double import common as c\nfor n, t, d, old, rm in c.database_options():\n" +
                "    print(' | '.join([n, t, d, ', '.join('database.' + o for o in old) or '-', str(rm)]))";
            const r = runDouble(install, `python3 -c ${shellQuote(`import sys; sys.path.insert(0, ${JSON.stringify(install)})\n${py}`)}`);
            assert.equal(r.code, 0, r.stdout);
            assert.equal(r.stdout, t.output.split("\n").slice(1).join("\n"), t.file);
        });

        it("70: a service warns about the [database] names the release deprecates, and reads the aliases", () => {
            const conf = "[database]\nssl = True\nssl_ca_certs = /etc/ca.pem\nssl_keyfile = /etc/k.pem\nssl_certfile = /etc/c.pem\nhost = db\n";
            const py = "from st2double import service\nservice.Service('st2api', '/var/log/st2.conf').check_config()";
            const r = runDouble(install, `printf '%s' ${shellQuote(conf)} >/var/log/st2.conf && python3 -c ${shellQuote(`import sys; sys.path.insert(0, ${JSON.stringify(install)})\n${py}`)} && cat /var/log/st2/st2api.log 2>/dev/null | sed 's/^.* WARNING \\[-\\] //'`);
            assert.equal(r.code, 0, r.stdout);
            assert.equal(r.stdout, version === "3.8.1" ? "" : [
                "Option [database] ssl_certfile is deprecated for removal: ignored, set tls_certificate_key_file",
                "Option [database] ssl_keyfile is deprecated for removal: ignored, set tls_certificate_key_file",
                "Option [database] ssl is deprecated: use tls",
                "Option [database] ssl_ca_certs is deprecated: use tls_ca_file",
                "",
            ].join("\n"));
        });

        it("44c, 44d, 45: action and pack listings of the recorded actions and packs, byte for byte", () => {
            const actions = tableRows(transcript(version, "44c").output, "pack")
                .map((r, i) => ({ _id: String(i).padStart(24, "0"), ref: r.ref, pack: r.pack, name: r.ref.split(".")[1], description: r.description }));
            const packs = tableRows(transcript(version, "45").output, "version")
                .map((r, i) => ({ _id: String(i).padStart(24, "0"), ...r }));
            assert.ok(actions.length > 50 && packs.length > 4, "the recorded tables were read");
            const steps = scenario(install, ["44c", "44d", "45"].map((n) => [n, transcript(version, n).command]),
                { actions: shuffled(actions), packs: shuffled(packs) });
            for (const name of ["44c", "44d", "45"]) {
                const t = transcript(version, name);
                assert.equal(steps.get(name)!.output, t.output, t.file);
                assert.equal(steps.get(name)!.code, t.exitCode, t.file);
            }
        });

        describe("30, 61-67b: the recorded seed, then loads into a fresh database and the listings after each", () => {
            const seed = transcript(version, "30").output.split("\n").filter((l) => l.startsWith("$ st2 key set ")).map((l) => l.slice(2));
            const fresh = "rm -f /var/lib/st2-double/db/kv.json";
            let steps = new Map<string, Step>();
            before(() => {
                steps = scenario(install, [
                    ["30", seed],
                    ["export", "cd /var/lib && st2 key list -n -1 -j >file.json && st2 key list -n -1 -j --decrypt >export-decrypted.json"],
                    ["reset-a", fresh],
                    ...["61", "62", "62b", "62c"].map((n): [string, string] => [n, `cd /var/lib && ${transcript(version, n).command}`]),
                    ["reset-b", fresh],
                    ...["63", "64", "64b"].map((n): [string, string] => [n, `cd /var/lib && ${transcript(version, n).command}`]),
                    ["reset-c", fresh],
                    ...["67", "67b"].map((n): [string, string] => [n, `cd /var/lib && ${transcript(version, n).command}`]),
                ]);
            });

            it("30: each `st2 key set` prints the recorded property table", () => {
                // 60 blocks of `$ command`, output, `[exit code: N]` (the last one's is the file's)
                const t = transcript(version, "30");
                const blocks = t.output.split(/^(?=\$ st2 key set )/m).filter((b) => b.startsWith("$"));
                assert.equal(blocks.length, 60);
                blocks.forEach((block, i) => {
                    const code = block.match(/^\[exit code: (\d+)\]\n$/m);
                    const output = block.slice(block.indexOf("\n") + 1, code ? code.index : undefined);
                    const got = steps.get(`30.${i}`)!;
                    assert.equal(normProps(got.output), normProps(output), seed[i]);
                    assert.equal(got.code, code ? Number(code[1]) : t.exitCode, seed[i]);
                });
            });

            for (const name of ["61", "63", "67"]) {
                it(`${name}: ${transcript(version, name).command} prints the recorded table (rows of encrypted values aside)`, () => {
                    const t = transcript(version, name);
                    const got = steps.get(name)!;
                    assert.equal(withoutSecretRows(got.output), withoutSecretRows(t.output), t.file);
                    assert.equal(got.code, t.exitCode, t.file);
                    if (name === "67") assert.equal(got.output, t.output, `${t.file}: a decrypted export has no ciphertext: all rows compare`);
                });
            }

            for (const name of ["62", "62b", "62c", "64", "64b", "67b"]) {
                it(`${name}: ${transcript(version, name).command} after the load`, () => {
                    const t = transcript(version, name);
                    const got = steps.get(name)!;
                    assert.equal(normJson(got.output), normJson(t.output), t.file);
                    assert.equal(got.code, t.exitCode, t.file);
                });
            }
        });
    });
}
