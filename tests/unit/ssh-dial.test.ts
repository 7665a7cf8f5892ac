// The SSH dial defaults against the real pulumi-command 1.2.1 provider's retry loop, so that a step
// rides out an sshd restart of 10 s instead of failing the host.
//
// Source: pulumi/pulumi-command v1.2.1, provider/pkg/provider/remote/connection.go (dialWithRetry,
// reachedDialingErrorLimit): every failed dial is retried through retry.Until of
// github.com/pulumi/pulumi/sdk/v3/go/common/util/retry (until.go: DefaultDelay 100 ms,
// DefaultBackoff 1.5, DefaultMaxDelay 5 s), and it gives up when `dials > dialErrorLimit`, i.e.
// after dialErrorLimit retries. A refused dial (sshd down, host up) fails at once, so the time a
// host may be without sshd is the sum of the waits between dials.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSshSettings } from "../../components/config";

const FIRST_DELAY_S = 0.1;
const BACKOFF = 1.5;
const MAX_DELAY_S = 5;

/** Seconds the real provider waits in all before giving up, with dialErrorLimit = limit. */
export function dialWindowSeconds(limit: number): number {
    let total = 0;
    let delay = FIRST_DELAY_S;
    for (let dials = 1; dials <= limit; dials++) {
        total += Math.min(delay, MAX_DELAY_S);
        delay *= BACKOFF;
    }
    return total;
}

describe("SSH dial defaults (ssh.dialAttempts -> dialErrorLimit)", () => {
    it("reproduces the real back-off: the old default 3 gave up after 0.475 s of waiting", () => {
        assert.ok(Math.abs(dialWindowSeconds(3) - 0.475) < 1e-9, String(dialWindowSeconds(3)));
        // The cap: from the 10th retry on, each wait is 5 s.
        assert.ok(Math.abs(dialWindowSeconds(11) - dialWindowSeconds(10) - MAX_DELAY_S) < 1e-9);
    });

    it("the default rides out a 10 s sshd restart, and is the smallest that does", () => {
        const limit = parseSshSettings(undefined).dialAttempts;
        assert.ok(dialWindowSeconds(limit) >= 10, `dialErrorLimit ${limit} waits ${dialWindowSeconds(limit)} s`);
        assert.ok(dialWindowSeconds(limit - 1) < 10, `dialErrorLimit ${limit - 1} would do: ${dialWindowSeconds(limit - 1)} s`);
        assert.equal(limit, 10);
        assert.ok(Math.abs(dialWindowSeconds(limit) - 11.3330078125) < 1e-9, String(dialWindowSeconds(limit)));
    });
});
