// Real `pulumi up`s with the project's toolchain (scripts/toolchain.sh) of @pulumi/command
// remote.Commands against a throwaway sshd on 127.0.0.1 (own host key, one authorized key, random
// port), the way the project uses them: a command runs once; a second `up` runs nothing; a change
// of `triggers` replaces it and runs it again; a failing command fails the `up` with its exit status
// and stderr, leaves no state, and runs on the next `up` once its cause is gone; output of a command
// with logging "none" never reaches the engine's output. Fails (never skips) when the engine or
// sshd cannot be provided.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

import { ensureToolchain, makeTempStack, PROJECT_ROOT, runPulumi, type PulumiResult } from "../../lab/support/engine";

const SSHD = "/usr/sbin/sshd";

function linesOf(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : [];
}

function show(what: string, r: PulumiResult): string {
  return `${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function waitForPort(port: number, sshd: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (sshd.exitCode !== null || Date.now() > deadline) {
      throw new Error(`sshd did not listen on 127.0.0.1:${port} (exit ${String(sshd.exitCode)}):\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${String(r.status)}): ${r.stderr}`);
}

interface Sshd {
  port: number;
  privateKey: string;
  stop(): void;
}

/** A throwaway sshd as root on 127.0.0.1: own host key, one authorized key, files in `dir`. */
async function startSshd(dir: string): Promise<Sshd> {
  assert.ok(
    fs.existsSync(SSHD),
    `${SSHD} is missing: install openssh-server (apt-get install openssh-server) to run this test`,
  );
  assert.equal(process.getuid?.(), 0, "the throwaway sshd runs as root (its privilege separation needs it)");
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation folder
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "st2-test-host", "-f", path.join(dir, "host_key")]);
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "st2-test-client", "-f", path.join(dir, "client_key")]);
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
  const port = await freePort();
  const config = path.join(dir, "sshd_config");
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${path.join(dir, "host_key")}`,
      `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      "UsePAM no",
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  let log = "";
  const sshd = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  sshd.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const stop = (): void => {
    if (sshd.exitCode === null && sshd.signalCode === null) sshd.kill("SIGTERM");
  };
  try {
    await waitForPort(port, sshd, () => log);
  } catch (e) {
    stop();
    throw e;
  }
  return { port, privateKey: fs.readFileSync(path.join(dir, "client_key"), "utf8"), stop };
}

// Text only the `quiet` command prints (logging "none"): it must never reach the engine's output.
const QUIET_OUT = "QUIET-STDOUT-7f3a";
const QUIET_ERR = "QUIET-STDERR-7f3a";

function program(remote: string): string {
  const q = (s: string): string => `'${s}'`;
  return [
    'import * as pulumi from "@pulumi/pulumi";',
    'import * as command from "@pulumi/command";',
    "",
    "const cfg = new pulumi.Config();",
    "const connection = {",
    '  host: "127.0.0.1",',
    '  port: cfg.requireNumber("port"),',
    '  user: "root",',
    '  privateKey: cfg.requireSecret("sshKey"),',
    "  dialErrorLimit: 2,",
    "  perDialTimeout: 5,",
    "};",
    "",
    "// Keyed like the project's steps: triggers replace, addPreviousOutputInEnv off.",
    'const step = new command.remote.Command("step", {',
    "  connection,",
    `  create: ${JSON.stringify(`echo run >> ${q(`${remote}/step-count`)}; echo step-output-visible`)},`,
    '  triggers: [cfg.require("trigger")],',
    "  addPreviousOutputInEnv: false,",
    "});",
    "",
    'new command.remote.Command("quiet", {',
    "  connection,",
    `  create: ${JSON.stringify(`echo ${QUIET_OUT}; echo ${QUIET_ERR} >&2`)},`,
    '  logging: "none",',
    "});",
    "",
    'if (cfg.getBoolean("withGuarded")) {',
    '  new command.remote.Command("guarded", {',
    "    connection,",
    `    create: ${JSON.stringify(
      `if [ -e ${q(`${remote}/blocker`)} ]; then echo "blocked by the blocker file" >&2; exit 7; fi\n` +
        `echo run >> ${q(`${remote}/guarded-count`)}`,
    )},`,
    "  }, { dependsOn: [step] });",
    "}",
    "",
    "export const stepOutput = step.stdout;",
    "",
  ].join("\n");
}

interface StateResource {
  urn: string;
  type: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  additionalSecretOutputs?: string[];
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The state the real pulumi-command 1.2.1 wrote for this program (`pulumi stack export`). */
function recordedRealState(): StateResource[] {
  const base = process.env.ST2_REFERENCE_DIR ?? path.join(PROJECT_ROOT, "..", "shared", "reference");
  const file = path.join(base, "real-command-provider", "state-after-create.json");
  assert.ok(
    fs.existsSync(file),
    `${file} is missing: the recordings of the real command provider are needed (set ST2_REFERENCE_DIR to the folder holding real-command-provider/)`,
  );
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { deployment: { resources: StateResource[] } }).deployment.resources;
}

/** A property's shape: the secret marker kept, anything else reduced to its JSON type. */
function shape(v: unknown): unknown {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG] !== undefined) return { secret: o[SECRET_SIG], ciphertext: typeof o.ciphertext };
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, shape(o[k])]));
  }
  return Array.isArray(v) ? "array" : typeof v;
}

/**
 * The state our provider wrote for a step keyed like the project's (connection, create, triggers,
 * addPreviousOutputInEnv) has the shape of the real one's for the project's steps: the same input
 * and output properties (no defaults written in), the connection a secret in both.
 */
function assertRealStateShape(ours: StateResource | undefined): void {
  assert.ok(ours, "no state for the step");
  const real = recordedRealState().find((r) => r.type === "command:remote:Command");
  assert.ok(real, "the recorded state holds no command:remote:Command");
  assert.deepEqual(shape(ours.inputs), shape(real.inputs), "inputs: ours vs the real provider's");
  assert.deepEqual(shape(ours.outputs), shape(real.outputs), "outputs: ours vs the real provider's");
  assert.deepEqual(ours.additionalSecretOutputs, real.additionalSecretOutputs);
}

test("remote.Command over SSH: runs once, no-op second up, triggers replace, failures leave no state, logging none", { timeout: 30 * 60_000 }, async (t) => {
  ensureToolchain(); // a cold toolchain build takes minutes; a failure fails the test with the reason

  const root = fs.mkdtempSync(path.join(os.tmpdir(), "st2-remote-command-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const sshdDir = path.join(root, "sshd");
  const remote = path.join(root, "remote"); // the "host's" files, written through SSH
  fs.mkdirSync(sshdDir);
  fs.mkdirSync(remote);
  const sshd = await startSshd(sshdDir);
  t.after(() => sshd.stop());

  const stack = makeTempStack({
    files: {
      "Pulumi.yaml": "name: remote-command-test\nruntime: nodejs\nmain: index.ts\n",
      "package.json": JSON.stringify({ name: "remote-command-test", private: true, main: "index.ts" }),
      // noCheck: @pulumi/pulumi's runner then only transpiles (ts-node transpileOnly), 1-2 s per
      // operation instead of about 5; this test is about the engine and the provider, not typing.
      "tsconfig.json": JSON.stringify({
        compilerOptions: {
          strict: true,
          target: "ES2022",
          module: "commonjs",
          moduleResolution: "node",
          esModuleInterop: true,
          noCheck: true,
        },
        files: ["index.ts"],
      }),
      "index.ts": program(remote),
    },
  });
  t.after(() => stack.cleanup());

  const engineOutput: string[] = [];
  const pulumi = (args: string[]): PulumiResult => {
    const r = stack.pulumi(args);
    engineOutput.push(r.stdout, r.stderr);
    return r;
  };
  const ok = (args: string[]): PulumiResult => {
    const r = pulumi(args);
    assert.equal(r.code, 0, show(`pulumi ${args.join(" ")}`, r));
    return r;
  };
  // The state (not engine output: it holds the quiet command's stdout, as it should).
  const state = (): StateResource[] => {
    const r = stack.pulumi(["stack", "export"]);
    assert.equal(r.code, 0, show("pulumi stack export", r));
    return (JSON.parse(r.stdout) as { deployment: { resources?: StateResource[] } }).deployment.resources ?? [];
  };
  const stepCount = path.join(remote, "step-count");
  const guardedCount = path.join(remote, "guarded-count");

  ok(["config", "set", "port", String(sshd.port)]);
  ok(["config", "set", "trigger", "a"]);
  // The key starts with "-----": it goes after "--", so not through stack.pulumi (which appends flags).
  const setKey = runPulumi(["config", "set", "--non-interactive", "--secret", "sshKey", "--", sshd.privateKey], {
    cwd: stack.dir,
    env: stack.env,
  });
  assert.equal(setKey.code, 0, show("pulumi config set --secret sshKey", setKey));

  // A preview runs nothing.
  ok(["preview"]);
  assert.deepEqual(linesOf(stepCount), [], "preview ran the command");

  // First up: each command runs once; the logged command's output is streamed to the engine.
  const first = ok(["up", "--yes"]);
  assert.deepEqual(linesOf(stepCount), ["run"], "the command ran exactly once");
  assert.match(first.stdout, /step-output-visible/, "a command's output (logging default) appears in the engine output");
  assert.equal(JSON.parse(ok(["stack", "output", "--json"]).stdout).stepOutput, "step-output-visible");
  const quiet = state().find((r) => r.type === "command:remote:Command" && r.urn.endsWith("::quiet"));
  assert.equal(quiet?.outputs?.stdout, QUIET_OUT, "logging none still records stdout in the state");
  assert.equal(quiet?.outputs?.stderr, QUIET_ERR, "logging none still records stderr in the state");
  assert.doesNotMatch(JSON.stringify(state()), /PRIVATE KEY/, "the connection (private key) is secret in the state");
  assertRealStateShape(state().find((r) => r.type === "command:remote:Command" && r.urn.endsWith("::step")));

  // Second up: nothing to do, nothing runs.
  ok(["preview", "--expect-no-changes"]);
  ok(["up", "--yes", "--expect-no-changes"]);
  assert.deepEqual(linesOf(stepCount), ["run"], "the second up ran the command again");

  // A triggers change replaces the command: it runs again.
  ok(["config", "set", "trigger", "b"]);
  const plan = JSON.parse(ok(["preview", "--json"]).stdout) as {
    steps: { op: string; urn: string; detailedDiff?: Record<string, { kind: string }> }[];
  };
  const stepPlan = plan.steps.find((s) => s.urn.endsWith("::step"));
  assert.equal(stepPlan?.op, "replace", `a triggers change must replace: ${JSON.stringify(plan.steps)}`);
  // As with the real pulumi-command 1.2.1 (trigger-change-preview.json of the recordings): the
  // provider reports an update of the changed element; the SDK's replaceOnChanges (triggers[*])
  // makes the engine show it as update-replace and replace the resource.
  assert.deepEqual(stepPlan?.detailedDiff, { "triggers[0]": { kind: "update-replace", inputDiff: false } });
  assert.deepEqual(linesOf(stepCount), ["run"], "preview --json ran the command");
  ok(["up", "--yes"]);
  assert.deepEqual(linesOf(stepCount), ["run", "run"], "the replacement ran the command once more");
  ok(["preview", "--expect-no-changes"]);

  // A failing command fails the up with its exit status and stderr, and leaves no state.
  fs.writeFileSync(path.join(remote, "blocker"), "");
  ok(["config", "set", "withGuarded", "true"]);
  const failed = pulumi(["up", "--yes"]);
  assert.notEqual(failed.code, 0, show("up with a failing command", failed));
  const failure = failed.stdout + failed.stderr;
  assert.match(failure, /Process exited with status 7/, show("the failure names the exit status", failed));
  assert.match(failure, /blocked by the blocker file/, show("the failure includes stderr", failed));
  assert.equal(state().some((r) => r.urn.endsWith("::guarded")), false, "a failed create left state behind");
  assert.deepEqual(linesOf(guardedCount), []);

  // Cause removed: the next up runs it (and nothing else).
  fs.rmSync(path.join(remote, "blocker"));
  ok(["up", "--yes"]);
  assert.deepEqual(linesOf(guardedCount), ["run"], "the next up ran the formerly failing command");
  assert.deepEqual(linesOf(stepCount), ["run", "run"], "the other commands did not run again");
  ok(["preview", "--expect-no-changes"]);

  // Nothing of the logging-none command's output ever reached the engine's output.
  const all = engineOutput.join("\n");
  assert.doesNotMatch(all, new RegExp(`${QUIET_OUT}|${QUIET_ERR}`), "output of a logging none command reached the engine output");
  assert.doesNotMatch(all, /downloading/i, "no plugin was downloaded");
});
