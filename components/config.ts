/**
 * Stack configuration: every knob, its default and why, validated with zod before any resource exists.
 * `parseConfig` is pure (raw objects in, typed settings or one error listing every problem out) so
 * that bad input is tested without an engine; `index.ts` feeds it from `pulumi.Config`.
 */
import { z } from "zod";
import { executableMigrationIds, knownReleases, latestRelease, type PackageName } from "./catalog";
import { plan } from "./plan";

export const CONFIG_NAMESPACE = "st2-upgrade";

const RELEASES = knownReleases();
const PACKAGES: readonly PackageName[] = ["st2", "st2web", "st2chatops", "st2mistral", "bwc-enterprise", "st2enterprise"];

/** A good value for each key, quoted in errors so the fix is one copy away. */
const EXAMPLES: Record<string, string> = {
    targetVersion: `"${latestRelease()}"`,
    hosts: `[{ name: st2-a, address: 10.0.0.11, user: stackstorm }]`,
    "hosts[].name": `"st2-a" (letters, digits and dashes: it names Pulumi resources)`,
    "hosts[].address": `"10.0.0.11" or "st2-a.example.com"`,
    "hosts[].port": `22`,
    "hosts[].user": `"stackstorm" (a user with passwordless sudo)`,
    "hosts[].packageManager": `"apt" or "yum"`,
    "hosts[].currentVersion": `"3.8.1" (what \`st2 --version\` prints on the host)`,
    "hosts[].packages": `["st2", "st2web", "st2chatops"]`,
    "hosts[].sshPrivateKey": `pulumi config set --secret --path 'hosts[0].sshPrivateKey' < key`,
    sshPrivateKey: `pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519`,
    sshPrivateKeyPath: `"~/.ssh/id_ed25519"`,
    "skipMigrations[]": `"2.3-notifier-queue" (after deleting the queue by hand)`,
    "ssh.dialAttempts": `3`,
    "ssh.dialTimeoutSeconds": `15`,
    "mistral.configFile": `"/etc/mistral/mistral.conf"`,
    "mistral.dbManage": `"/opt/stackstorm/mistral/bin/mistral-db-manage"`,
    "mistral.services": `["mistral-api", "mistral"]`,
    "rollout.batchSize": `2`,
    "rollout.stopOnFirstFailure": `true`,
    "backup.dir": `"/var/backups/st2-upgrade"`,
    "backup.keep": `3`,
    "backup.extraPaths": `["/var/lib/mongodb-dumps"]`,
    "preflight.minFreeMb": `1024`,
    "timeouts.step": `600`,
    "timeouts.packages": `1800`,
    "timeouts.mistralDb": `1800`,
    "timeouts.migration": `3600`,
    "verify.smokeCommand": `"st2 run core.local -- date -R"`,
    "verify.settleSeconds": `60`,
};

const absolutePath = z.string().regex(/^\/[^\0\n]*$/, { error: "must be an absolute path" });
/** A whole number in [min, max]; one message for every way of missing it. */
const wholeNumber = (min: number, max: number) => {
    const error = `must be a whole number from ${min} to ${max}`;
    return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const seconds = (dflt: number) => wholeNumber(1, 86400).default(dflt);

const sshSchema = z
    .object({
        /** Dial attempts before a host counts as unreachable (the provider retries with backoff). */
        dialAttempts: wholeNumber(1, 100).default(3),
        /** Seconds one dial may take. */
        dialTimeoutSeconds: wholeNumber(1, 600).default(15),
    })
    .strict()
    .default({ dialAttempts: 3, dialTimeoutSeconds: 15 });

const hostSchema = z
    .object({
        name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/, {
            error: "must be 1-63 letters, digits or dashes, starting with a letter or digit",
        }),
        address: z.string().regex(/^[a-zA-Z0-9]([a-zA-Z0-9.:-]*[a-zA-Z0-9])?$/, {
            error: "must be an IP address or a DNS name",
        }),
        port: wholeNumber(1, 65535).default(22),
        user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, { error: "must be a Unix user name" }),
        /**
         * The host's facts (components/facts.ts) say what the host runs; these three keys are optional
         * assertions checked against them before any step: a mismatch stops the run with both values.
         */
        /** Package manager of the host's distribution: apt (Debian, Ubuntu) or yum (RHEL, CentOS, Rocky). */
        packageManager: z.enum(["apt", "yum"], { error: 'must be "apt" or "yum"' }).optional(),
        /** The release the host runs now (or ran when this stack upgraded it). */
        currentVersion: z
            .enum(RELEASES as [string, ...string[]], {
                error: (iss) => `${JSON.stringify(iss.input)} is not a StackStorm release the catalog knows`,
            })
            .optional(),
        /** Installed StackStorm packages. */
        packages: z.array(z.enum(PACKAGES as [PackageName, ...PackageName[]])).min(1).optional(),
        /** Per-host key, overriding `sshPrivateKey`; set it as a secret. */
        sshPrivateKey: z.string().optional(),
    })
    .strict();

