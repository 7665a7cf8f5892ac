/**
 * `npm run bench`: the program's figures against their baselines, measured in one run on the same
 * lab, each as a ratio (bench/README.md explains method, parameters and results).
 *
 *   outage   one host 3.8.1 -> 3.9.0: services stopped -> running again; ours (engine events of
 *            `stop`'s start and `start`'s end) vs StackStorm's runbook (bench/baseline-runbook.sh,
 *            stamps around its stop/start). Target <= 0.6. Then the same host back to 3.8.1 from its
 *            backup (README, Undo): its restore outage, informational (the runbook has no undo).
 *   fleet    8 hosts, batches of 4: wall time of `pulumi up` vs the runbook host after host. <= 0.35.
 *   noop     a second `pulumi up` at the same target vs `pulumi up` of an empty program. <= 1.5.
 *   preview  `pulumi preview` at 10 hosts (fake addresses) vs `pulumi preview` of an empty program,
 *            medians of BENCH_NOOP_RUNS runs each. <= 2. Also 10, 100, 500 hosts once each: wall
 *            time, peak memory and their growth per host (linear or not; no target).
 *
 * Engine runs are an operator's (`npm run pulumi`): the program transpiled by swc without a type
 * check (tsconfig.json's ts-node setting; the build type-checks).
 *
 * Both sides download from the same apt repository: the lab's, with the target st2 package grown to
 * a real st2 3.x package's size (incompressible payload), served by bench/throttle-server.ts at a
 * set bandwidth. Lab hosts are the bench's own (prefixes bout, bfo, bfb) and are removed at the
 * end, on failure and on Ctrl-C. Writes bench/results.json; scratch and logs go to bench/out/.
 *
 * Environment: BENCH_PAYLOAD_MB (100), BENCH_RATE_MBPS (4, MiB/s per connection),
 * BENCH_AGGREGATE_MBPS (0 = no shared limit), BENCH_FLEET (8), BENCH_BATCH (4), BENCH_NOOP_RUNS (3),
 * BENCH_PREVIEW ("10,100,500"), BENCH_QUIET_LOAD / BENCH_QUIET_WAIT_S (wait for a quiet machine),
 * BENCH_ONLY (comma list of phases: preview,outage,fleet,noop; default all), BENCH_RESULTS (path).
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { HostFacts } from "../components/facts";
import { fakeFacts, useFactsFile } from "../lab/support/facts";
import { ensureToolchain, makeTempStack, PROJECT_ROOT, pulumiEnv, type TempStack } from "../lab/support/engine";
import { labDown, labHosts, labUp, sshdSessions, sshRun, type LabHost } from "../lab/support/lab";
import { labConfig, programStack, type ProgramStack } from "../lab/support/program";
import { inventory, lostSince, median, oursOutage, runTimed, sleep, stepTimings, type ProcessPeak, type StepTiming, type TimedRun } from "./measure";

// Ubuntu 20.04 (the lab's OS for the 3.8.1 double) takes 3.8 -> 3.9 in place; 3.2.0 -> 3.9.0, benched
// before the program read hosts' OS, is a path no distribution supports.
const FROM = "3.8.1";
const TARGET = "3.9.0";
const PACKAGE_FILE = `st2_${TARGET}-1_all.deb`;
const BENCH_DIR = path.join(PROJECT_ROOT, "bench");
const OUT = path.join(BENCH_DIR, "out");
const RUN = path.join(OUT, "run");
const PORT = 8091;
const PREFIXES = { outage: "bout", fleetOurs: "bfo", fleetBaseline: "bfb" } as const;
const TARGETS = { outageRatio: 0.6, fleetRatio: 0.35, noopRatio: 1.5, preview10Ratio: 2 } as const;
/** The diagnostic variant: ts-node type-checks the program on every engine run. */

