// The project's own command provider never leaves the project: scripts/toolchain.sh registers it in
// the project's Pulumi home (.toolchain/home) only, and scripts/pulumi-env.sh runs the engine with
// that home only when the user has no real provider; the user's ~/.pulumi is never written, and a
// user's login keeps its backend. Run with a throwaway HOME standing for the user's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTempStack, PROJECT_ROOT, runPulumi } from "../../lab/support/engine";

const MARKER = "st2-upgrade/toolchain/command-provider";
const PROJECT_HOME = path.join(PROJECT_ROOT, ".toolchain", "home");
const COMMAND_VERSION: string = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
}).dependencies["@pulumi/command"];

/** Go's caches stay the machine's (a rebuild under a fresh HOME would start cold). */
function goEnv(): NodeJS.ProcessEnv {
    const go = spawnSync("bash", ["-c", "command -v go || ls /usr/local/go/bin/go"], { encoding: "utf8" }).stdout.trim();
    if (!go) return {};
    const r = spawnSync(go, ["env", "GOCACHE", "GOMODCACHE", "GOPATH"], { encoding: "utf8" });
    const [GOCACHE, GOMODCACHE, GOPATH] = r.stdout.trim().split("\n");
    return { GOCACHE, GOMODCACHE, GOPATH };
}

/** The environment of a user whose home is `home` (no PULUMI_HOME, no backend of the caller's). */
function userEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...goEnv(), HOME: home, ...extra };
    for (const k of ["PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN", "PULUMI_NODEJS_TRANSPILE_ONLY"]) {
        if (!(k in extra)) delete env[k];
    }
    return env;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(cmd, [...args], { cwd: PROJECT_ROOT, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under dir holding the project's provider marker (none when dir is absent). */
function filesWithMarker(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    const found: string[] = [];
    const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.isFile() && fs.readFileSync(p).includes(MARKER)) found.push(p);
        }
    };
    walk(dir);
    return found;
}