const configSchema = z
    .object({
        /** The release every host is upgraded to. */
        targetVersion: z.enum(RELEASES as [string, ...string[]], {
            error: (iss) =>
                iss.input === undefined
                    ? "is required"
                    : `${JSON.stringify(iss.input)} is not a StackStorm release the catalog knows`,
        }),
        hosts: z.array(hostSchema, { error: (iss) => (iss.input === undefined ? "is required" : "must be a list of hosts") }).min(1, {
            error: "must list at least one host",
        }),
        /** Private key for every host (a Pulumi secret). */
        sshPrivateKey: z.string().optional(),
        /** Or a path to the key on the machine running Pulumi; the key is read and kept secret. */
        sshPrivateKeyPath: z.string().min(1).optional(),
        /** Migrations done by hand, by id (see components/catalog/releases.ts); shown as skipped, never run. */
        skipMigrations: z.array(z.string()).default([]),
        ssh: sshSchema,
        mistral: z
            .object({
                configFile: absolutePath.default("/etc/mistral/mistral.conf"),
                dbManage: absolutePath.default("/opt/stackstorm/mistral/bin/mistral-db-manage"),
                /** Stopped before the DB upgrade, in this order; started again by `st2ctl start`. */
                services: z.array(z.string().regex(/^[a-zA-Z0-9@._-]+$/, { error: "must be a service name" })).default(["mistral-api", "mistral"]),
            })
            .strict()
            .default({ configFile: "/etc/mistral/mistral.conf", dbManage: "/opt/stackstorm/mistral/bin/mistral-db-manage", services: ["mistral-api", "mistral"] }),
        rollout: z
            .object({
                /** Hosts upgraded at once; batch k+1 starts only after every host of batch k verified. */
                batchSize: wholeNumber(1, 1000).default(1),
                /**
                 * When true, no host of a batch stops its services until every host of that batch has
                 * passed preflight, fetched its packages and made its backup.
                 */
                stopOnFirstFailure: z.boolean({ error: "must be true or false" }).default(true),
            })
            .strict()
            .default({ batchSize: 1, stopOnFirstFailure: true }),
        backup: z
            .object({
                dir: absolutePath.default("/var/backups/st2-upgrade"),
                /** Backups kept per host; older ones are removed after a new one succeeds. */
                keep: wholeNumber(1, 100).default(3),
                /** More paths to copy into each backup (for example a MongoDB dump folder). */
                extraPaths: z.array(absolutePath).default([]),
            })
            .strict()
            .default({ dir: "/var/backups/st2-upgrade", keep: 3, extraPaths: [] }),
        preflight: z
            .object({
                /** Free space needed under the package cache and the backup folder. */
                minFreeMb: wholeNumber(0, 1048576).default(1024),
            })
            .strict()
            .default({ minFreeMb: 1024 }),
        /** Seconds after which a step is killed on the host (a hung remote command is never killed otherwise). */
        timeouts: z
            .object({
                step: seconds(600),
                packages: seconds(1800),
                mistralDb: seconds(1800),
                migration: seconds(3600),
            })
            .strict()
            .default({ step: 600, packages: 1800, mistralDb: 1800, migration: 3600 }),
        verify: z
            .object({
                /** StackStorm has no health endpoint: a real action run proves the services work together. */
                smokeCommand: z.string().min(1).default("st2 run core.local -- date -R"),
                /** How long verification retries while services settle after start. */
                settleSeconds: wholeNumber(0, 3600).default(60),
            })
            .strict()
            .default({ smokeCommand: "st2 run core.local -- date -R", settleSeconds: 60 }),
    })
    .strict();

