// Assertions on configuration errors, shared by the config tests of every section.
import assert from "node:assert/strict";
import { ConfigError } from "../../components/config";

/** Asserts that `fn` throws a ConfigError with exactly these problems, in this order. */
export function rejectsConfig(fn: () => unknown, problems: readonly string[]): void {
    assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        assert.deepEqual(e.problems, problems);
        assert.equal(e.message, `invalid st2-upgrade configuration:\n  ${problems.join("\n  ")}`);
        return true;
    });
}