const num = (name: string, fallback: number): number => {
    const v = process.env[name];
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0, got ${v}`);
    return n;
};
const MIB = 1024 * 1024;
const params = {
    upgradePath: `${FROM} -> ${TARGET}`,
    packageFile: PACKAGE_FILE,
    payloadBytes: Math.round(num("BENCH_PAYLOAD_MB", 100) * MIB),
    packageBytes: 0,
    rateBytesPerSecond: Math.round(num("BENCH_RATE_MBPS", 4) * MIB),
    rateMode: "per connection (each host's download paced on its own, like a stream from a remote mirror)",
    aggregateBytesPerSecond: Math.round(num("BENCH_AGGREGATE_MBPS", 0) * MIB),
    fleetHosts: num("BENCH_FLEET", 8),
    batchSize: num("BENCH_BATCH", 4),
    noopRuns: num("BENCH_NOOP_RUNS", 3),
    previewSizes: (process.env.BENCH_PREVIEW ?? "10,100,500").split(",").map(Number),
    previewTimeoutSeconds: num("BENCH_PREVIEW_TIMEOUT_S", 300),
    diagnostics: num("BENCH_DIAGNOSTICS", 1) !== 0,
    programTypeCheck: "",
};
const only = new Set((process.env.BENCH_ONLY ?? "preview,outage,fleet,noop").split(","));

const log = (msg: string): void => {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------------------------------------
// Cleanup: everything the bench starts is registered here and undone in `finally` and on signals.

const cleanup = {
    prefixes: new Set<string>(),
    stacks: new Set<TempStack>(),
    pids: new Map<number, string>(),
    done: false,
    run(): void {
        if (this.done) return;
        this.done = true;
        for (const s of this.stacks) {
            try {
                s.cleanup();
            } catch (e) {
                log(`cleanup: stack ${s.dir}: ${String(e)}`);
            }
        }
        for (const prefix of this.prefixes) {
            try {
                labDown({ prefix });
            } catch (e) {
                log(`cleanup: lab hosts ${prefix}*: ${String(e)}`);
            }
        }
        for (const [pid, what] of this.pids) {
            try {
                process.kill(-pid, "SIGTERM"); // its own process group (spawned detached)
            } catch {
                try {
                    process.kill(pid, "SIGTERM");
                } catch {
                    log(`cleanup: ${what} (pid ${pid}) already gone`);
                }
            }
        }
    },
};
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
        log(`${sig}: cleaning up`);
        cleanup.run();
        process.exit(130);
    });
}

function dropStack(s: TempStack): void {
    cleanup.stacks.delete(s);
    s.cleanup();
}

function upHosts(prefix: string, count: number): LabHost[] {
    cleanup.prefixes.add(prefix);
    const t = Date.now();
    const hosts = labUp({ hosts: count, version: FROM, prefix });
    log(`${count} lab host(s) ${prefix}1..${count} at ${FROM}, seeded, in ${round((Date.now() - t) / 1000, 1)} s`);
    return hosts;
}

function downHosts(prefix: string): void {
    labDown({ prefix });
    cleanup.prefixes.delete(prefix);
}

// ---------------------------------------------------------------------------------------------
// Machine load: a sampler process writes /proc/loadavg every 5 s; each phase gets its mean and max.

interface Phase {
    name: string;
    start: number;
    end: number;
    /** Lab hosts up at the start of the phase that are not the bench's (other people's tests). */
    otherLabHosts: string[];
    load1Mean?: number;
    load1Max?: number;
    /** Mean of the instantaneous count of runnable tasks (the bench's own included). */
    runnableMean?: number;
}
const phases: Phase[] = [];
const LOAD_LOG = path.join(RUN, "load.log");

function startLoadSampler(): void {
    fs.writeFileSync(LOAD_LOG, "");
    const fd = fs.openSync(LOAD_LOG, "a");
    const child = spawn("bash", ["-c", 'while :; do printf "%s %s\\n" "$(date +%s)" "$(cat /proc/loadavg)"; sleep 5; done'], {
        detached: true,
        stdio: ["ignore", fd, "ignore"],
    });
    child.unref();
    if (child.pid) cleanup.pids.set(child.pid, "load sampler");
}

function ours(name: string): boolean {
    return Object.values(PREFIXES).some((p) => new RegExp(`^${p}\\d+$`).test(name));
}

async function phase<T>(name: string, body: () => Promise<T> | T): Promise<T> {
    const p: Phase = { name, start: Date.now() / 1000, end: 0, otherLabHosts: labHosts().map((h) => h.name).filter((n) => !ours(n)) };
    log(`== ${name} (load ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}; other lab hosts: ${p.otherLabHosts.length})`);
    try {
        return await body();
    } finally {
        p.end = Date.now() / 1000;
        phases.push(p);
    }
}

function loadOver(p: Phase): void {
    const samples = fs
        .readFileSync(LOAD_LOG, "utf8")
        .split("\n")
        .map((l) => l.split(" "))
        .filter((f) => f.length >= 5 && Number(f[0]) >= p.start && Number(f[0]) <= p.end + 5);
    if (samples.length === 0) return;
    const load1 = samples.map((f) => Number(f[1]));
    const runnable = samples.map((f) => Number(f[4].split("/")[0]));
    const mean = (xs: number[]): number => round(xs.reduce((a, b) => a + b, 0) / xs.length);
    p.load1Mean = mean(load1);
    p.load1Max = round(Math.max(...load1));
    p.runnableMean = mean(runnable);
}

/** Waits (at most 60 s) until at most 2 tasks are runnable in 3 samples running, e.g. hosts done restarting. */
async function settle(): Promise<void> {
    let calm = 0;
    for (let i = 0; i < 60 && calm < 3; i++) {
        const running = Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[3].split("/")[0]);
        calm = running <= 2 ? calm + 1 : 0;
        await sleep(1000);
    }
}

async function waitQuiet(): Promise<void> {
    const threshold = num("BENCH_QUIET_LOAD", 0);
    const waitS = num("BENCH_QUIET_WAIT_S", 0);
    if (threshold <= 0 || waitS <= 0) return;
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
        const load1 = Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
        if (load1 <= threshold) return log(`machine quiet enough (load ${load1} <= ${threshold})`);
        if (Date.now() > deadline) return log(`machine still busy (load ${load1}) after ${waitS} s: measuring anyway`);
        await sleep(15_000);
    }
}

// ---------------------------------------------------------------------------------------------
// The bench's apt repository and its bandwidth-limited server.

function bridgeAddress(host: LabHost): string {
    return host.address.split(".").slice(0, 3).concat("1").join(".");
}

async function startRepository(bridge: string): Promise<string> {
    const labRepo = path.join(process.env.LAB_DIR ?? path.join(PROJECT_ROOT, ".lab"), "repo");
    const repo = path.join(OUT, "repo");
    const t = Date.now();
    const out = execFileSync("bash", [path.join(BENCH_DIR, "build-repo.sh"), labRepo, repo, PACKAGE_FILE, String(params.payloadBytes)], { encoding: "utf8" });
    params.packageBytes = Number(out.trim().split("\n").pop());
    log(`bench repository ${repo}: ${PACKAGE_FILE} is ${round(params.packageBytes / MIB, 1)} MiB (${round((Date.now() - t) / 1000, 1)} s)`);

    // A server left over by an interrupted run.
    const pidFile = path.join(RUN, "http.pid");
    if (fs.existsSync(pidFile)) {
        const old = Number(fs.readFileSync(pidFile, "utf8"));
        try {
            if (fs.readFileSync(`/proc/${old}/cmdline`, "utf8").includes("throttle-server")) process.kill(old, "SIGTERM");
        } catch {
            // not running
        }
        await sleep(300);
    }
    const outFile = path.join(RUN, "http.out");
    fs.writeFileSync(outFile, "");
    const fd = fs.openSync(outFile, "a");
    const args = [path.join(__dirname, "throttle-server.js"), "--root", repo, "--bind", bridge, "--port", String(PORT), "--rate", String(params.rateBytesPerSecond), "--aggregate", String(params.aggregateBytesPerSecond), "--log", path.join(RUN, "http.jsonl")];
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd] });
    child.unref();
    if (!child.pid) throw new Error("could not start the throttled HTTP server");
    cleanup.pids.set(child.pid, "throttled HTTP server");
    fs.writeFileSync(pidFile, String(child.pid));
    for (let i = 0; i < 50; i++) {
        if (fs.readFileSync(outFile, "utf8").includes("listening")) return `http://${bridge}:${PORT}/`;
        await sleep(200);
    }
    throw new Error(`the throttled HTTP server did not start:\n${fs.readFileSync(outFile, "utf8")}`);
}