export type HostConfig = z.infer<typeof hostSchema>;
export type UpgradeConfig = z.infer<typeof configSchema>;
export type Settings = Omit<UpgradeConfig, "hosts" | "targetVersion" | "sshPrivateKey" | "sshPrivateKeyPath">;

/** Bad configuration: the message lists every problem, one per line, with the key and an example. */
export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid st2-upgrade configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

function keyOf(path: readonly PropertyKey[]): string {
    return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");
}

function problem(path: readonly PropertyKey[], message: string): string {
    const example = EXAMPLES[keyOf(path).replace(/\[\d+\]/g, "[]")];
    return `${CONFIG_NAMESPACE}:${keyOf(path)} ${message}${example ? `. Example: ${example}` : ""}`;
}

/** Parses `raw` with `schema`, or throws ConfigError with every issue named by its key under `prefix`. */
function validate<S extends z.ZodType>(schema: S, raw: unknown, prefix: readonly PropertyKey[]): z.output<S> {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    throw new ConfigError(
        parsed.error.issues.map((iss) => {
            const path = [...prefix, ...iss.path];
            if (iss.code === "unrecognized_keys") {
                return iss.keys.map((k) => problem([...path, k], "is not a known setting (a typo?)")).join("\n  ");
            }
            return problem(path, iss.message);
        }),
    );
}

/** The `ssh` settings alone, for stacks that only roll content over. */
export function parseSshSettings(raw: unknown): UpgradeConfig["ssh"] {
    return validate(sshSchema, raw, ["ssh"]);
}

/** Validates raw stack configuration. Throws ConfigError naming every bad key. */
export function parseConfig(raw: Record<string, unknown>): UpgradeConfig {
    const config = validate(configSchema, raw, []);
    const problems: string[] = [];
    const known = new Set(executableMigrationIds());
    config.skipMigrations.forEach((id, i) => {
        if (!known.has(id)) problems.push(problem(["skipMigrations", i], `"${id}" is not a migration the catalog runs`));
    });
    const names = new Set<string>();
    config.hosts.forEach((host, i) => {
        if (names.has(host.name)) problems.push(problem(["hosts", i, "name"], `"${host.name}" names two hosts: names must be unique`));
        names.add(host.name);
        // Without a configured version the facts decide, and components/facts.ts checks the plan then.
        if (host.currentVersion === undefined) return;
        try {
            plan(host.currentVersion, config.targetVersion, host.packages, config.skipMigrations);
        } catch (e) {
            problems.push(problem(["hosts", i, "currentVersion"], `cannot be upgraded: ${(e as Error).message}`));
        }
    });
    const keyless = config.hosts.filter((h) => !h.sshPrivateKey).map((h) => h.name);
    if (keyless.length && !config.sshPrivateKey && !config.sshPrivateKeyPath) {
        problems.push(problem(["sshPrivateKey"], `(or sshPrivateKeyPath) is required: ${keyless.join(", ")} ${keyless.length > 1 ? "have" : "has"} no key of ${keyless.length > 1 ? "their" : "its"} own`));
    }
    if (config.sshPrivateKey && config.sshPrivateKeyPath) {
        problems.push(problem(["sshPrivateKeyPath"], "must not be set together with sshPrivateKey: choose one"));
    }
    for (const [key, value] of [["sshPrivateKey", config.sshPrivateKey], ...config.hosts.map((h, i) => [`hosts[${i}].sshPrivateKey`, h.sshPrivateKey])]) {
        if (value && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
            // Never echo the value: it may be a real secret pasted in the wrong place.
            problems.push(`${CONFIG_NAMESPACE}:${key} is not a PEM or OpenSSH private key (no "-----BEGIN ... PRIVATE KEY-----" line)`);
        }
    }
    if (problems.length) throw new ConfigError(problems);
    return config;
}
