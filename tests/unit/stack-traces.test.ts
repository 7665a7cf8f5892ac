import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { plainPromiseTraces, plainStack } from "../../components/stack-traces";

// A function named like the SDK's tracer, so its frames are the ones the wrapper recognises.
function debuggablePromise(): string {
    return new Error("traced").stack!;
}
function elsewhere(): string {
    return new Error("ours").stack!;
}

describe("plainPromiseTraces", () => {
    it("skips the installed hook for the SDK's promise traces only, and installs once", () => {
        const saved = Error.prepareStackTrace;
        const seen: string[] = [];
        try {
            Error.prepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) => {
                seen.push(frames[0]?.getFunctionName() ?? "");
                return `mapped: ${error.message}`;
            };
            plainPromiseTraces();
            plainPromiseTraces();
            const traced = debuggablePromise();
            assert.match(traced, /^Error: traced\n {4}at debuggablePromise \(/);
            assert.equal(elsewhere(), "mapped: ours");
            assert.deepEqual(seen, ["elsewhere"], "the hook ran once, for the other error only: wrapped once");
        } finally {
            Error.prepareStackTrace = saved;
        }
    });

    it("leaves things alone without a hook", () => {
        const saved = Error.prepareStackTrace;
        try {
            (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
            plainPromiseTraces();
            assert.equal(Error.prepareStackTrace, undefined);
        } finally {
            Error.prepareStackTrace = saved;
        }
    });

    it("formats like V8 without a hook", () => {
        const saved = Error.prepareStackTrace;
        try {
            let frames: NodeJS.CallSite[] = [];
            Error.prepareStackTrace = (_e: Error, f: NodeJS.CallSite[]) => ((frames = f), "");
            const e = new Error("x");
            void e.stack;
            (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
            const native = new Error("x").stack!.split("\n")[0];
            assert.equal(plainStack(e, frames).split("\n")[0], native);
            assert.equal(plainStack(e, frames).split("\n").length, frames.length + 1);
        } finally {
            Error.prepareStackTrace = saved;
        }
    });
});
