// Test helpers for end-to-end tests against the lab's StackStorm hosts (lab/README.md): bring hosts
// up and down with lab/bin/up.sh and down.sh, run commands on them over SSH, inject faults, and
// count the SSH logins a host's sshd accepted (a second `pulumi up` that changes nothing must add
// none). The lab needs root (network namespaces, mounts), as the tests run in CI.
import { spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runSsh, sshArgs as clientArgs, sshEnv } from "../../components/ssh-client";

/** One lab host, as lab/bin/up.sh records it in $LAB_DIR/hosts.json. */
export interface LabHost {
  name: string;
  /** IPv4 address on the lab bridge (10.200.0.11, .12, …). */
  address: string;
  port: number;
  /** st2admin: passwordless sudo (unless the sudo-password fault is on). */
  user: string;
  /** The lab's client key (ed25519, no passphrase). */
  privateKeyPath: string;
  /** StackStorm double version installed by up (e.g. "2.0.1"), or null for a bare host. */
  version: string | null;
  /** The OS the host claims in /etc/os-release (a key of lab/lib/os.tsv, e.g. "ubuntu:18.04"), or null: Debian 12. */
  os: string | null;
  netns: string;
  /** The host's root file system, seen from the machine (overlayfs). */
  root: string;
  /** sshd's own log (sshd -D -e): one "Accepted publickey for st2admin" line per login. */
  sshdLog: string;
  startSeconds: number | null;
}

export interface LabUpOptions {
  /** Number of hosts, named `${prefix}1` … (default 2). */
  hosts?: number;
  /** Install the StackStorm double at this version and seed it (lab/double/seed.sh). */
  version?: string;
  /**
   * The OS new hosts claim in /etc/os-release (lab/lib/os.tsv, e.g. "ubuntu:18.04"; "debian": the
   * image's own). Default with `version`: one that release supported (lab/double/os-defaults.tsv).
   * "rocky:8": a RHEL-family host (the el image: rpm, dnf as `yum`), the double installed as rpms.
   */
  os?: string;
  /** Host name prefix (default "st2h"); give each test file its own to keep hosts apart. */
  prefix?: string;
  /** Also install the era's enterprise package (st2enterprise / bwc-enterprise). */
  enterprise?: boolean;
  /** Passed to seed.sh as SEED_KEYS, SEED_USER, SEED_PASSWORD, SEED_EDIT_CONF. */
  seed?: { keys?: number; user?: string; password?: string; editConf?: boolean };
}

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SshOptions {
  /** Written to the command's standard input. */
  input?: string;
  /** Kill ssh after this long (default 10 minutes); the result's code is then 124. */
  timeoutMs?: number;
  /** Another private key (e.g. to test a wrong key). */
  privateKeyPath?: string;
}

export type FaultKind = "unreachable" | "drop-ssh" | "disk-full" | "sudo-password";

