/**
 * Two things about the program's stack traces.
 *
 * Cost: the Pulumi SDK records a stack trace for every promise it makes (`debuggablePromise`, for its
 * report of promises left pending at exit): hundreds per host. Under ts-node each of those traces
 * goes through source-map-support, which maps every frame to TypeScript; measured on a no-op `up` of
 * 8 hosts, that was the largest cost of the program after loading it (5 s of 37 s on a loaded
 * machine). Those traces are for the SDK's own leak report, which prints them only when
 * PULUMI_DEBUG_PROMISE_LEAKS is set (@pulumi/pulumi runtime/debuggable.js `leakedPromises`): without
 * it they are never read, so they are not formatted at all (a placeholder names the variable; ~50 ms
 * of a 10-host preview), and with it they are given in V8's own format. The frames of every other
 * error (ours, the SDK's, a resource's registration site) keep their source-mapped form.
 *
 * A hang (errors the program throws itself end as pulumi.RunError: run-error.ts): source-map-support maps the SDK's frames to its TypeScript sources one folder up
 * (`node_modules/@pulumi/resource.ts`), and Node 20's `util.inspect` (which the SDK's runner uses to
 * print an error the program throws) loops, growing a string to its limit, on a frame whose path
 * has no folder after the package name under `node_modules/` (seen on 20.20.2: every error thrown
 * after an `await` in the program took 70-130 s and 3.6 GB to print, a failed preview minutes). Such
 * a trace is given in V8's own format instead: JavaScript paths, nothing lost but the mapping.
 */

type Prepare = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** The SDK function whose traces are formatted without source maps. */
const SDK_PROMISE_TRACER = "debuggablePromise";

/** A frame `util.inspect` of Node 20 loops on: a path with no folder after the package under node_modules. */
const INSPECT_LOOPS_ON = /[/\\]node_modules[/\\](@[^/\\\s]+[/\\])?[^/\\\s]+:\d+/;

export function inspectLoopsOn(stack: string): boolean {
    return stack.split("\n").some((line) => INSPECT_LOOPS_ON.test(line));
}

/** What an SDK promise trace holds when no leak report will print it. */
export const UNREAD_PROMISE_TRACE = "(no trace: the SDK prints promise traces only with PULUMI_DEBUG_PROMISE_LEAKS set)";

/** V8's own format: what `error.stack` holds without a `prepareStackTrace` hook. */
export function plainStack(error: Error, frames: readonly NodeJS.CallSite[]): string {
    return [String(error), ...frames.map((f) => `    at ${String(f)}`)].join("\n");
}

/**
 * Wraps the installed `Error.prepareStackTrace` (ts-node's source-map-support) so that traces taken
 * by the SDK's promise tracer skip it (unformatted unless PULUMI_DEBUG_PROMISE_LEAKS is set), and a mapped trace Node's inspect would loop on is given
 * unmapped. Idempotent; a no-op when no hook is installed.
 */
export function plainPromiseTraces(): void {
    const installed = Error.prepareStackTrace as (Prepare & { plainPromiseTraces?: true }) | undefined;
    if (typeof installed !== "function" || installed.plainPromiseTraces) return;
    const leakReport = Boolean(process.env.PULUMI_DEBUG_PROMISE_LEAKS);
    const wrapped: Prepare & { plainPromiseTraces?: true } = (error, frames) => {
        if (frames[0]?.getFunctionName() === SDK_PROMISE_TRACER) return leakReport ? plainStack(error, frames) : UNREAD_PROMISE_TRACE;
        const mapped = installed(error, frames);
        return typeof mapped === "string" && inspectLoopsOn(mapped) ? plainStack(error, frames) : mapped;
    };
    wrapped.plainPromiseTraces = true;
    Error.prepareStackTrace = wrapped as typeof Error.prepareStackTrace;
}
