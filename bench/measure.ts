/**
 * Measuring tools of the bench: an asynchronous `pulumi` run that stamps every engine event as it
 * lands in the event log, a process-tree memory sampler, and the before/after inventory check that
 * proves an upgrade lost nothing. Kept apart from run.ts, which only orders the phases.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { inventoryAsync as inventory, lossesSince, type Inventory } from "../lab/support/inventory";
import { sshRunAsync, type LabHost } from "../lab/support/lab";
import { st2ctlDown } from "../components/scripts/library";
import { packageManager } from "../components/scripts/packageManagers";
import { q } from "../components/scripts/shell";

export { inventory };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One engine event of `--event-log`, with the engine's own timestamp and when the bench saw it. */
export interface EngineEvent {
    kind: string;
    /** Engine timestamp (Unix seconds, whole seconds: the engine's resolution). */
    engineTime: number;
    /** When the line appeared in the event log, read every 100 ms (Unix seconds, ms). */
    seenTime: number;
    op?: string;
    type?: string;
    urn?: string;
}

export interface TimedRun {
    code: number;
    stdout: string;
    stderr: string;
    /** Wall time of the process, seconds. */
    wallSeconds: number;
    /** Stopped by `timeoutSeconds`. */
    timedOut: boolean;
    startedAt: number;
    events: EngineEvent[];
}

export interface ProcessPeak {
    pid: number;
    command: string;
    /** Peak resident set size (VmHWM), KiB. */
    peakKiB: number;
    /** CPU time (user + system) at the last sample, seconds. */
    cpuSeconds: number;
}

export interface TimedOptions {
    cwd: string;
    env: NodeJS.ProcessEnv;
    /** Write the engine's event log here and stamp its events (needs PULUMI_DEBUG_COMMANDS). */
    eventLog?: string;
    /** Sample VmHWM of every process of the tree every 100 ms; filled in place. */
    peaks?: Map<number, ProcessPeak>;
    /** Stop the process tree after this many seconds (TERM to the root's descendants, KILL to all 10 s later). */
    timeoutSeconds?: number;
}

/** Runs a command without blocking the event loop; stamps event-log lines and samples memory meanwhile. */
export function runTimed(file: string, args: readonly string[], options: TimedOptions): Promise<TimedRun> {
    return new Promise((resolve, reject) => {
        const startedAt = Date.now() / 1000;
        const child = spawn(file, [...args], { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const events: EngineEvent[] = [];
        let offset = 0;
        let partial = "";
        const readLog = (): void => {
            if (!options.eventLog || !fs.existsSync(options.eventLog)) return;
            const size = fs.statSync(options.eventLog).size;
            if (size <= offset) return;
            const fd = fs.openSync(options.eventLog, "r");
            const buf = Buffer.alloc(size - offset);
            fs.readSync(fd, buf, 0, buf.length, offset);
            fs.closeSync(fd);
            offset = size;
            const seen = Date.now() / 1000;
            const lines = (partial + buf.toString("utf8")).split("\n");
            partial = lines.pop() ?? "";
            for (const line of lines) if (line.trim() !== "") events.push(parseEvent(line, seen));
        };
        const sample = (): void => {
            if (options.peaks && child.pid !== undefined) samplePeaks(child.pid, options.peaks);
        };
        const timer = setInterval(() => {
            readLog();
            sample();
        }, 100);
        let timedOut = false;
        const killer = options.timeoutSeconds
            ? setTimeout(() => {
                  timedOut = true;
                  if (child.pid === undefined) return;
                  // The root's children first (deepest first), so that a wrapper such as GNU time
                  // still reports on them; everything, the root included, 10 s later.
                  const tree = descendants(child.pid).reverse();
                  signal(tree.slice(0, -1), "SIGTERM");
                  setTimeout(() => signal(tree, "SIGKILL"), 10_000).unref();
              }, options.timeoutSeconds * 1000)
            : undefined;
        child.on("error", (err) => {
            clearInterval(timer);
            clearTimeout(killer);
            reject(err);
        });
        child.on("close", (code) => {
            clearInterval(timer);
            clearTimeout(killer);
            readLog();
            resolve({ code: code ?? 128, stdout, stderr, wallSeconds: Date.now() / 1000 - startedAt, timedOut, startedAt, events });
        });
    });
}

function parseEvent(line: string, seen: number): EngineEvent {
    const e = JSON.parse(line) as Record<string, unknown> & { timestamp: number };
    const kind = Object.keys(e).find((k) => k.endsWith("Event")) ?? "unknown";
    const meta = (e[kind] as { metadata?: { op: string; type: string; urn: string } } | undefined)?.metadata;
    return { kind, engineTime: e.timestamp, seenTime: seen, op: meta?.op, type: meta?.type, urn: meta?.urn };
}

/** Sends a signal to each of these processes (all started by the bench); gone ones are skipped. */
function signal(pids: readonly number[], sig: NodeJS.Signals): void {
    for (const pid of pids) {
        try {
            process.kill(pid, sig);
        } catch {
            // already gone
        }
    }
}

/** Every process below `root` (inclusive), from /proc. */
function descendants(root: number): number[] {
    const children = new Map<number, number[]>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            const list = children.get(ppid) ?? [];
            list.push(Number(entry));
            children.set(ppid, list);
        } catch {
            // the process ended meanwhile
        }
    }
    const out: number[] = [];
    const queue = [root];
    while (queue.length > 0) {
        const pid = queue.shift()!;
        out.push(pid);
        queue.push(...(children.get(pid) ?? []));
    }
    return out;
}