/** st2_pulumi_env's environment for a user (as npm run pulumi runs the engine). */
function engineEnv(env: NodeJS.ProcessEnv): Record<string, string> {
    const r = run("bash", ["-c", '. scripts/pulumi-env.sh && st2_pulumi_env /nonexistent-bin && env -0'], env);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(r.stdout.split("\0").filter((e) => e.includes("=")).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

describe("the project's command provider stays in the project", () => {
    let home: string;
    before(() => {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "st2-user-home-"));
    });
    after(() => fs.rmSync(home, { recursive: true, force: true }));

    it("the toolchain registers it in .toolchain/home, and nothing in the user's ~/.pulumi", () => {
        const r = run("bash", [path.join(PROJECT_ROOT, "scripts", "toolchain.sh")], userEnv(home));
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /using the project's own provider \(for offline machines and tests\)/);
        const registered = path.join(PROJECT_HOME, "plugins", `resource-command-v${COMMAND_VERSION}`, "pulumi-resource-command");
        assert.deepEqual(filesWithMarker(path.dirname(registered)), [registered]);
        assert.deepEqual(filesWithMarker(path.join(home, ".pulumi")), []);
        assert.equal(fs.existsSync(path.join(home, ".pulumi", "plugins")), false, "the user's plugin cache was created");
    });

    it("npm run pulumi runs the engine with the project's home, which lists the provider; ~/.pulumi stays untouched", () => {
        const r = run("bash", [path.join(PROJECT_ROOT, "scripts", "pulumi.sh"), "plugin", "ls", "--json"], userEnv(home));
        assert.equal(r.code, 0, r.stderr);
        // `plugin ls` lists the plugin cache of the Pulumi home in force: the project's.
        const plugins = JSON.parse(r.stdout) as { name: string; kind: string; version: string; size: number }[];
        const command = plugins.find((p) => p.name === "command" && p.kind === "resource");
        assert.ok(command, r.stdout);
        assert.equal(command.version, COMMAND_VERSION);
        const registered = path.join(PROJECT_HOME, "plugins", `resource-command-v${COMMAND_VERSION}`, "pulumi-resource-command");
        assert.equal(command.size, fs.statSync(registered).size);
        assert.equal(fs.existsSync(path.join(home, ".pulumi", "plugins")), false);
        assert.deepEqual(filesWithMarker(path.join(home, ".pulumi")), []);
    });

    it("operator runs are transpile-only (npm run build type-checks), unless the caller says otherwise", () => {
        assert.equal(engineEnv(userEnv(home)).PULUMI_NODEJS_TRANSPILE_ONLY, "true");
        assert.equal(engineEnv(userEnv(home, { PULUMI_NODEJS_TRANSPILE_ONLY: "false" })).PULUMI_NODEJS_TRANSPILE_ONLY, "false");
    });

    it("the language host passes PULUMI_NODEJS_TRANSPILE_ONLY to @pulumi/pulumi's runner: a type error only fails with the check on", () => {
        const stack = makeTempStack({
            files: {
                "Pulumi.yaml": "name: transpile-only-test\nruntime: nodejs\nmain: index.ts\n",
                "package.json": JSON.stringify({ name: "transpile-only-test", private: true, main: "index.ts" }),
                "tsconfig.json": JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "commonjs", moduleResolution: "node" }, files: ["index.ts"] }),
                "index.ts": 'const port: number = "22";\nexport const shown = String(port);\n',
            },
        });
        try {
            assert.equal(stack.env.PULUMI_NODEJS_TRANSPILE_ONLY, "true");
            const fast = stack.pulumi(["preview"]);
            assert.equal(fast.code, 0, `transpile-only preview failed:\n${fast.stdout}${fast.stderr}`);
            const checked = runPulumi(["preview", "--non-interactive"], { cwd: stack.dir, env: { ...stack.env, PULUMI_NODEJS_TRANSPILE_ONLY: "false" } });
            assert.notEqual(checked.code, 0, "the type check did not run");
            assert.match(checked.stdout + checked.stderr, /TS2322/);
        } finally {
            stack.cleanup();
        }
    });

    it("the project's tsconfig transpiles with swc, checking no types, whoever runs pulumi (npm run build checks them)", () => {
        const project = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "tsconfig.json"), "utf8")) as Record<string, unknown>;
        assert.deepEqual(project["ts-node"], { swc: true });
        const stack = makeTempStack({
            files: {
                "Pulumi.yaml": "name: swc-test\nruntime: nodejs\nmain: index.ts\n",
                "package.json": JSON.stringify({ name: "swc-test", private: true, main: "index.ts" }),
                "tsconfig.json": JSON.stringify({ ...project, include: ["index.ts"] }),
                "index.ts": 'const port: number = "22";\nexport const shown = String(port);\n',
            },
        });
        try {
            // No PULUMI_NODEJS_TRANSPILE_ONLY at all: the setting alone decides.
            const env = { ...stack.env, PULUMI_NODEJS_TRANSPILE_ONLY: "" };
            const fast = runPulumi(["preview", "--non-interactive"], { cwd: stack.dir, env });
            assert.equal(fast.code, 0, `swc preview failed:\n${fast.stdout}${fast.stderr}`);
            // ts-node refuses swc with the check asked for: an operator learns it at once, nothing half runs.
            const checked = runPulumi(["preview", "--non-interactive"], { cwd: stack.dir, env: { ...env, PULUMI_NODEJS_TRANSPILE_ONLY: "false" } });
            assert.notEqual(checked.code, 0);
            assert.match(checked.stdout + checked.stderr, /Cannot enable 'swc' option with 'transpileOnly: false'/);
        } finally {
            stack.cleanup();
        }
    });

    it("a user's login keeps its backend when the project's home is used", () => {
        const user = fs.mkdtempSync(path.join(os.tmpdir(), "st2-user-login-"));
        try {
            fs.mkdirSync(path.join(user, ".pulumi"));
            const creds = { current: "file:///srv/their-state", accessTokens: { "file:///srv/their-state": "" } };
            fs.writeFileSync(path.join(user, ".pulumi", "credentials.json"), JSON.stringify(creds));
            const env = engineEnv(userEnv(user));
            assert.equal(env.PULUMI_HOME, PROJECT_HOME);
            assert.equal(env.ST2_COMMAND_PROVIDER, "project");
            assert.equal(env.PULUMI_BACKEND_URL, "file:///srv/their-state");
            assert.equal(env.PULUMI_CONFIG_PASSPHRASE_FILE, undefined, "the project's passphrase must not apply to the user's backend");

            const cloud = { current: "https://api.example.test", accessTokens: { "https://api.example.test": "pul-token-for-test" } };
            fs.writeFileSync(path.join(user, ".pulumi", "credentials.json"), JSON.stringify(cloud));
            const cloudEnv = engineEnv(userEnv(user));
            assert.equal(cloudEnv.PULUMI_BACKEND_URL, "https://api.example.test");
            assert.equal(cloudEnv.PULUMI_ACCESS_TOKEN, "pul-token-for-test");
            assert.deepEqual(fs.readdirSync(path.join(user, ".pulumi")), ["credentials.json"]);
        } finally {
            fs.rmSync(user, { recursive: true, force: true });
        }
    });

    it("a real provider in the user's plugin cache is used with the user's home as it is, and nothing is registered", () => {
        const user = fs.mkdtempSync(path.join(os.tmpdir(), "st2-user-real-"));
        try {
            const dir = path.join(user, ".pulumi", "plugins", `resource-command-v${COMMAND_VERSION}`);
            fs.mkdirSync(dir, { recursive: true });
            // Stands for Pulumi's release: any executable without the project's marker.
            fs.writeFileSync(path.join(dir, "pulumi-resource-command"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
            const before = fs.readdirSync(dir);
            const env = engineEnv(userEnv(user));
            assert.equal(env.ST2_COMMAND_PROVIDER, "real");
            assert.equal(env.PULUMI_HOME, undefined);
            const r = run("bash", [path.join(PROJECT_ROOT, "scripts", "toolchain.sh")], userEnv(user));
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stderr, /using the real pulumi-resource-command/);
            assert.deepEqual(fs.readdirSync(dir), before);
            assert.deepEqual(filesWithMarker(path.join(user, ".pulumi")), []);
        } finally {
            fs.rmSync(user, { recursive: true, force: true });
        }
    });
});