/** Points the hosts' apt at the bench repository (and only there), like a mirror change would. */
function useRepository(hosts: readonly LabHost[], url: string): void {
    for (const h of hosts) {
        const r = sshRun(h, `echo 'deb [trusted=yes] ${url} ./' | sudo tee /etc/apt/sources.list.d/st2.list >/dev/null`);
        if (r.code !== 0) throw new Error(`could not point ${h.name} at ${url}: ${r.stderr}`);
    }
}

// ---------------------------------------------------------------------------------------------
// Runs.

function pulumiBin(): string {
    return path.join(ensureToolchain(), "pulumi");
}

/**
 * Engine runs as `npm run pulumi` runs them: with the project's Pulumi environment
 * (scripts/pulumi-env.sh), which decides whether ts-node type-checks the program on every run.
 * The test helpers' program stacks run transpile-only (their build type-checks); an operator's
 * `pulumi up` does whatever pulumi-env.sh says, and that is what the headline figures measure.
 */
let userTranspileOnly: string | undefined | null = null;
function asOperator(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    if (userTranspileOnly === null) userTranspileOnly = pulumiEnv().PULUMI_NODEJS_TRANSPILE_ONLY;
    const out = { ...env };
    if (userTranspileOnly === undefined) delete out.PULUMI_NODEJS_TRANSPILE_ONLY;
    else out.PULUMI_NODEJS_TRANSPILE_ONLY = userTranspileOnly;
    return out;
}

async function oursUp(stack: ProgramStack, label: string): Promise<{ run: TimedRun; timings: StepTiming[] }> {
    const eventLog = path.join(RUN, `events-${label}.jsonl`);
    fs.rmSync(eventLog, { force: true });
    const run = await runTimed(pulumiBin(), ["up", "--yes", "--skip-preview", "--non-interactive", "--event-log", eventLog], {
        cwd: stack.dir,
        env: { ...asOperator(stack.env), PULUMI_DEBUG_COMMANDS: "true" },
        eventLog,
    });
    fs.writeFileSync(path.join(RUN, `pulumi-${label}.log`), `${run.stdout}\n--- stderr\n${run.stderr}`);
    if (run.code !== 0) throw new Error(`pulumi up (${label}) failed (${run.code}); see ${path.join(RUN, `pulumi-${label}.log`)}:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`);
    return { run, timings: stepTimings(run.events) };
}

interface BaselineHost {
    outage: number;
    total: number;
    version: string;
}

async function baseline(hosts: readonly LabHost[], label: string): Promise<{ run: TimedRun; perHost: Record<string, BaselineHost> }> {
    const run = await runTimed(
        "bash",
        [path.join(BENCH_DIR, "baseline-runbook.sh"), TARGET, hosts[0].privateKeyPath, ...hosts.map((h) => `${h.name}=${h.user}@${h.address}`)],
        { cwd: PROJECT_ROOT, env: process.env },
    );
    fs.writeFileSync(path.join(RUN, `baseline-${label}.log`), `${run.stdout}\n--- stderr\n${run.stderr}`);
    if (run.code !== 0) throw new Error(`the baseline runbook (${label}) failed (${run.code}); see ${path.join(RUN, `baseline-${label}.log`)}:\n${run.stderr.slice(-3000)}`);
    const stamps = new Map<string, Record<string, string>>();
    for (const line of run.stdout.split("\n")) {
        const m = /^BASELINE (\S+) (\S+) (.*)$/.exec(line);
        if (!m) continue;
        stamps.set(m[1], { ...(stamps.get(m[1]) ?? {}), [m[2]]: m[3] });
    }
    const perHost: Record<string, BaselineHost> = {};
    for (const h of hosts) {
        const s = stamps.get(h.name);
        if (!s?.["outage-start"] || !s["outage-end"]) throw new Error(`the baseline printed no outage stamps for ${h.name}`);
        perHost[h.name] = {
            outage: Number(s["outage-end"]) - Number(s["outage-start"]),
            total: Number(s.end) - Number(s.begin),
            version: s.version ?? "",
        };
    }
    return { run, perHost };
}

async function checkUpgraded(hosts: readonly LabHost[], before: Map<string, Awaited<ReturnType<typeof inventory>>>, who: string): Promise<void> {
    const problems = (await Promise.all(hosts.map((h) => lostSince(h, before.get(h.name)!, TARGET)))).flat();
    if (problems.length > 0) throw new Error(`${who}: the upgrade is not complete or lost data:\n${problems.join("\n")}`);
    log(`${who}: ${hosts.length} host(s) at ${TARGET}, services running, nothing lost`);
}

async function inventories(hosts: readonly LabHost[]): Promise<Map<string, Awaited<ReturnType<typeof inventory>>>> {
    const list = await Promise.all(hosts.map(inventory));
    return new Map(hosts.map((h, i) => [h.name, list[i]]));
}

