// Test helper for tests that run the real Pulumi engine (pulumi CLI + plugins from
// scripts/toolchain.sh) against throwaway stacks: a temp project folder with its own file backend,
// never the user's stacks or backend.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LAB_PROJECT_ROOT } from "./lab";

export interface PulumiResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Written to pulumi's standard input (`pulumi config set --secret KEY < file`). */
  input?: string;
}

export { LAB_PROJECT_ROOT as PROJECT_ROOT };

const MAX_OUTPUT = 256 * 1024 * 1024;
let toolchain: { bin: string } | undefined;
let toolchainError: Error | undefined;

/**
 * Provides the engine once per process and returns the folder holding `pulumi` and its plugins.
 * The Pulumi home is the one scripts/pulumi-env.sh chooses, as for `npm run pulumi`: the user's when
 * it holds a real command provider (then nothing is registered), else the project's
 * (.toolchain/home), where the toolchain registers the project's provider. Throws, with the
 * toolchain's own explanation, when the engine cannot be provided.
 */
export function ensureToolchain(): string {
  if (toolchain) return toolchain.bin;
  if (toolchainError) throw toolchainError;
  const run = spawnSync("bash", [path.join(LAB_PROJECT_ROOT, "scripts", "toolchain.sh")], {
    cwd: LAB_PROJECT_ROOT,
    env: process.env,
    encoding: "utf8",
    maxBuffer: MAX_OUTPUT,
  });
  const lines = (run.stdout ?? "").trim().split("\n");
  const bin = lines[lines.length - 1] ?? "";
  if (run.error || run.status !== 0 || !path.isAbsolute(bin)) {
    toolchainError = new Error(
      `the Pulumi toolchain could not be provided (scripts/toolchain.sh exited ${String(
        run.status ?? run.error,
      )}):\n${(run.stderr ?? "").trim()}`,
    );
    throw toolchainError;
  }
  toolchain = { bin };
  return bin;
}

/**
 * The engine's environment as scripts/pulumi-env.sh sets it (bin folder first on PATH, Pulumi home,
 * no update check, no plugin downloads, transpile-only, backend and passphrase unless given), over
 * this process's environment and `extra`. Give a PULUMI_BACKEND_URL in `extra` to keep off the project's
 * own .pulumi-state backend (makeTempStack does).
 */
export function pulumiEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const bin = ensureToolchain();
  const base: NodeJS.ProcessEnv = { ...process.env, ...extra };
  const run = spawnSync(
    "bash",
    ["-c", '. "$1/scripts/pulumi-env.sh" && st2_pulumi_env "$2" && env -0', "_", LAB_PROJECT_ROOT, bin],
    { cwd: LAB_PROJECT_ROOT, env: base, encoding: "utf8", maxBuffer: MAX_OUTPUT },
  );
  if (run.status !== 0) throw new Error(`scripts/pulumi-env.sh failed:\n${run.stderr}`);
  const env: NodeJS.ProcessEnv = {};
  for (const entry of run.stdout.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** Runs `pulumi ARGS` from the toolchain (never a `pulumi` found elsewhere). */
export function runPulumi(args: readonly string[], options: RunOptions): PulumiResult {
  const run = spawnSync(path.join(ensureToolchain(), "pulumi"), [...args], {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    encoding: "utf8",
    maxBuffer: MAX_OUTPUT,
  });
  if (run.error) throw run.error;
  return { code: run.status ?? 128, stdout: run.stdout, stderr: run.stderr };
}

export interface TempStack {
  /** The temp project folder (Pulumi.yaml, the program, node_modules linked to the project's). */
  dir: string;
  stack: string;
  env: NodeJS.ProcessEnv;
  /** `pulumi ARGS --non-interactive` in `dir` (the stack is selected there), `input` on its stdin. */
  pulumi(args: readonly string[], input?: string): PulumiResult;
  /** Removes the project folder and its backend. */
  cleanup(): void;
}

export interface TempStackOptions {
  /** Files of the project, relative paths to contents; must include Pulumi.yaml. */
  files: Record<string, string>;
  stack?: string;
}

/**
 * A throwaway stack: a temp folder with the given project files, node_modules linked to this
 * project's (so @pulumi/* resolve), its own file backend and passphrase, and the stack created.
 */
export function makeTempStack(options: TempStackOptions): TempStack {
  if (!("Pulumi.yaml" in options.files)) throw new Error("makeTempStack: files need a Pulumi.yaml");
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "st2-stack-"));
  const dir = path.join(root, "project");
  const backend = path.join(root, "backend");
  fs.mkdirSync(dir);
  fs.mkdirSync(backend);
  for (const [name, contents] of Object.entries(options.files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, contents);
  }
  fs.symlinkSync(path.join(LAB_PROJECT_ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");

  const stack = options.stack ?? "test";
  const env = pulumiEnv({
    PULUMI_BACKEND_URL: `file://${backend}`,
    PULUMI_CONFIG_PASSPHRASE: "throwaway-test-stack",
    PULUMI_CONFIG_PASSPHRASE_FILE: undefined, // a user's passphrase file must not apply here
  });
  const cleanup = (): void => fs.rmSync(root, { recursive: true, force: true });
  const pulumi = (args: readonly string[], input?: string): PulumiResult =>
    runPulumi([...args, "--non-interactive"], { cwd: dir, env, input });

  const init = runPulumi(["stack", "init", stack, "--non-interactive"], { cwd: dir, env });
  if (init.code !== 0) {
    cleanup();
    throw new Error(`pulumi stack init ${stack} failed (${init.code}):\n${init.stdout}${init.stderr}`);
  }
  return { dir, stack, env, pulumi, cleanup };
}
