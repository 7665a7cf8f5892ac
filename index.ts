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
import { CONFIG_NAMESPACE, ConfigError, deprecationWarnings, parseConfig, parseSshSettings } from "./components/config";
import { planHosts } from "./components/facts";
import { StackStormFleet } from "./components/fleet";
import { parseKnownHosts, pinHostKeys, pinVerdict, type KnownHosts } from "./components/hostkeys";
import { runError } from "./components/run-error";
import { readStackConfig } from "./components/stack-config";
import { plainPromiseTraces } from "./components/stack-traces";

plainPromiseTraces();

function readKey(file: string): string {
    const resolved = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
    try {
        return fs.readFileSync(resolved, "utf8");
    } catch (e) {
        throw new Error(`${CONFIG_NAMESPACE}:sshPrivateKeyPath: cannot read ${resolved}: ${(e as Error).message}`);
    }
}

/** `ssh.knownHostsFile`, read before any host is contacted. */
function readKnownHosts(file: string): KnownHosts {
    const resolved = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
    try {
        return parseKnownHosts(fs.readFileSync(resolved, "utf8"), file);
    } catch (e) {
        throw new ConfigError([`${CONFIG_NAMESPACE}:ssh.knownHostsFile: cannot read ${resolved}: ${(e as Error).message}. Example: "~/.ssh/known_hosts"`]);
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
    if (cfg) for (const w of deprecationWarnings(raw)) pulumi.log.warn(w);
    const keyText = (raw.sshPrivateKey as string | undefined) ?? (raw.sshPrivateKeyPath ? readKey(raw.sshPrivateKeyPath as string) : undefined);
    const defaultKey = keyText === undefined ? undefined : pulumi.secret(keyText);
    const ssh = cfg?.ssh ?? parseSshSettings(raw.ssh);
    const knownHosts = ssh.knownHostsFile === undefined ? undefined : readKnownHosts(ssh.knownHostsFile);

    // Host keys are pinned before any host is contacted: the fact read and every step check them.
    const pins = cfg ? pinHostKeys(cfg.hosts.map((h, i) => ({ name: h.name, address: h.address, port: h.port, hostKey: h.hostKey, key: `hosts[${i}]` })), knownHosts) : undefined;
    if (cfg && pins) {
        const verdict = pinVerdict(pins, ssh.requireHostKey);
        if (verdict.errors.length) throw new ConfigError(verdict.errors);
        if (verdict.warning) pulumi.log.warn(verdict.warning);
        cfg.hosts = cfg.hosts.map((h) => {
            const pinned = pins.pinned.get(h.name);
            return pinned ? { ...h, hostKey: pinned.text } : h;
        });
    }

    // Each host is read once, read-only, before anything is planned (components/facts.ts).
    const planned = cfg ? await planHosts(cfg, "st2", keyText, pins?.pinned) : undefined;
    const fleet = cfg && planned
        ? new StackStormFleet("st2", {
              hosts: planned.hosts,
              targetVersion: cfg.targetVersion,
              facts: planned.facts,
              privateKey: defaultKey,
              hostKeys: Object.fromEntries(cfg.hosts.filter((h) => h.sshPrivateKey).map((h) => [h.name, pulumi.secret(h.sshPrivateKey!)])),
              settings: cfg,
          })
        : undefined;
    const rollover =
        rolloverRaw === undefined && awsRaw === undefined
            ? undefined
            : (await import("./components/rollover/stack")).rolloverStack({ rollover: rolloverRaw, aws: awsRaw, defaultKey, ssh, knownHosts });

    // Only what this stack does: an undefined output would only draw a warning.
    return {
        ...(cfg && fleet ? { targetVersion: cfg.targetVersion, batches: fleet.batches, rollout: fleet.rollout, hosts: fleet.report } : {}),
        ...(rollover?.report ? { rollover: rollover.report } : {}),
    };
}
