/**
 * st2-upgrade: upgrades the StackStorm hosts of the stack configuration to `targetVersion`, and
 * rolls content over to a fresh instance when `rollover` is set (docs/rollover.md).
 *
 *   pulumi preview --diff   shows, per host, every step and the exact script it will run
 *   pulumi up               runs them, batch by batch; a second `up` at the same target runs nothing
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, parseConfig, parseSshSettings } from "./components/config";
import { planHosts } from "./components/facts";
import { StackStormFleet } from "./components/fleet";
import { runError } from "./components/run-error";
import { readStackConfig } from "./components/stack-config";

function readKey(file: string): string {
    const resolved = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
    try {
        return fs.readFileSync(resolved, "utf8");
    } catch (e) {
        throw new Error(`${CONFIG_NAMESPACE}:sshPrivateKeyPath: cannot read ${resolved}: ${(e as Error).message}`);
    }
}

// Every error ends the run as a RunError: printed as it is, and at once (components/run-error.ts).
export = async () => {
    try {
        return await program();
    } catch (e) {
        throw runError(e);
    }
};

async function program() {
    const { upgrade: raw, rollover: rolloverRaw, aws: awsRaw } = await readStackConfig();

    // The AWS and roll-over modules (and @pulumi/aws, a large package to load and type-check) are
    // loaded only by stacks that use them.
    if (awsRaw !== undefined) {
        const { parseAwsConfig } = await import("./components/aws/config");
        const discovery = parseAwsConfig(awsRaw).discovery;
        if (discovery) {
            const { discoverHosts } = await import("./components/aws/discovery");
            raw.hosts = [...((raw.hosts as unknown[] | undefined) ?? []), ...(await discoverHosts(discovery))];
        }
    }

    // A stack may only roll content over; otherwise it upgrades hosts in place.
    const upgrading = rolloverRaw === undefined || raw.targetVersion !== undefined || raw.hosts !== undefined;
    const cfg = upgrading ? parseConfig(raw) : undefined;
    const keyText = (raw.sshPrivateKey as string | undefined) ?? (raw.sshPrivateKeyPath ? readKey(raw.sshPrivateKeyPath as string) : undefined);
    const defaultKey = keyText === undefined ? undefined : pulumi.secret(keyText);

    // Each host is read once, read-only, before anything is planned (components/facts.ts).
    const planned = cfg ? await planHosts(cfg, "st2", keyText) : undefined;
    const fleet = cfg && planned
        ? new StackStormFleet("st2", {
              hosts: planned.hosts,
              facts: planned.facts,
              targetVersion: cfg.targetVersion,
              privateKey: defaultKey,
              hostKeys: Object.fromEntries(cfg.hosts.filter((h) => h.sshPrivateKey).map((h) => [h.name, pulumi.secret(h.sshPrivateKey!)])),
              settings: cfg,
          })
        : undefined;
    const rollover =
        rolloverRaw === undefined && awsRaw === undefined
            ? undefined
            : (await import("./components/rollover/stack")).rolloverStack({ rollover: rolloverRaw, aws: awsRaw, defaultKey, ssh: cfg?.ssh ?? parseSshSettings(raw.ssh) });

    // Only what this stack does: an undefined output would only draw a warning.
    return {
        ...(cfg && fleet ? { targetVersion: cfg.targetVersion, batches: fleet.batches, hosts: fleet.report } : {}),
        ...(rollover?.report ? { rollover: rollover.report } : {}),
    };
}