/** The project root: the nearest folder above this file holding lab/bin/up.sh. */
export const LAB_PROJECT_ROOT: string = findRoot(__dirname);
/** The lab's working folder (LAB_DIR, default <project>/.lab). */
export const LAB_DIR: string = process.env.LAB_DIR ?? path.join(LAB_PROJECT_ROOT, ".lab");

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "lab", "bin", "up.sh"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no lab/bin/up.sh above ${start}`);
  }
}

const MAX_OUTPUT = 64 * 1024 * 1024;

function labScript(script: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const run = spawnSync("bash", [path.join(LAB_PROJECT_ROOT, "lab", "bin", script), ...args], {
    cwd: LAB_PROJECT_ROOT,
    env: { ...process.env, LAB_DIR, ...env },
    encoding: "utf8",
    maxBuffer: MAX_OUTPUT,
  });
  if (run.error) throw run.error;
  if (run.status !== 0) {
    throw new Error(`lab/bin/${script} ${args.join(" ")} exited ${String(run.status ?? run.signal)}:\n${run.stderr}`);
  }
  return run;
}

/** Every host that is up, from $LAB_DIR/hosts.json. */
export function labHosts(): LabHost[] {
  const file = path.join(LAB_DIR, "hosts.json");
  if (!fs.existsSync(file)) return [];
  return JSON.parse(fs.readFileSync(file, "utf8")) as LabHost[];
}

/**
 * Brings up `${prefix}1..N` (idempotent: hosts already up are kept as they are) and returns their
 * records in name order. The first call on a machine builds the image (1–4 min); later hosts start
 * in well under a second, installing and seeding the double takes about 15 s more (in parallel).
 */
export function labUp(options: LabUpOptions = {}): LabHost[] {
  const hosts = options.hosts ?? 2;
  const prefix = options.prefix ?? "st2h";
  const args = ["--hosts", String(hosts), "--name-prefix", prefix];
  if (options.version) args.push("--version", options.version);
  if (options.os) args.push("--os", options.os);
  if (options.enterprise) args.push("--enterprise");
  const env: NodeJS.ProcessEnv = {};
  const seed = options.seed ?? {};
  if (seed.keys !== undefined) env.SEED_KEYS = String(seed.keys);
  if (seed.user !== undefined) env.SEED_USER = seed.user;
  if (seed.password !== undefined) env.SEED_PASSWORD = seed.password;
  if (seed.editConf !== undefined) env.SEED_EDIT_CONF = seed.editConf ? "1" : "0";
  labScript("up.sh", args, env);
  const wanted = new Set(Array.from({ length: hosts }, (_, i) => `${prefix}${i + 1}`));
  const found = labHosts()
    .filter((h) => wanted.has(h.name))
    .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  if (found.length !== hosts) {
    throw new Error(`lab/bin/up.sh reported success but hosts.json has ${found.length} of ${hosts} hosts`);
  }
  return found;
}

/**
 * Removes lab hosts: with a prefix or names only those (bridge and repository server stay),
 * without, the whole lab (the image, keys and built repository are kept).
 */
export function labDown(options: { prefix?: string; names?: string[] } = {}): void {
  const args: string[] = [];
  if (options.prefix) args.push("--name-prefix", options.prefix);
  if (options.names) args.push(...options.names);
  labScript("down.sh", args);
}

/** ssh arguments for a host, as lab/bin/ssh.sh uses them (no ssh_config, so no LANG forwarded). */
export function sshArgs(host: LabHost, privateKeyPath: string = host.privateKeyPath): string[] {
  return clientArgs(host, privateKeyPath, 10);
}

/** Runs `cmd` (a shell command line) on the host as st2admin. Exit 255 means ssh itself failed. */
export function sshRun(host: LabHost, cmd: string, options: SshOptions = {}): SshResult {
  const run = spawnSync("ssh", [...sshArgs(host, options.privateKeyPath), cmd], {
    env: sshEnv(),
    input: options.input ?? "",
    encoding: "utf8",
    maxBuffer: MAX_OUTPUT,
    timeout: options.timeoutMs ?? 600_000,
    killSignal: "SIGKILL",
  });
  if (run.error && (run.error as NodeJS.ErrnoException).code !== "ETIMEDOUT") throw run.error;
  const timedOut = run.error !== undefined || run.signal !== null;
  return { code: timedOut ? 124 : (run.status ?? 255), stdout: run.stdout ?? "", stderr: run.stderr ?? "" };
}

/** sshRun, without blocking the event loop (for commands that run while something else happens). */
export async function sshRunAsync(host: LabHost, cmd: string, options: SshOptions = {}): Promise<SshResult> {
  const r = await runSsh([...sshArgs(host, options.privateKeyPath), cmd], options.input ?? "", options.timeoutMs ?? 600_000);
  return { code: r.timedOut ? 124 : r.code, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Turns a fault on or off (lab/bin/fault.sh):
 * - unreachable: the host's link goes down (connections time out);
 * - drop-ssh: kills the host's SSH session processes now (every open connection drops; `on` only);
 * - disk-full: /var/cache/apt/archives is a full 64 KiB tmpfs (package downloads fail);
 * - sudo-password: sudo asks st2admin for a password (`sudo -n` fails).
 */
export function fault(host: LabHost, kind: FaultKind, on: boolean): void {
  labScript("fault.sh", [host.name, on ? "on" : "off", kind]);
}

/** Runs `work` with the fault on, and turns it off after, whatever `work` did. */
export function withFault<T>(host: LabHost, kind: FaultKind, work: () => T): T {
  fault(host, kind, true);
  try {
    return work();
  } finally {
    fault(host, kind, false);
  }
}

/**
 * Drops the host's SSH connections as soon as a process whose command line contains `match` runs on
 * it (e.g. "apt-get install"): start it before the step under test, await it after. Rejects when no
 * such process appeared within `waitSeconds` (default 120).
 */
export function dropSshWhen(host: LabHost, match: string, waitSeconds = 120): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "bash",
      [path.join(LAB_PROJECT_ROOT, "lab", "bin", "fault.sh"), host.name, "on", "drop-ssh", match],
      { cwd: LAB_PROJECT_ROOT, env: { ...process.env, LAB_DIR, LAB_FAULT_WAIT: String(waitSeconds) }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`fault.sh drop-ssh '${match}' on ${host.name} exited ${String(code)}:\n${stderr}`)),
    );
  });
}

/** Logins (accepted public keys) the host's sshd has logged since the host started. */
export function sshdSessions(host: LabHost): number {
  let log: string;
  try {
    log = fs.readFileSync(host.sshdLog, "utf8");
  } catch {
    return 0;
  }
  return log.split("\n").filter((l) => l.startsWith("Accepted publickey for ")).length;
}

/**
 * Samples, every 0.2 s until `stop`, how many SSH connections each host holds open (established TCP
 * sessions on its port 22, seen in its network namespace), and reports the most seen per host. The
 * real pulumi-command keeps each step's connection open until `up` ends: this is what sshd carries.
 */
export function sshConnectionSampler(hosts: readonly LabHost[]): { stop: () => Map<string, number> } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "st2-ssh-sessions-")), "samples");
  const namespaces = hosts.map((h) => `'${h.netns}'`).join(" ");
  const script = [
    "while :; do",
    `  for ns in ${namespaces}; do`,
    `    printf '%s %s\\n' "$ns" "$(ip netns exec "$ns" ss -Htn state established '( sport = :22 )' | wc -l)"`,
    "  done",
    "  sleep 0.2",
    `done >> '${file}'`,
  ].join("\n");
  const child = spawn("bash", ["-c", script], { stdio: "ignore" });
  return {
    stop: () => {
      child.kill("SIGKILL");
      const most = new Map(hosts.map((h) => [h.name, 0]));
      const byNs = new Map(hosts.map((h) => [h.netns, h.name]));
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        const m = /^(\S+) (\d+)$/.exec(line);
        const name = m && byNs.get(m[1]);
        if (name) most.set(name, Math.max(most.get(name)!, Number(m[2])));
      }
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      return most;
    },
  };
}
