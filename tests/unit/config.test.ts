import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../components/config";
import { rejectsConfig } from "../support/config";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const host = { name: "st2-a", address: "10.0.0.11", user: "stackstorm", currentVersion: "2.0.1" };
const good = { targetVersion: "3.9.0", hosts: [host], sshPrivateKey: KEY };

/** Asserts that `raw` is rejected with exactly these problems, in this order. */
const rejects = (raw: Record<string, unknown>, problems: string[]) => rejectsConfig(() => parseConfig(raw), problems);

describe("config", () => {
    it("fills every default of a minimal config", () => {
        const c = parseConfig(good);
        // packageManager has no default any more: the host's facts say which it has.
        assert.deepEqual(c.hosts[0], { ...host, port: 22 });
        assert.deepEqual(c.rollout, { batchSize: 1, prepareBatchBeforeStop: true });
        assert.deepEqual(c.backup, { dir: "/var/backups/st2-upgrade", keep: 3, extraPaths: [] });
        assert.deepEqual(c.mistral, { configFile: "/etc/mistral/mistral.conf", dbManage: "/opt/stackstorm/mistral/bin/mistral-db-manage", services: ["mistral-api", "mistral"] });
        assert.deepEqual(c.timeouts, { step: 600, packages: 1800, mistralDb: 1800, migration: 3600 });
        assert.deepEqual(c.verify, { smokeCommand: "st2 run core.local -- date -R", settleSeconds: 60 });
        assert.deepEqual(c.ssh, { dialAttempts: 10, dialTimeoutSeconds: 15, requireHostKey: false });
        assert.deepEqual(c.skipMigrations, []);
    });

    it("rejects an empty config, naming both required keys", () => {
        rejects({}, [
            'st2-upgrade:targetVersion is required. Example: "3.9.0"',
            'st2-upgrade:hosts is required. Example: [{ name: st2-a, address: 10.0.0.11, user: stackstorm }]',
        ]);
    });

    it("rejects an unknown target version", () => {
        rejects({ ...good, targetVersion: "3.10.0" }, ['st2-upgrade:targetVersion "3.10.0" is not a StackStorm release the catalog knows. Example: "3.9.0"']);
    });

    it("rejects an empty host list", () => {
        rejects({ ...good, hosts: [] }, [
            'st2-upgrade:hosts must list at least one host. Example: [{ name: st2-a, address: 10.0.0.11, user: stackstorm }]',
        ]);
    });

    it("rejects a host name that cannot name a resource", () => {
        rejects({ ...good, hosts: [{ ...host, name: "st2 a" }] }, [
            'st2-upgrade:hosts[0].name must be 1-63 letters, digits or dashes, starting with a letter or digit. Example: "st2-a" (letters, digits and dashes: it names Pulumi resources)',
        ]);
    });

    it("rejects an empty address and a port out of range", () => {
        rejects({ ...good, hosts: [{ ...host, address: "", port: 70000 }] }, [
            'st2-upgrade:hosts[0].address must be an IP address or a DNS name. Example: "10.0.0.11" or "st2-a.example.com"',
            "st2-upgrade:hosts[0].port must be a whole number from 1 to 65535. Example: 22",
        ]);
    });

    it("rejects a port given as text", () => {
        rejects({ ...good, hosts: [{ ...host, port: "22" }] }, ["st2-upgrade:hosts[0].port must be a whole number from 1 to 65535. Example: 22"]);
    });

    it("rejects an unknown package manager", () => {
        rejects({ ...good, hosts: [{ ...host, packageManager: "dnf" }] }, [
            'st2-upgrade:hosts[0].packageManager must be "apt" or "yum". Example: "apt" or "yum"',
        ]);
    });

    it("rejects a current version the catalog does not know", () => {
        rejects({ ...good, hosts: [{ ...host, currentVersion: "2.0" }] }, [
            'st2-upgrade:hosts[0].currentVersion "2.0" is not a StackStorm release the catalog knows. Example: "3.8.1" (what `st2 --version` prints on the host)',
        ]);
    });

    it("leaves a target below the asserted version to the host's backups, still refusing unknown releases", () => {
        // A lower target is a restore (facts.ts resolveHosts decides it from the host's backups).
        assert.equal(parseConfig({ ...good, targetVersion: "2.2.0", hosts: [{ ...host, currentVersion: "3.0.1" }] }).targetVersion, "2.2.0");
        assert.throws(() => parseConfig({ ...good, targetVersion: "2.2.7", hosts: [{ ...host, currentVersion: "3.0.1" }] }), /2\.2\.7/);
    });

    it("rejects duplicate host names", () => {
        rejects({ ...good, hosts: [host, { ...host, address: "10.0.0.12" }] }, [
            'st2-upgrade:hosts[1].name "st2-a" names two hosts: names must be unique. Example: "st2-a" (letters, digits and dashes: it names Pulumi resources)',
        ]);
    });

    it("rejects a misspelt setting", () => {
        rejects({ ...good, rollout: { batchsize: 2 } }, ["st2-upgrade:rollout.batchsize is not a known setting: did you mean st2-upgrade:rollout.batchSize?"]);
    });

    it("rejects a batch size of zero", () => {
        rejects({ ...good, rollout: { batchSize: 0 } }, ["st2-upgrade:rollout.batchSize must be a whole number from 1 to 1000. Example: 2"]);
    });

    it("rejects a relative backup folder", () => {
        rejects({ ...good, backup: { dir: "backups" } }, ['st2-upgrade:backup.dir must be an absolute path. Example: "/var/backups/st2-upgrade"']);
    });

    it("requires a key, and never both kinds", () => {
        rejects({ targetVersion: "3.9.0", hosts: [host] }, [
            'st2-upgrade:sshPrivateKey (or sshPrivateKeyPath) is required: st2-a has no key of its own. Example: pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519',
        ]);
        rejects({ ...good, sshPrivateKeyPath: "/root/.ssh/id" }, [
            'st2-upgrade:sshPrivateKeyPath must not be set together with sshPrivateKey: choose one. Example: "~/.ssh/id_ed25519"',
        ]);
    });

    it("rejects a key that is not a private key, without echoing it", () => {
        rejects({ ...good, sshPrivateKey: "hunter2" }, ['st2-upgrade:sshPrivateKey is not a PEM or OpenSSH private key (no "-----BEGIN ... PRIVATE KEY-----" line)']);
    });

    it("rejects skipping a migration that does not exist", () => {
        rejects({ ...good, skipMigrations: ["2.3-notifier"] }, [
            'st2-upgrade:skipMigrations[0] "2.3-notifier" is not a migration the catalog runs. Example: "2.3-notifier-queue" (after deleting the queue by hand)',
        ]);
    });

    it("rejects installed packages that the target cannot carry", () => {
        rejects({ ...good, targetVersion: "3.3.0", hosts: [{ ...host, currentVersion: "3.2.0", packages: ["st2", "bwc-enterprise"] }] }, [
            'st2-upgrade:hosts[0].currentVersion cannot be upgraded: cannot upgrade 3.2.0 -> 3.3.0 with bwc-enterprise installed: the enterprise edition ends with 3.2; target 3.2.0 or remove bwc-enterprise first. Example: "3.8.1" (what `st2 --version` prints on the host)',
        ]);
    });
});
