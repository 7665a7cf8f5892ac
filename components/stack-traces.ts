/**
 * The Pulumi SDK records a stack trace for every promise it makes (`debuggablePromise`, for its
 * report of promises left pending at exit): hundreds per host. Under ts-node each of those traces
 * goes through source-map-support, which maps every frame to TypeScript; measured on a no-op `up` of
 * 8 hosts, that was the largest cost of the program after loading it (5 s of 37 s on a loaded
 * machine). Those traces are for the SDK's own leak report; the frames of every other error (ours,
 * the SDK's, a resource's registration site) keep their source-mapped form.
 */

type Prepare = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** The SDK function whose traces are formatted without source maps. */
const SDK_PROMISE_TRACER = "debuggablePromise";

/** V8's own format: what `error.stack` holds without a `prepareStackTrace` hook. */
export function plainStack(error: Error, frames: readonly NodeJS.CallSite[]): string {
    return [String(error), ...frames.map((f) => `    at ${String(f)}`)].join("\n");
}

/**
 * Wraps the installed `Error.prepareStackTrace` (ts-node's source-map-support) so that traces taken
 * by the SDK's promise tracer skip it. Idempotent; a no-op when no hook is installed.
 */
export function plainPromiseTraces(): void {
    const installed = Error.prepareStackTrace as (Prepare & { plainPromiseTraces?: true }) | undefined;
    if (typeof installed !== "function" || installed.plainPromiseTraces) return;
    const wrapped: Prepare & { plainPromiseTraces?: true } = (error, frames) =>
        frames[0]?.getFunctionName() === SDK_PROMISE_TRACER ? plainStack(error, frames) : installed(error, frames);
    wrapped.plainPromiseTraces = true;
    Error.prepareStackTrace = wrapped as typeof Error.prepareStackTrace;
}
