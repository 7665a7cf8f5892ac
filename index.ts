/**
 * st2-upgrade: upgrades the StackStorm hosts of the stack configuration to `targetVersion`.
 *
 *   pulumi preview --diff   shows, per host, every step and the exact script it will run
 *   pulumi up               runs them, batch by batch; a second `up` at the same target runs nothing
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, parseConfig, type UpgradeConfig } from "./components/config";
import { StackStormFleet } from "./components/fleet";

const KEYS = [
    "targetVersion", "hosts", "sshPrivateKey", "sshPrivateKeyPath", "skipMigrations", "ssh", "mistral",
    "rollout", "backup", "preflight", "timeouts", "verify",
] as const;

function readConfig(): UpgradeConfig {
    const config = new pulumi.Config(CONFIG_NAMESPACE);
    const raw: Record<string, unknown> = {};
    for (const key of KEYS) {
        // Plain `get` even for secrets: the value is validated here, then only ever used wrapped in pulumi.secret.
        const value = config.get(key);
        if (value === undefined) continue;
        try {
            raw[key] = key === "targetVersion" || key.startsWith("sshPrivateKey") ? value : JSON.parse(value);
        } catch {
            raw[key] = value;
        }
    }
    return parseConfig(raw);
}

function readKey(file: string): string {
    const resolved = path.resolve(file.replace(/^~(?=$|\/)/, os.homedir()));
    try {
        return fs.readFileSync(resolved, "utf8");
    } catch (e) {
        throw new Error(`${CONFIG_NAMESPACE}:sshPrivateKeyPath: cannot read ${resolved}: ${(e as Error).message}`);
    }
}

const cfg = readConfig();
const defaultKey = cfg.sshPrivateKey ?? (cfg.sshPrivateKeyPath ? readKey(cfg.sshPrivateKeyPath) : undefined);
const fleet = new StackStormFleet("st2", {
    hosts: cfg.hosts,
    targetVersion: cfg.targetVersion,
    privateKey: defaultKey === undefined ? undefined : pulumi.secret(defaultKey),
    hostKeys: Object.fromEntries(cfg.hosts.filter((h) => h.sshPrivateKey).map((h) => [h.name, pulumi.secret(h.sshPrivateKey!)])),
    settings: cfg,
});

export const targetVersion = cfg.targetVersion;
export const batches = fleet.batches;
export const hosts = fleet.report;
