import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { inspectLoopsOn, plainPromiseTraces, plainStack, UNREAD_PROMISE_TRACE } from "../../components/stack-traces";

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
            assert.equal(debuggablePromise(), UNREAD_PROMISE_TRACE, "not formatted: no leak report will print it");
            assert.equal(elsewhere(), "mapped: ours");
            assert.deepEqual(seen, ["elsewhere"], "the hook ran once, for the other error only: wrapped once");
        } finally {
            Error.prepareStackTrace = saved;
        }
    });

    it("gives the SDK's promise traces in V8's format when its leak report will print them", () => {
        const saved = Error.prepareStackTrace;
        const env = process.env.PULUMI_DEBUG_PROMISE_LEAKS;
        try {
            process.env.PULUMI_DEBUG_PROMISE_LEAKS = "true";
            Error.prepareStackTrace = (error: Error) => `mapped: ${error.message}`;
            plainPromiseTraces();
            assert.match(debuggablePromise(), /^Error: traced\n {4}at debuggablePromise \(/);
            assert.equal(elsewhere(), "mapped: ours");
        } finally {
            Error.prepareStackTrace = saved;
            if (env === undefined) delete process.env.PULUMI_DEBUG_PROMISE_LEAKS;
            else process.env.PULUMI_DEBUG_PROMISE_LEAKS = env;
        }
    });

    it("gives a mapped trace Node's inspect would loop on in V8's format, which inspect prints at once", () => {
        const saved = Error.prepareStackTrace;
        try {
            // What source-map-support makes of the SDK's frames: its .ts sources one folder up.
            Error.prepareStackTrace = (error: Error) => `${error}\n    at async Stack.initialize (/p/node_modules/@pulumi/runtime/stack.ts:78:28)\n    at async Stack.initializeAndRegisterOutputs (/p/node_modules/@pulumi/resource.ts:1598:22)`;
            plainPromiseTraces();
            const e = new Error("boom");
            assert.match(e.stack!, /^Error: boom\n {4}at /);
            assert.equal(inspectLoopsOn(e.stack!), false);
            assert.match(inspect(e, { colors: true }), /boom/);
            // A trace without such a frame keeps its mapping.
            Error.prepareStackTrace = (error: Error) => `${error}\n    at run (/p/node_modules/@pulumi/pulumi/cmd/run/run.ts:579:20)`;
            plainPromiseTraces();
            assert.equal(new Error("kept").stack, "Error: kept\n    at run (/p/node_modules/@pulumi/pulumi/cmd/run/run.ts:579:20)");
        } finally {
            Error.prepareStackTrace = saved;
        }
    });

    it("knows the frames Node 20's inspect loops on", () => {
        assert.equal(inspectLoopsOn("Error: x\n    at a (/p/node_modules/@pulumi/resource.ts:1598:22)"), true);
        assert.equal(inspectLoopsOn("Error: x\n    at a (/p/node_modules/foo.js:1:2)"), true);
        assert.equal(inspectLoopsOn("Error: x\n    at a (/p/node_modules/@pulumi/pulumi/resource.js:1:2)"), false);
        assert.equal(inspectLoopsOn("Error: x\n    at a (/p/node_modules/typescript/lib/ts.js:1:2)"), false);
        assert.equal(inspectLoopsOn("Error: x\n    at a (/p/index.ts:3:9)"), false);
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
