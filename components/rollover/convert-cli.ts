/**
 * The datastore conversion as a pipe filter, for the operator's machine:
 *
 *   ssh old 'sudo st2 key list -j ...' | node convert-cli.js --from 2.0.1 --to 3.9.0 | ssh new '... st2 key load'
 *
 * Commands (the first is the default):
 *   convert --from V --to V     export on stdin -> `st2 key load` file on stdout; counts on stderr
 *   summary --from V --to V     export on stdin -> summary (names, flags, hashes of non-secret values)
 *   compare OLD NEW             two summary files -> `DATASTORE {...}` counts; exit 1 when keys differ
 *
 * Never prints a value: errors name items by position and name.
 */
import * as fs from "node:fs";
import { compareSummaries, convertExport, DatastoreError, parseSummary, summarizeExport } from "./datastore";

export const USAGE = [
    "usage: convert-cli [convert] --from VERSION --to VERSION   < export  > load-file",
    "       convert-cli summary --from VERSION --to VERSION     < export  > summary",
    "       convert-cli compare OLD_SUMMARY NEW_SUMMARY",
].join("\n");

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
}

const PREFIX = "st2-upgrade convert-cli";

function versions(args: string[]): { from: string; to: string } | string {
    const out: Record<string, string> = {};
    for (let i = 0; i < args.length; i++) {
        const m = /^--(from|to)(?:=(.*))?$/.exec(args[i]);
        if (!m) return `unknown argument ${JSON.stringify(args[i])}`;
        const value = m[2] ?? args[++i];
        if (value === undefined || value === "") return `--${m[1]} needs a version`;
        out[m[1]] = value;
    }
    if (!out.from || !out.to) return "--from and --to are required";
    return { from: out.from, to: out.to };
}

/** The whole CLI as a function of its arguments and input, so that tests need no process. */
export function runCli(argv: readonly string[], readStdin: () => string, readFile: (path: string) => string = (p) => fs.readFileSync(p, "utf8"), now: Date = new Date()): CliResult {
    const [first, ...rest] = argv;
    const command = first === "convert" || first === "summary" || first === "compare" ? first : "convert";
    const args = command === first ? rest : [...argv];
    const usage = (why: string): CliResult => ({ code: 2, stdout: "", stderr: `${PREFIX}: ${why}\n${USAGE}\n` });
    try {
        if (command === "compare") {
            if (args.length !== 2) return usage("compare needs two summary files");
            const old = parseSummary(readFile(args[0]), `the old host's summary ${args[0]}`);
            const fresh = parseSummary(readFile(args[1]), `the new host's summary ${args[1]}`);
            const c = compareSummaries(old, fresh);
            const counts = { total: old.total, byScope: old.byScope, secrets: old.secrets, matched: c.matched, extra: c.extra };
            const stdout = `DATASTORE ${JSON.stringify(counts)}\n`;
            if (c.ok) return { code: 0, stdout, stderr: "" };
            const problems = [
                ...(c.missing.length ? [`${c.missing.length} key(s) of the old host missing on the new host: ${c.missing.join(", ")}`] : []),
                ...(c.different.length ? [`${c.different.length} key(s) with a different secret flag or value: ${c.different.join(", ")}`] : []),
            ];
            return { code: 1, stdout, stderr: `${PREFIX}: the datastores differ: ${problems.join("; ")}\n` };
        }
        const v = versions(args);
        if (typeof v === "string") return usage(v);
        if (command === "summary") {
            return { code: 0, stdout: `${JSON.stringify(summarizeExport(readStdin(), v.from, v.to, now))}\n`, stderr: "" };
        }
        const { loadFile, counts } = convertExport(readStdin(), v.from, v.to, now);
        const scopes = Object.entries(counts.byScope).map(([s, n]) => `${s}: ${n}`).join(", ");
        const note = `${counts.total} key(s) for ${v.to} (${scopes}; ${counts.secrets} secret(s)${counts.expired ? `; ${counts.expired} expired left out` : ""})`;
        return { code: 0, stdout: loadFile, stderr: `${PREFIX}: ${note}\n` };
    } catch (e) {
        if (e instanceof DatastoreError) return { code: 1, stdout: "", stderr: `${PREFIX}: ${e.message}\n` };
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return { code: 1, stdout: "", stderr: `${PREFIX}: ${(e as Error).message}\n` };
        throw e;
    }
}

if (require.main === module) {
    const result = runCli(process.argv.slice(2), () => fs.readFileSync(0, "utf8"));
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    process.exitCode = result.code;
}