/** Linux's USER_HZ, the unit of /proc/PID/stat times (100 on every architecture Node runs on here). */
const CLOCK_TICKS = 100;

function samplePeaks(root: number, peaks: Map<number, ProcessPeak>): void {
    for (const pid of descendants(root)) {
        try {
            const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
            const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
            const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
            const known = peaks.get(pid);
            const command = known?.command ?? fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s !== "").slice(0, 3).join(" ");
            peaks.set(pid, { pid, command, peakKiB: Math.max(hwm, known?.peakKiB ?? 0), cpuSeconds });
        } catch {
            // gone
        }
    }
}

/** Start (pre-event) and end (outputs event) of each command resource, by resource name. */
export interface StepTiming {
    name: string;
    engineStart: number;
    engineEnd: number;
    seenStart: number;
    seenEnd: number;
}

export function stepTimings(events: readonly EngineEvent[]): StepTiming[] {
    const byName = new Map<string, Partial<StepTiming>>();
    for (const e of events) {
        if (e.type !== "command:remote:Command" || !e.urn) continue;
        const name = e.urn.split("::").pop()!;
        const t = byName.get(name) ?? { name };
        if (e.kind === "resourcePreEvent") {
            t.engineStart = e.engineTime;
            t.seenStart = e.seenTime;
        } else if (e.kind === "resOutputsEvent") {
            t.engineEnd = e.engineTime;
            t.seenEnd = e.seenTime;
        }
        byName.set(name, t);
    }
    return [...byName.values()].filter((t): t is StepTiming => t.engineStart !== undefined && t.engineEnd !== undefined);
}

/** A host's outage in our run: from its `stop` step's start to its `start` step's end (a restore's: `restore-stop`, `restore-start`). */
export function oursOutage(timings: readonly StepTiming[], host: string, from = "stop", to = "start"): { engine: number; seen: number } {
    const stop = timings.find((t) => t.name === `st2-${host}-${from}`);
    const start = timings.find((t) => t.name === `st2-${host}-${to}`);
    if (!stop || !start) throw new Error(`no ${from}/${to} events for ${host} in the event log`);
    return { engine: start.engineEnd - stop.engineStart, seen: start.seenEnd - stop.seenStart };
}

/** Problems found comparing a host after its upgrade with before: none means nothing was lost. */
export async function lostSince(host: LabHost, before: Inventory, target: string): Promise<string[]> {
    const after = await inventory(host);
    const problems = lossesSince(before, after).map((p) => `${host.name}: ${p}`);
    if (after.st2_version !== target) problems.push(`${host.name}: st2 is ${after.st2_version}, expected ${target}`);
    // Audit logs only grow: each must still begin with exactly the bytes it had.
    const files = Object.entries(before.audit_logs);
    if (files.length > 0) {
        const cmd = files.map(([f, { size }]) => `sudo head -c ${size} /var/log/st2/${f} | sha256sum | cut -d' ' -f1`).join("; ");
        const r = await sshRunAsync(host, cmd);
        const sums = r.stdout.trim().split("\n");
        files.forEach(([f, { sha256 }], i) => {
            if (sums[i] !== sha256) problems.push(`${host.name}: /var/log/st2/${f} lost its first bytes`);
        });
    }
    const cli = await sshRunAsync(host, "st2 --version 2>&1 | head -n 1");
    if (!cli.stdout.startsWith(`st2 ${target}`)) problems.push(`${host.name}: st2 --version says '${cli.stdout.trim()}'`);
    // st2ctl lists st2chatops (and Mistral before 3.3) whether installed or not: judge as verify does.
    const down = await sshRunAsync(host, `sudo bash -c ${q(`${packageManager("apt").query}\n${st2ctlDown}\nst2ctl status 2>&1 | st2ctl_down`)}`);
    if (down.stdout.trim() !== "") problems.push(`${host.name}: services down: ${down.stdout.trim().split("\n").join(", ")}`);
    return problems;
}

/** The first line of `st2 --version` on each host. */
export async function versions(hosts: readonly LabHost[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    await Promise.all(hosts.map(async (h) => (out[h.name] = (await sshRunAsync(h, "st2 --version 2>&1 | head -n 1")).stdout.trim())));
    return out;
}

export function median(xs: readonly number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
