/**
 * How the program's errors reach the operator: as pulumi.RunError, whose message the engine prints
 * as it is, without a stack.
 *
 * Why not a plain throw: @pulumi/pulumi's handler of a program's uncaught error formats it with
 * `util.inspect(err, { colors: true })`, and on Node 20.20 that loops, growing memory until a
 * string is too long, on a stack frame whose `node_modules/@scope/` is followed by a file name
 * (nodejs/node#64011, fixed by nodejs/node#64022). Every error thrown by this program has such a
 * frame: the source-mapped `…/node_modules/@pulumi/resource.ts` of Stack.initializeAndRegisterOutputs.
 * A preview whose host could not be read spent minutes there (measured: 217 s of 230 s on a busy
 * 2-core machine) before printing the one-line reason.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError } from "./config";
import { FactsError } from "./facts";

/** The error as the operator should read it: the message of the errors we raise on purpose, the stack of any other. */
export function runError(e: unknown): pulumi.RunError {
    if (pulumi.RunError.isInstance(e)) return e;
    if (e instanceof ConfigError || e instanceof FactsError) return new pulumi.RunError(e.message);
    if (e instanceof Error) {
        // ours name the config key they are about; anything else is a bug: keep where it happened
        return new pulumi.RunError(e.message.startsWith(`${CONFIG_NAMESPACE}:`) ? e.message : (e.stack ?? e.message));
    }
    return new pulumi.RunError(`st2-upgrade failed: ${String(e)}`);
}