/** Batches of the fleet run as the engine saw them: first step start to last step end per host. */
function hostSpans(timings: readonly StepTiming[], hosts: readonly LabHost[]): Record<string, { start: number; end: number; prepare: number; outage: number; verify: number }> {
    const out: Record<string, { start: number; end: number; prepare: number; outage: number; verify: number }> = {};
    for (const h of hosts) {
        const mine = timings.filter((t) => t.name.startsWith(`st2-${h.name}-`));
        const at = (step: string): StepTiming | undefined => mine.find((t) => t.name === `st2-${h.name}-${step}`);
        const start = Math.min(...mine.map((t) => t.seenStart));
        const end = Math.max(...mine.map((t) => t.seenEnd));
        out[h.name] = {
            start,
            end,
            prepare: round((at("backup")?.seenEnd ?? start) - start),
            outage: round(oursOutage(timings, h.name).seen),
            verify: round((at("verify")?.seenEnd ?? end) - (at("verify")?.seenStart ?? end)),
        };
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Phases.

interface PreviewFigure {
    hosts: number;
    /** Resources the preview plans (`N to create`); when it timed out, those it had reached. */
    resources: number;
    wallSeconds: number;
    /** Stopped at BENCH_PREVIEW_TIMEOUT_S: wallSeconds is then a lower bound. */
    timedOut: boolean;
    /** Resources of the program at this size (each host's steps, components, the stack). */
    expectedResources: number;
    /** Peak RSS of the largest process: GNU time's max RSS; for a preview stopped at the timeout, the sampler's (GNU time misses processes killed before their parent reaped them). */
    peakRssMiB: number;
    gnuTimeMaxRssMiB: number;
    largestProcess: { command: string; peakMiB: number; cpuSeconds: number };
    /** The largest processes of the tree: peak RSS and CPU time (last sample, 0.1 s before exit at most). */
    processes: { command: string; peakMiB: number; cpuSeconds: number }[];
}

interface PreviewVariant {
    label: string;
    rollout?: Record<string, unknown>;
}

/** `pulumi preview` of the real program at `n` fake hosts, under GNU time, with the process tree sampled. */
async function previewOnce(n: number, key: string, variant: PreviewVariant): Promise<PreviewFigure> {
    const hosts = Array.from({ length: n }, (_, i) => ({
        name: `p${i + 1}`,
        address: `10.254.${Math.floor(i / 250)}.${(i % 250) + 1}`,
        user: "st2",
        currentVersion: FROM,
    }));
    const rollout = { batchSize: params.batchSize, ...(variant.rollout ?? {}) };
    const stack = programStack({ targetVersion: TARGET, hosts, sshPrivateKeyPath: key, rollout }, `preview${n}`);
    cleanup.stacks.add(stack);
    // The hosts do not exist: their facts come from a file, as in a review without access to them, so
    // the figure leaves out the fact reads (one ssh session per host, FACTS_CONCURRENCY at once).
    useFactsFile(stack.dir, stack.env, Object.fromEntries(hosts.map((h) => [h.name, fakeFacts(FROM)])));
    try {
        const peaks = new Map<number, ProcessPeak>();
        const run = await runTimed("/usr/bin/time", ["-v", pulumiBin(), "preview", "--non-interactive"], {
            cwd: stack.dir,
            env: asOperator(stack.env),
            peaks,
            timeoutSeconds: params.previewTimeoutSeconds,
        });
        fs.writeFileSync(path.join(RUN, `preview-${n}${variant.label ? `-${variant.label}` : ""}.log`), `${run.stdout.slice(-20000)}\n--- stderr\n${run.stderr}`);
        if (run.code !== 0 && !run.timedOut) throw new Error(`pulumi preview at ${n} hosts failed (${run.code}):\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`);
        const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1] ?? NaN);
        // Each planned resource prints one line as the engine reaches it: the progress of a preview that timed out.
        const reached = run.stdout.split("\n").filter((l) => /^\s*\+\s+\S+:\S+:\S+\s+\S+\s+create\s*$/.test(l)).length;
        const resources = run.timedOut ? reached : Number(/(\d+) to create/.exec(run.stdout)?.[1] ?? NaN);
        // Stack + fleet + per host: component and its 8 steps (3.8.1 -> 3.9.0 has one package leg, one migration).
        const expectedResources = 2 + n * 9;
        const processes = [...peaks.values()]
            .filter((p) => !p.command.startsWith("/usr/bin/time"))
            .sort((a, b) => b.peakKiB - a.peakKiB)
            .map((p) => ({ command: p.command, peakMiB: round(p.peakKiB / 1024, 1), cpuSeconds: round(p.cpuSeconds, 1) }));
        const figure: PreviewFigure = {
            hosts: n,
            resources,
            expectedResources,
            wallSeconds: round(run.wallSeconds),
            timedOut: run.timedOut,
            peakRssMiB: run.timedOut ? processes[0]?.peakMiB ?? NaN : round(rss / 1024, 1),
            gnuTimeMaxRssMiB: round(rss / 1024, 1),
            largestProcess: processes[0] ?? { command: "?", peakMiB: NaN, cpuSeconds: NaN },
            processes: processes.slice(0, 5),
        };
        log(
            `preview ${n} hosts${variant.label ? ` (${variant.label})` : ""}: ${run.timedOut ? "stopped after " : ""}${figure.wallSeconds} s, ` +
                `${resources}${run.timedOut ? ` of ${expectedResources}` : ""} resources, peak RSS ${figure.peakRssMiB} MiB (largest: ${figure.largestProcess.command} ${figure.largestProcess.peakMiB} MiB)`,
        );
        return figure;
    } finally {
        dropStack(stack);
    }
}

