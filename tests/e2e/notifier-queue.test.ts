// End to end, the 2.3 notifier queue (st2docs upgrade notes v2.3; st2 #3622) on a lab host with the
// RabbitMQ fake (lab/double/src/rabbitmq/rmqfake.py): notifications still waiting in
// st2.notifiers.work stop the upgrade before anything changes; a RabbitMQ error at the migration
// leaves it undone (no marker), so the next run deletes the queue.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inventory } from "../../lab/support/inventory";
import { sshRun, type LabHost } from "../../lab/support/lab";
import { assertNothingLost, labConfig, labSuite, show } from "../../lab/support/program";

const MINUTES = 60_000;
const MARKER = "/var/lib/st2-upgrade/migrations/2.3-notifier-queue";

/** The RabbitMQ fake's queues, name -> ready messages, as the host's inventory reads them. */
function queues(host: LabHost): Record<string, number> {
    const rabbitmq = (inventory(host) as unknown as { rabbitmq: { queues: { name: string; messages: number }[] } | null }).rabbitmq;
    assert.ok(rabbitmq, `${host.name} has no RabbitMQ fake`);
    return Object.fromEntries(rabbitmq.queues.map((q) => [q.name, q.messages]));
}

describe("2.2.0 -> 3.0.1 across the 2.3 notifier queue", { timeout: 30 * MINUTES }, () => {
    const lab = labSuite({ hosts: 1, version: "2.2.0", prefix: "hh" }, (hosts) => labConfig(hosts, { targetVersion: "3.0.1" }));

    it("refuses while the queue holds notifications, before any service stops", () => {
        assert.deepEqual(queues(lab.hosts[0]), { "st2.notifiers.work": 0 }, "the 2.2 notifier declared and drains its queue");
        // The notifier stops (its process dies); two executions later its queue holds their updates.
        const stopped = sshRun(lab.hosts[0], `sudo kill "$(pgrep -f 'st2notifie[r]' | head -n 1)" && sudo st2 run core.local -- true && sudo st2 run core.local -- true`);
        assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
        const waiting = queues(lab.hosts[0])["st2.notifiers.work"];
        assert.ok(waiting > 0, `updates wait in st2.notifiers.work: ${waiting}`);

        const r = lab.stack.up();
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, new RegExp(`\\[st2-upgrade hh1/preflight\\] ERROR: RabbitMQ queue st2\\.notifiers\\.work holds ${waiting} message\\(s\\): let st2notifier drain it`));
        assert.deepEqual(r.ran, [], "nothing ran: preflight failed");
        assert.match(sshRun(lab.hosts[0], "st2 --version 2>&1").stdout, /^st2 2\.2\.0/);
    });

    it("fails at the migration while RabbitMQ is down, writes no marker, and deletes the queue on the next run", () => {
        const before = inventory(lab.hosts[0]);
        // The notifier runs again and drains its queue; a fault stops the run after the 3.0.1 packages,
        // before the migrations, so the next run starts there with RabbitMQ down.
        const started = sshRun(lab.hosts[0], "sudo st2ctl start >/dev/null && sleep 3 && sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/migration-fail-mistral-db-manage");
        assert.equal(started.code, 0, started.stderr);
        assert.deepEqual(queues(lab.hosts[0]), { "st2.notifiers.work": 0 });
        const first = lab.stack.up();
        assert.notEqual(first.code, 0, show(first));
        assert.match(first.stdout + first.stderr, /\[st2-upgrade hh1\/mistral-db-3\.0\.1\] ERROR: /);

        // The double's fault file rabbitmq-down stops the fake's node (lab/double/README.md).
        const fault = "/etc/st2-double/faults/rabbitmq-down";
        sshRun(lab.hosts[0], `sudo touch ${fault}`);
        let down;
        try {
            down = lab.stack.up();
        } finally {
            sshRun(lab.hosts[0], `sudo rm -f ${fault}`);
        }
        assert.notEqual(down.code, 0, show(down));
        assert.match(down.stdout + down.stderr, /\[st2-upgrade hh1\/migrate-2\.3-notifier-queue\] ERROR: deleting the RabbitMQ queue st2\.notifiers\.work failed \(rabbitmqadmin: \*\*\* Could not connect: \[Errno 111\] Connection refused\); is RabbitMQ running\?/);
        assert.equal(sshRun(lab.hosts[0], `sudo test -e ${MARKER}`).code, 1, "no done-marker after the failure");
        assert.ok("st2.notifiers.work" in queues(lab.hosts[0]), "the queue is still there");

        const done = lab.stack.up();
        assert.equal(done.code, 0, show(done));
        assert.equal(done.ran[0], "st2-hh1-migrate-2.3-notifier-queue", `resumes at the failed migration: ${done.ran.join(", ")}`);
        assert.match(done.stdout, /deleted queue st2\.notifiers\.work/);
        assert.equal(sshRun(lab.hosts[0], `sudo test -e ${MARKER}`).code, 0, "marked done");
        // The 3.0.1 notifier consumes the new queue; the old one is gone for good.
        assert.deepEqual(Object.keys(queues(lab.hosts[0])), ["st2.notifiers.execution.work"]);
        assertNothingLost(lab.hosts[0], before, inventory(lab.hosts[0]));
    });
});
