// npm run state:migrate -- --stack S [--dry-run]
//
// Rewrites the state of stack S, written by st2-upgrade 0.1.0's own command provider, into the
// shape the real pulumi-command 1.2.1 provider writes (tools/state-shape.ts says what changes and
// why), so that `up` with the real provider does not re-run every step on every host. A round trip
// through the engine's own commands, with this project's environment (scripts/pulumi.sh: your
// backend if you chose one): `pulumi stack export --show-secrets` into a backup (mode 0600, kept),
// the rewrite, `pulumi stack import`. No host is contacted.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { migrateExport, MigrationRefused, type Export } from "./state-shape";

const ROOT = path.resolve(__dirname, "..", "..");
const USAGE = "usage: npm run state:migrate -- --stack STACK [--dry-run] [--backup-dir DIR] [--cwd PROJECT_DIR]";

interface Args {
    stack: string;
    dryRun: boolean;
    backupDir: string;
    /** The Pulumi project's folder (this project's by default). */
    cwd: string;
}

function parseArgs(argv: readonly string[]): Args {
    let stack = "";
    let dryRun = false;
    let backupDir = path.join(ROOT, ".state-backups");
    let cwd = ROOT;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--stack" && argv[i + 1]) stack = argv[++i];
        else if (a === "--dry-run") dryRun = true;
        else if (a === "--backup-dir" && argv[i + 1]) backupDir = path.resolve(argv[++i]);
        else if (a === "--cwd" && argv[i + 1]) cwd = path.resolve(argv[++i]);
        else throw new Error(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
    }
    if (!stack) throw new Error(`--stack is required (e.g. --stack prod)\n${USAGE}`);
    return { stack, dryRun, backupDir, cwd };
}

function pulumi(cwd: string, args: readonly string[]): string {
    const run = spawnSync("bash", [path.join(ROOT, "scripts", "pulumi.sh"), ...args, "--non-interactive"], {
        cwd,
        encoding: "utf8",
        maxBuffer: 1024 * 1024 * 1024,
        stdio: ["ignore", "pipe", "pipe"],
    });
    if (run.error) throw run.error;
    if (run.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (${String(run.status)}):\n${run.stderr.trim()}`);
    return run.stdout;
}

function main(): number {
    const args = parseArgs(process.argv.slice(2));
    // The export holds every secret in clear: only its owner may read it, from the moment it exists.
    process.umask(0o077);
    fs.mkdirSync(args.backupDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(args.backupDir, 0o700);
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const backup = path.join(args.backupDir, `${args.stack.replace(/[^A-Za-z0-9_.-]/g, "_")}-${stamp}.json`);
    pulumi(args.cwd, ["stack", "export", "--stack", args.stack, "--show-secrets", "--file", backup]);
    fs.chmodSync(backup, 0o600);

    let result: ReturnType<typeof migrateExport>;
    try {
        result = migrateExport(JSON.parse(fs.readFileSync(backup, "utf8")) as Export);
    } catch (e) {
        fs.rmSync(backup); // nothing changed: no copy of the secrets left behind
        throw e;
    }
    const { exported: migrated, changes } = result;
    const label = args.dryRun ? "would change" : "changes";
    for (const c of changes) console.log(`${label}: ${c.urn}: ${c.what}`);
    if (changes.length === 0 || args.dryRun) {
        fs.rmSync(backup);
        console.log(
            changes.length === 0
                ? `stack ${args.stack}: already in the real command provider's shape; nothing to do`
                : `stack ${args.stack}: dry run, ${changes.length} change(s) listed, nothing written`,
        );
        return 0;
    }
    const rewritten = `${backup.slice(0, -".json".length)}.migrated.json`;
    fs.writeFileSync(rewritten, JSON.stringify(migrated, null, 4) + "\n", { mode: 0o600 });
    try {
        pulumi(args.cwd, ["stack", "import", "--stack", args.stack, "--file", rewritten]);
    } finally {
        fs.rmSync(rewritten, { force: true });
    }
    console.log(`stack ${args.stack}: ${changes.length} change(s) imported. The state before, secrets in clear, is kept in ${backup} (mode 0600);`);
    console.log(`to go back: npm run pulumi -- stack import --stack ${args.stack} --file ${backup}`);
    return 0;
}

try {
    process.exitCode = main();
} catch (e) {
    console.error(`state:migrate: ${e instanceof MigrationRefused ? e.message : e instanceof Error ? e.message : String(e)}`);
    process.exitCode = e instanceof MigrationRefused ? 3 : 1;
}