/** Wall seconds of `pulumi preview` of the empty program (the engine's fixed cost). */
async function previewEmpty(stack: TempStack): Promise<number> {
    const r = await runTimed(pulumiBin(), ["preview", "--non-interactive"], { cwd: stack.dir, env: asOperator(stack.env) });
    if (r.code !== 0) throw new Error(`pulumi preview of the empty program failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    return round(r.wallSeconds);
}

async function previewPhase(): Promise<{ figures: PreviewFigure[]; ten: { tenRuns: number[]; emptyRuns: number[]; tenSeconds: number; emptySeconds: number }; diagnostics: Record<string, unknown> }> {
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-bench-key-"));
    try {
        const key = path.join(keyDir, "id");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
        const figures: PreviewFigure[] = [];
        for (const n of params.previewSizes) figures.push(await previewOnce(n, key, { label: "" }));
        // The headline: 10 hosts against the engine's fixed cost (an empty program), alternated.
        const empty = emptyProgram();
        const tenRuns: number[] = [];
        const emptyRuns: number[] = [];
        for (let i = 0; i < params.noopRuns; i++) {
            tenRuns.push((await previewOnce(10, key, { label: `ratio-${i + 1}` })).wallSeconds);
            emptyRuns.push(await previewEmpty(empty));
            log(`preview ${i + 1}: 10 hosts ${tenRuns[i]} s, empty program ${emptyRuns[i]} s`);
        }
        const ten = { tenRuns, emptyRuns, tenSeconds: median(tenRuns), emptySeconds: median(emptyRuns) };
        // Where the time goes: without the batch gate (rollout.prepareBatchBeforeStop false) at 100
        // hosts, and with ts-node's type check of the program (both sides) at 10.
        const diagnostics: Record<string, unknown> = {};
        if (params.diagnostics) {
            diagnostics.hosts100NoBatchGate = await previewOnce(100, key, { label: "no-gate", rollout: { prepareBatchBeforeStop: false } });
        }
        dropStack(empty);
        return { figures, ten, diagnostics };
    } finally {
        fs.rmSync(keyDir, { recursive: true, force: true });
    }
}

async function outagePhase(repoUrl: () => Promise<string>): Promise<Record<string, unknown>> {
    const [mine, theirs] = upHosts(PREFIXES.outage, 2);
    const url = await repoUrl();
    useRepository([mine, theirs], url);
    const before = await inventories([mine, theirs]);

    const stack = programStack(labConfig([mine], { targetVersion: TARGET, rollout: { batchSize: 1 } }), "outage");
    cleanup.stacks.add(stack);
    log(`ours: pulumi up on ${mine.name}`);
    const { run, timings } = await oursUp(stack, "outage");
    const o = oursOutage(timings, mine.name);
    log(`ours: outage ${o.engine} s (engine timestamps), ${round(o.seen)} s (event log, 0.1 s); up took ${round(run.wallSeconds)} s`);

    log(`baseline: runbook on ${theirs.name}`);
    const b = await baseline([theirs], "outage");
    const bo = b.perHost[theirs.name];
    log(`baseline: outage ${round(bo.outage)} s; runbook took ${round(b.run.wallSeconds)} s`);
    await checkUpgraded([mine, theirs], before, "outage hosts");
    const versions = Object.fromEntries([mine, theirs].map((h) => [h.name, sshRun(h, "st2 --version 2>&1 | head -n 1").stdout.trim()]));

    // The undo of the same upgrade (README, Undo): back to FROM from the backup's own packages.
    const set = stack.pulumi(["config", "set", "st2-upgrade:targetVersion", FROM]);
    if (set.code !== 0) throw new Error(`pulumi config set failed: ${set.stderr}`);
    log(`ours: restore of ${mine.name} to ${FROM}`);
    const restored = await oursUp(stack, "restore");
    const ro = oursOutage(restored.timings, mine.name, "restore-stop", "restore-start");
    const rd = oursOutage(restored.timings, mine.name, "restore-stop", "restore-datastore");
    const restoreLost = await lostSince(mine, before.get(mine.name)!, FROM);
    if (restoreLost.length) throw new Error(`the restore lost data:\n  ${restoreLost.join("\n  ")}`);
    log(`ours: restore outage ${ro.engine} s (services stopped -> started), ${rd.engine} s until the datastore is back; up took ${round(restored.run.wallSeconds)} s`);
    dropStack(stack);
    downHosts(PREFIXES.outage);

    const stop = timings.find((t) => t.name.endsWith("-stop"))!;
    // Step names without the host's prefix, with their durations, in the order they started.
    const stepList = (ts: readonly StepTiming[]) =>
        [...ts].sort((a, b2) => a.seenStart - b2.seenStart).map((t) => ({ step: t.name.slice(`st2-${mine.name}-`.length), seconds: round(t.seenEnd - t.seenStart) }));
    const steps = stepList(timings.filter((t) => t.seenStart >= stop.seenStart - 0.01 && !t.name.endsWith("-verify")));
    const allSteps = stepList(timings);
    return {
        oursSeconds: o.engine,
        oursSecondsEventLog: round(o.seen),
        baselineSeconds: round(bo.outage),
        oursOutageSteps: steps,
        oursAllSteps: allSteps,
        oursUpSeconds: round(run.wallSeconds),
        baselineRunbookSeconds: round(b.run.wallSeconds),
        versions,
        // No baseline: StackStorm's runbook has no undo. Informational (README, Undo).
        restore: {
            to: FROM,
            outageSeconds: ro.engine,
            outageSecondsEventLog: round(ro.seen),
            untilDatastoreSeconds: rd.engine,
            untilDatastoreSecondsEventLog: round(rd.seen),
            upSeconds: round(restored.run.wallSeconds),
            // The upgrade's steps this run deletes are events too: only the restore's.
            steps: stepList(restored.timings.filter((t) => t.name.startsWith(`st2-${mine.name}-restore-`))),
        },
    };
}

function emptyProgram(): TempStack {
    const s = makeTempStack({
        files: {
            "Pulumi.yaml": "name: bench-empty\nruntime: nodejs\ndescription: \"no resources, the engine's fixed cost\"\n",
            "index.ts": "// No resources.\nexport {};\n",
            "package.json": JSON.stringify({ name: "bench-empty", private: true, main: "index.ts" }),
            "tsconfig.json": JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "commonjs", moduleResolution: "node", types: [] } }),
        },
        stack: "empty",
    });
    cleanup.stacks.add(s);
    return s;
}

/**
 * The no-op's resource graph and nothing of ours: a fleet component, per host a component and its 8
 * steps chained by dependsOn, hosts in batches after one another (1 + 1 + 8 x 9 = 74 resources, the
 * 8-host stack's). Its steps are `local.Command`s of the same provider, running `true` when created;
 * no config, no fact read, no scripts. Same tsconfig as the program (ts-node transpiles with swc).
 */
function graphOnlyProgram(hosts: number, batchSize: number): TempStack {
    const index = [
        "// The resource graph of the program's no-op, nothing else (bench/run.ts graphOnlyProgram).",
        'import * as pulumi from "@pulumi/pulumi";',
        'import * as command from "@pulumi/command";',
        'const fleet = new pulumi.ComponentResource("graph:fleet:Fleet", "fleet");',
        "let previous: pulumi.Resource[] = [];",
        `for (let first = 0; first < ${hosts}; first += ${batchSize}) {`,
        "    const verified: pulumi.Resource[] = [];",
        `    for (let h = first; h < Math.min(first + ${batchSize}, ${hosts}); h++) {`,
        '        const host = new pulumi.ComponentResource("graph:host:Host", `h${h}`, {}, { parent: fleet });',
        "        let after = previous;",
        "        for (let step = 0; step < 8; step++) {",
        '            after = [new command.local.Command(`h${h}-${step}`, { create: "true", triggers: [step] }, { parent: host, dependsOn: after })];',
        "        }",
        "        verified.push(...after);",
        "    }",
        "    previous = verified;",
        "}",
        "",
    ].join("\n");
    const s = makeTempStack({
        files: {
            "Pulumi.yaml": "name: bench-graph\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n",
            "index.ts": index,
            "package.json": JSON.stringify({ name: "bench-graph", private: true, main: "index.ts" }),
            "tsconfig.json": fs.readFileSync(path.join(PROJECT_ROOT, "tsconfig.json"), "utf8").replace(/"include": \[[^\]]*\]/, '"include": ["index.ts"]'),
        },
        stack: "graph",
    });
    cleanup.stacks.add(s);
    return s;
}

async function plainUp(stack: TempStack): Promise<TimedRun> {
    const r = await runTimed(pulumiBin(), ["up", "--yes", "--skip-preview", "--non-interactive"], { cwd: stack.dir, env: asOperator(stack.env) });
    if (r.code !== 0) throw new Error(`pulumi up in ${stack.dir} failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    return r;
}

/**
 * `pulumi up` of a stack at rest, which must change nothing: its wall time and the number of
 * resources the summary says were unchanged.
 */
async function noopUp(stack: TempStack, what: string): Promise<{ seconds: number; unchanged: number }> {
    const r = await plainUp(stack);
    const summary = r.stdout.slice(r.stdout.lastIndexOf("Resources:"));
    const unchanged = /\b(\d+) unchanged\b/.exec(summary);
    if (/\b(created|updated|replaced|deleted)\b/.test(summary) || !unchanged) throw new Error(`${what}: the second up changed something:\n${summary}`);
    return { seconds: round(r.wallSeconds), unchanged: Number(unchanged[1]) };
}

async function fleetPhase(repoUrl: () => Promise<string>): Promise<{ fleet: Record<string, unknown>; noop?: Record<string, unknown> }> {
    // Ours.
    const hosts = upHosts(PREFIXES.fleetOurs, params.fleetHosts);
    const url = await repoUrl();
    useRepository(hosts, url);
    const before = await inventories(hosts);
    const stack = programStack(labConfig(hosts, { targetVersion: TARGET, rollout: { batchSize: params.batchSize } }), "fleet");
    cleanup.stacks.add(stack);
    const ours = await phase("fleet: ours", async () => {
        log(`ours: pulumi up, ${hosts.length} hosts in batches of ${params.batchSize}`);
        const r = await oursUp(stack, "fleet");
        log(`ours: ${round(r.run.wallSeconds)} s`);
        return r;
    });
    await checkUpgraded(hosts, before, "fleet (ours)");
    const spans = hostSpans(ours.timings, hosts);

    let noop: Record<string, unknown> | undefined;
    if (only.has("noop")) {
        await settle();
        noop = await phase("noop", async () => {
            const empty = emptyProgram();
            await plainUp(empty); // creates the empty stack's Stack resource: every measured run is then a no-op
            const sessions = hosts.map(sshdSessions);
            const oursRuns: number[] = [];
            const emptyRuns: number[] = [];
            let resources = NaN;
            for (let i = 0; i < params.noopRuns; i++) {
                const r = await noopUp(stack, "the program");
                oursRuns.push(r.seconds);
                resources = r.unchanged;
                emptyRuns.push(round((await plainUp(empty)).wallSeconds));
                log(`no-op up ${i + 1}: ours ${oursRuns[i]} s, empty program ${emptyRuns[i]} s`);
            }
            // Each run reads every host's facts once (read-only, components/facts.ts); no step logs in.
            const runs = params.noopRuns;
            const after = hosts.map(sshdSessions);
            if (after.some((n, i) => n !== sessions[i] + runs)) {
                throw new Error(`the no-op up logged in to hosts beyond one fact read per run (${runs} runs): ${JSON.stringify({ sessions, after })}`);
            }
            // The same no-op without the fact read (the facts this run reported, from a file): what is
            // left is the program's start and the engine's cost per registered resource.
            const reported = (stack.outputs().hosts as { name: string; facts: Omit<HostFacts, "freeMb"> }[]) ?? [];
            const withoutRead = { ...stack, env: { ...stack.env } };
            useFactsFile(stack.dir, withoutRead.env, Object.fromEntries(reported.map((h) => [h.name, { ...h.facts, freeMb: { packageCache: 9000, backup: 9000 } }])));
            const withoutReadRuns: number[] = [];
            for (let i = 0; i < params.noopRuns; i++) withoutReadRuns.push((await noopUp(withoutRead, "the program with facts from a file")).seconds);
            log(`no-op up without the fact read: ${withoutReadRuns.join(", ")} s`);
            if (hosts.map(sshdSessions).some((n, i) => n !== after[i])) throw new Error("the no-op up with facts from a file logged in to a host");
            // The same resource graph without the program (graphOnlyProgram), once created.
            const graph = graphOnlyProgram(params.fleetHosts, params.batchSize);
            await plainUp(graph);
            const graphRuns: number[] = [];
            const graphEmptyRuns: number[] = [];
            let graphResources = NaN;
            for (let i = 0; i < params.noopRuns; i++) {
                const r = await noopUp(graph, "the graph-only program");
                graphRuns.push(r.seconds);
                graphResources = r.unchanged;
                graphEmptyRuns.push(round((await plainUp(empty)).wallSeconds));
            }
            log(`no-op up of the resource graph alone (${graphResources} resources): ${graphRuns.join(", ")} s; empty program ${graphEmptyRuns.join(", ")} s`);
            dropStack(graph);
            dropStack(empty);
            return {
                oursRuns,
                emptyRuns,
                oursSeconds: median(oursRuns),
                emptySeconds: median(emptyRuns),
                withoutFactReadRuns: withoutReadRuns,
                withoutFactReadSeconds: median(withoutReadRuns),
                withoutFactReadRatio: round(median(withoutReadRuns) / median(emptyRuns)),
                graphOnly: {
                    resources: graphResources,
                    runs: graphRuns,
                    emptyRuns: graphEmptyRuns,
                    seconds: median(graphRuns),
                    ratio: round(median(graphRuns) / median(graphEmptyRuns)),
                },
                resources,
                sshLoginsDuringNoop: 0,
            };
        });
    }
    dropStack(stack);
    downHosts(PREFIXES.fleetOurs);

    // The runbook, host after host, on fresh hosts.
    const theirs = upHosts(PREFIXES.fleetBaseline, params.fleetHosts);
    useRepository(theirs, url);
    const theirsBefore = await inventories(theirs);
    const b = await phase("fleet: baseline", async () => {
        log(`baseline: runbook over ${theirs.length} hosts, one after another`);
        const r = await baseline(theirs, "fleet");
        log(`baseline: ${round(r.run.wallSeconds)} s`);
        return r;
    });
    await checkUpgraded(theirs, theirsBefore, "fleet (baseline)");
    downHosts(PREFIXES.fleetBaseline);

    const firstStep = Math.min(...ours.timings.map((t) => t.seenStart));
    const batchSpans = Array.from({ length: Math.ceil(hosts.length / params.batchSize) }, (_, k) => {
        const members = hosts.slice(k * params.batchSize, (k + 1) * params.batchSize).map((h) => spans[h.name]);
        return { batch: k + 1, seconds: round(Math.max(...members.map((m) => m.end)) - Math.min(...members.map((m) => m.start))) };
    });
    return {
        fleet: {
            oursSeconds: round(ours.run.wallSeconds),
            // Before the first step started: the program's start (ts-node), registration, the provider's start.
            oursStartupSeconds: round(firstStep - ours.run.startedAt),
            oursBatches: batchSpans,
            baselineSeconds: round(b.run.wallSeconds),
            oursPerHost: spans,
            oursOutageMedianSeconds: round(median(Object.values(spans).map((s) => s.outage))),
            baselinePerHost: Object.fromEntries(Object.entries(b.perHost).map(([k, v]) => [k, { outage: round(v.outage), total: round(v.total), version: v.version }])),
            baselineOutageMedianSeconds: round(median(Object.values(b.perHost).map((v) => v.outage))),
        },
        noop,
    };
}

// ---------------------------------------------------------------------------------------------
// Report.

/**
 * Growth between sizes: seconds (or MiB) per added host from the first to the second size and from
 * the second to the third; a ratio near 1 is linear. A third size that timed out gives a lower bound.
 */
function linearity(figures: readonly PreviewFigure[], pick: (f: PreviewFigure) => number): Record<string, number | boolean> | null {
    if (figures.length < 3) return null;
    const [a, b, c] = figures;
    if (a.timedOut || b.timedOut) return null;
    const low = (pick(b) - pick(a)) / (b.hosts - a.hosts);
    const high = (pick(c) - pick(b)) / (c.hosts - b.hosts);
    return { perHostLow: round(low, 4), perHostHigh: round(high, 4), slopeRatio: round(high / low), highIsLowerBound: c.timedOut };
}

function table(rows: string[][]): string {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
    return [line(rows[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.slice(1).map(line)].join("\n");
}

/**
 * What program is measured: stacks copy index.ts and components/ from the working tree when they
 * are made, so a change landing during the run would mix versions. HEAD and a hash of those files.
 */
function programSource(): { head: string; sourceSha256: string; uncommitted: boolean } {
    const files: string[] = ["index.ts"];
    const walk = (dir: string): void => {
        for (const e of fs.readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true })) {
            const rel = path.join(dir, e.name);
            if (e.isDirectory()) walk(rel);
            else if (e.name.endsWith(".ts")) files.push(rel);
        }
    };
    walk("components");
    const hash = createHash("sha256");
    for (const f of files.sort()) hash.update(`${f}\0`).update(fs.readFileSync(path.join(PROJECT_ROOT, f)));
    const git = (args: string[]): string => execFileSync("git", args, { cwd: PROJECT_ROOT, encoding: "utf8" }).trim();
    return { head: git(["rev-parse", "HEAD"]), sourceSha256: hash.digest("hex"), uncommitted: git(["status", "--porcelain", "--", "index.ts", "components"]) !== "" };
}

async function main(): Promise<void> {
    fs.mkdirSync(RUN, { recursive: true });
    const began = Date.now();
    const sourceAtStart = programSource();
    // Hosts of an interrupted earlier run.
    for (const prefix of Object.values(PREFIXES)) labDown({ prefix });
    ensureToolchain();
    startLoadSampler();
    await waitQuiet();

    let url: string | undefined;
    const repoUrl = async (): Promise<string> => {
        if (!url) url = await startRepository(bridgeAddress(labHosts().find((h) => ours(h.name))!));
        return url;
    };

    const results: Record<string, unknown> = {};
    const preview = only.has("preview") ? await phase("preview", previewPhase) : undefined;
    const previews = preview?.figures ?? [];
    const outage = only.has("outage") ? await phase("outage", () => outagePhase(repoUrl)) : undefined;
    const fleet = only.has("fleet") ? await fleetPhase(repoUrl) : undefined;

    phases.forEach(loadOver);
    const ratio = (a?: number, b?: number): number | null => (a !== undefined && b ? round(a / b, 3) : null);
    const o = outage as { oursSeconds: number; oursSecondsEventLog: number; baselineSeconds: number } | undefined;
    const f = fleet?.fleet as { oursSeconds: number; baselineSeconds: number } | undefined;
    const n = fleet?.noop as
        | { oursSeconds: number; emptySeconds: number; withoutFactReadSeconds?: number; withoutFactReadRatio?: number; graphOnly?: { resources: number; seconds: number; emptyRuns: number[]; ratio: number } }
        | undefined;
    const ten = preview?.ten;
    const figures = {
        outageRatio: ratio(o?.oursSeconds, o?.baselineSeconds),
        fleetRatio: ratio(f?.oursSeconds, f?.baselineSeconds),
        noopRatio: ratio(n?.oursSeconds, n?.emptySeconds),
        preview10Ratio: ratio(ten?.tenSeconds, ten?.emptySeconds),
    };
    const met = {
        outageRatio: figures.outageRatio === null ? null : figures.outageRatio <= TARGETS.outageRatio,
        fleetRatio: figures.fleetRatio === null ? null : figures.fleetRatio <= TARGETS.fleetRatio,
        noopRatio: figures.noopRatio === null ? null : figures.noopRatio <= TARGETS.noopRatio,
        preview10Ratio: figures.preview10Ratio === null ? null : figures.preview10Ratio <= TARGETS.preview10Ratio,
    };
    asOperator({});
    params.programTypeCheck = userTranspileOnly === "true" ? "transpile-only (scripts/pulumi-env.sh sets PULUMI_NODEJS_TRANSPILE_ONLY=true)" : `PULUMI_NODEJS_TRANSPILE_ONLY=${String(userTranspileOnly)} from the caller's environment`;
    const sourceAtEnd = programSource();
    const sourceChanged = sourceAtEnd.sourceSha256 !== sourceAtStart.sourceSha256;
    if (sourceChanged) log("WARNING: index.ts or components/ changed during the run: phases may have measured different versions of the program");
    Object.assign(results, {
        ...figures,
        targets: TARGETS,
        met,
        date: new Date(began).toISOString(),
        benchSeconds: round((Date.now() - began) / 1000, 0),
        program: { ...sourceAtStart, changedDuringRun: sourceChanged },
        machine: { cpus: os.cpus().length, memoryGiB: round(os.totalmem() / 1024 ** 3, 1), kernel: os.release() },
        parameters: params,
        load: phases.map((p) => ({ phase: p.name, seconds: round(p.end - p.start, 0), load1Mean: p.load1Mean, load1Max: p.load1Max, runnableMean: p.runnableMean, otherLabHosts: p.otherLabHosts.length })),
        raw: {
            outage: outage ?? null,
            fleet: fleet?.fleet ?? null,
            noop: fleet?.noop ?? null,
            preview: previews,
            preview10: ten ?? null,
            previewDiagnostics: preview?.diagnostics ?? null,
            previewLinearity: { wall: linearity(previews, (x) => x.wallSeconds), memory: linearity(previews, (x) => x.peakRssMiB) },
        },
    });

    const yes = (m: boolean | null): string => (m === null ? "not run" : m ? "met" : "NOT met");
    const rows: string[][] = [["figure", "ours", "baseline", "ratio", "target", "status"]];
    if (o) rows.push(["per-host outage, stop -> running (s)", `${o.oursSeconds} (${o.oursSecondsEventLog})`, `${o.baselineSeconds}`, `${figures.outageRatio}`, `<= ${TARGETS.outageRatio}`, yes(met.outageRatio)]);
    if (f) rows.push([`fleet ${params.fleetHosts} hosts, batches of ${params.batchSize}, wall (s)`, `${f.oursSeconds}`, `${f.baselineSeconds} (serial)`, `${figures.fleetRatio}`, `<= ${TARGETS.fleetRatio}`, yes(met.fleetRatio)]);
    if (n) rows.push(["second up, no-op, median (s)", `${n.oursSeconds}`, `${n.emptySeconds} (empty program)`, `${figures.noopRatio}`, `<= ${TARGETS.noopRatio}`, yes(met.noopRatio)]);
    if (n?.withoutFactReadSeconds !== undefined) {
        rows.push(["  the same, facts from a file (no SSH; informational)", `${n.withoutFactReadSeconds}`, `${n.emptySeconds} (empty program)`, `${n.withoutFactReadRatio}`, "-", "-"]);
    }
    if (n?.graphOnly) {
        const g = n.graphOnly;
        rows.push([`  its resource graph alone, ${g.resources} resources (informational)`, `${g.seconds}`, `${median(g.emptyRuns)} (empty program)`, `${g.ratio}`, "-", "-"]);
    }
    if (ten) rows.push(["preview 10 hosts, median (s)", `${ten.tenSeconds}`, `${ten.emptySeconds} (empty program)`, `${figures.preview10Ratio}`, `<= ${TARGETS.preview10Ratio}`, yes(met.preview10Ratio)]);
    for (const p of previews) {
        const ours = p.timedOut
            ? `> ${p.wallSeconds} s (stopped; ${p.resources} of ${p.expectedResources} resources reached), ${p.peakRssMiB} MiB peak RSS so far`
            : `${p.wallSeconds} s, ${p.peakRssMiB} MiB peak RSS`;
        rows.push([`preview ${p.hosts} hosts (${p.expectedResources} resources)`, ours, "-", "-", "-", "-"]);
    }
    const report = [
        table(rows),
        "",
        `upgrade ${params.upgradePath}; ${PACKAGE_FILE} ${round(params.packageBytes / MIB, 1)} MiB (incompressible payload); ` +
            `downloads ${round(params.rateBytesPerSecond / MIB, 2)} MiB/s per connection` +
            (params.aggregateBytesPerSecond ? `, ${round(params.aggregateBytesPerSecond / MIB, 2)} MiB/s shared` : ", no shared limit"),
        `outage: ours from engine timestamps (whole seconds), in parentheses from event-log arrival (0.1 s)`,
        previews[0]
            ? `preview peak RSS = GNU time's max RSS, i.e. the largest single process of the tree (sampled VmHWM when stopped): ${previews.map((p) => `${p.hosts} hosts: ${p.largestProcess.command.split(" ").slice(0, 2).join(" ")} ${p.largestProcess.peakMiB} MiB`).join("; ")}`
            : "",
        `load (1-min load mean/max, mean runnable tasks incl. the bench's own, per phase): ${phases.map((p) => `${p.name} ${p.load1Mean ?? "?"}/${p.load1Max ?? "?"}, ${p.runnableMean ?? "?"} (${p.otherLabHosts.length} other lab hosts)`).join("; ")}`,
        `program ${sourceAtStart.head.slice(0, 7)}${sourceAtStart.uncommitted ? " + uncommitted changes" : ""}${sourceChanged ? " (CHANGED during the run)" : ""}; bench took ${results.benchSeconds} s on ${os.cpus().length} CPUs`,
    ].join("\n");
    process.stdout.write(`${report}\n`);
    const file = process.env.BENCH_RESULTS ?? path.join(BENCH_DIR, "results.json");
    fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    fs.writeFileSync(path.join(OUT, "report.txt"), `${report}\n`);
    log(`wrote ${file}`);
}

main()
    .catch((e: unknown) => {
        log(`FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        process.exitCode = 1;
    })
    .finally(() => cleanup.run());
