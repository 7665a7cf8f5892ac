/**
 * Stack configuration: every knob, its default and why, validated with zod before any resource exists.
 * `parseConfig` is pure (raw objects in, typed settings or one error listing every problem out) so
 * that bad input is tested without an engine; `index.ts` feeds it from `pulumi.Config`.
 */
import { z } from "zod";
import { executableMigrationIds, knownReleases, latestRelease, PACKAGE_NAMES, type OsRelease, type PackageName } from "./catalog";
import { parseHostKey } from "./hostkeys";
import { checkUpgrade, type UpgradePlan } from "./plan";

export const CONFIG_NAMESPACE = "st2-upgrade";

const RELEASES = knownReleases() as [string, ...string[]];

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
    "hosts[].hostKey": `"ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.11 prints after the address, its fingerprint checked on the host's console)`,
    sshPrivateKey: `pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519`,
    sshPrivateKeyPath: `"~/.ssh/id_ed25519"`,
    "skipMigrations[]": `"2.3-notifier-queue" (after deleting the queue by hand)`,
    "ssh.dialAttempts": `3`,
    "ssh.dialTimeoutSeconds": `15`,
    "ssh.knownHostsFile": `"~/.ssh/known_hosts" (OpenSSH format; hashed names too)`,
    "ssh.requireHostKey": `true`,
    "mistral.configFile": `"/etc/mistral/mistral.conf"`,
    "mistral.dbManage": `"/opt/stackstorm/mistral/bin/mistral-db-manage"`,
    "mistral.services": `["mistral-api", "mistral"]`,
    "rollout.batchSize": `2`,
    "rollout.prepareBatchBeforeStop": `true`,
    "rollout.stopOnFirstFailure": `true (deprecated: write rollout.prepareBatchBeforeStop)`,
    "rollout.throughBatch": `1 (upgrade batch 1 only, the canary; raise it to continue)`,
    "backup.dir": `"/var/backups/st2-upgrade"`,
    "backup.keep": `3`,
    "backup.extraPaths": `["/var/lib/mongodb-dumps"]`,
    "restore.acceptLoss": `true (after reading the counts preflight refused with)`,
    "preflight.minFreeMb": `1024`,
    "timeouts.step": `600`,
    "timeouts.packages": `1800`,
    "timeouts.mistralDb": `1800`,
    "timeouts.migration": `3600`,
    "verify.smokeCommand": `"st2 run core.local -- date -R"`,
    "verify.settleSeconds": `60`,
};

// Rules every section shares (rollover/config.ts and aws/config.ts use them too): one wording, one regex.

/** A string; "is required" when missing, `must be <what>` otherwise. */
export const str = (what: string) => z.string({ error: (iss) => (iss.input === undefined ? "is required" : `must be ${what}`) });
/** Text that must say something: blank text would be accepted and then mean nothing (or the default). */
export const nonBlank = (what: string) => str(what).refine((v) => v.trim() !== "", { error: "must not be blank" });
/** A whole number in [min, max]; one message for every way of missing it. */
export const wholeNumber = (min: number, max: number) => {
    const error = `must be a whole number from ${min} to ${max}`;
    return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
export const absolutePath = str("an absolute path").regex(/^\/[^\0\n]*$/, { error: "must be an absolute path" });
/** A host's name names Pulumi resources. */
export const hostName = str("a name").regex(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/, {
    error: "must be 1-63 letters, digits or dashes, starting with a letter or digit",
});
export const hostAddress = str("an IP address or a DNS name").regex(/^[a-zA-Z0-9]([a-zA-Z0-9.:-]*[a-zA-Z0-9])?$/, {
    error: "must be an IP address or a DNS name",
});
export const sshPort = wholeNumber(1, 65535).default(22);
export const unixUser = str("a Unix user name").regex(/^[a-z_][a-z0-9_-]*\$?$/, { error: "must be a Unix user name" });
export const packageManagerName = z.enum(["apt", "yum"], { error: 'must be "apt" or "yum"' });
/** A release of the catalog; `which` says whose (e.g. "the new host's") where a section has two. */
export const release = (which?: string) =>
    z.enum(RELEASES, {
        error: (iss) =>
            iss.input === undefined ? "is required" : `${JSON.stringify(iss.input)} is not a StackStorm release the catalog knows${which ? ` (${which})` : ""}`,
    });
/** An SSH private key, set as a secret; its content is checked by `privateKeyProblem`. */
export const privateKey = z.string({ error: "must be a private key (set it as a secret)" }).meta({ secret: true });

/**
 * The problem with a private key's text, or undefined. Never echoes the value: it may be a real
 * secret pasted in the wrong place.
 */
export function privateKeyProblem(path: readonly PropertyKey[], value: string | undefined): string | undefined {
    if (value === undefined || /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) return undefined;
    return `${CONFIG_NAMESPACE}:${keyOf(path)} is not a PEM or OpenSSH private key (no "-----BEGIN ... PRIVATE KEY-----" line)`;
}

/** A host's public SSH key, `ssh-ed25519 AAAA...` (authorized_keys form); checked by `hostKeyProblem`. */
export const hostKey = str("a public key in authorized_keys form");

/** The problem with a pinned host key's text, or undefined. */
export function hostKeyProblem(path: readonly PropertyKey[], value: string | undefined, examples: Readonly<Record<string, string>> = EXAMPLES): string | undefined {
    if (value === undefined) return undefined;
    const parsed = parseHostKey(value, keyOf(path));
    return "problem" in parsed ? configProblem(path, parsed.problem, examples) : undefined;
}

/** Seconds a step may take, at most a day. */
export const seconds = (dflt: number) => wholeNumber(1, 86400).default(dflt);
export const s3BucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: "must be an S3 bucket name" });

export const sshSchema = z
    .object({
        /**
         * The provider's dialErrorLimit: failed dials retried before a host counts as unreachable.
         * The real provider waits 0.1 s x1.5 per retry (capped at 5 s): 10 retries wait 11.3 s in all,
         * enough to ride out a 10 s sshd restart (3 gave up after 0.475 s). tests/unit/ssh-dial.test.ts.
         */
        dialAttempts: wholeNumber(1, 100).default(10),
        /** Seconds one dial may take. */
        dialTimeoutSeconds: wholeNumber(1, 600).default(15),
        /**
         * An OpenSSH known_hosts file on the machine running Pulumi: hosts without a `hostKey` of their
         * own are pinned to the key it has for their address (components/hostkeys.ts).
         */
        knownHostsFile: nonBlank("a path").optional(),
        /** A host without a pinned key is an error instead of a warning (preview and up refuse). */
        requireHostKey: z.boolean({ error: "must be true or false" }).default(false),
    })
    .strict()
    .default({ dialAttempts: 10, dialTimeoutSeconds: 15, requireHostKey: false });

const hostSchema = z
    .object({
        name: hostName,
        address: hostAddress,
        port: sshPort,
        user: unixUser,
        /**
         * The host's facts (components/facts.ts) say what the host runs; these three keys are optional
         * assertions checked against them before any step: a mismatch stops the run with both values.
         */
        /** Package manager of the host's distribution: apt (Debian, Ubuntu) or yum (RHEL, CentOS, Rocky). */
        packageManager: packageManagerName.optional(),
        /** The release the host runs now (or ran when this stack upgraded it). */
        currentVersion: release().optional(),
        /** Installed StackStorm packages. */
        packages: z
            .array(z.enum(PACKAGE_NAMES, { error: `must be one of ${PACKAGE_NAMES.join(", ")}` }), { error: "must be a list of package names" })
            .min(1, { error: "must list at least one package (or be left out)" })
            .optional(),
        /** Per-host key, overriding `sshPrivateKey`; set it as a secret. */
        sshPrivateKey: privateKey.optional(),
        /**
         * The host's public SSH key (`ssh-ed25519 AAAA...`): the fact read, every step and the
         * roll-over's pipes refuse a host presenting another. Overrides `ssh.knownHostsFile`.
         */
        hostKey: hostKey.optional(),
    })
    .strict();

const configSchema = z
    .object({
        /** The release every host is upgraded to. */
        targetVersion: release(),
        hosts: z.array(hostSchema, { error: (iss) => (iss.input === undefined ? "is required" : "must be a list of hosts") }).min(1, {
            error: "must list at least one host",
        }),
        /** Private key for every host (a Pulumi secret). */
        sshPrivateKey: privateKey.optional(),
        /** Or a path to the key on the machine running Pulumi; the key is read and kept secret. */
        sshPrivateKeyPath: nonBlank("a path").optional(),
        /** Migrations done by hand, by id (see components/catalog/releases.ts); shown as skipped, never run. */
        skipMigrations: z.array(str("a migration id"), { error: "must be a list of migration ids" }).default([]),
        ssh: sshSchema,
        mistral: z
            .object({
                configFile: absolutePath.default("/etc/mistral/mistral.conf"),
                dbManage: absolutePath.default("/opt/stackstorm/mistral/bin/mistral-db-manage"),
                /** Stopped before the DB upgrade, in this order; started again by `st2ctl start`. */
                services: z.array(str("a service name").regex(/^[a-zA-Z0-9@._-]+$/, { error: "must be a service name" }), { error: "must be a list of service names" }).default(["mistral-api", "mistral"]),
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
                prepareBatchBeforeStop: z.boolean({ error: "must be true or false" }).optional(),
                /** The old name of prepareBatchBeforeStop (it never stopped anything on a failure): still read, with a warning. */
                stopOnFirstFailure: z.boolean({ error: "must be true or false" }).optional(),
                /**
                 * The last batch this stack upgrades (a canary, an approval between batches): hosts of
                 * later batches are held, no step exists for them; raising it continues where it stopped.
                 * Unset: every batch.
                 */
                throughBatch: wholeNumber(1, 1000).optional(),
            })
            .strict()
            .superRefine((r, ctx) => {
                if (r.stopOnFirstFailure !== undefined && r.prepareBatchBeforeStop !== undefined && r.stopOnFirstFailure !== r.prepareBatchBeforeStop) {
                    ctx.addIssue({
                        code: "custom",
                        path: ["stopOnFirstFailure"],
                        message: `is the deprecated name of rollout.prepareBatchBeforeStop and contradicts it (${r.stopOnFirstFailure} vs ${r.prepareBatchBeforeStop}): remove it`,
                    });
                }
            })
            .transform(({ batchSize, prepareBatchBeforeStop, stopOnFirstFailure, throughBatch }) => ({
                batchSize,
                prepareBatchBeforeStop: prepareBatchBeforeStop ?? stopOnFirstFailure ?? true,
                ...(throughBatch !== undefined ? { throughBatch } : {}),
            }))
            .default({ batchSize: 1, prepareBatchBeforeStop: true }),
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
        restore: z
            .object({
                /**
                 * A restore (a target below what a host runs: back to its backup) loses the work done
                 * since that backup: keys written or changed, Mistral executions. Its preflight counts
                 * them and refuses, naming the counts, unless this is true.
                 */
                acceptLoss: z.boolean({ error: "must be true or false" }).default(false),
            })
            .strict()
            .default({ acceptLoss: false }),
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
                smokeCommand: nonBlank("a command").default("st2 run core.local -- date -R"),
                /** How long verification retries while services settle after start. */
                settleSeconds: wholeNumber(0, 3600).default(60),
            })
            .strict()
            .default({ smokeCommand: "st2 run core.local -- date -R", settleSeconds: 60 }),
    })
    .strict();

export type HostConfig = z.infer<typeof hostSchema>;
export type UpgradeConfig = z.infer<typeof configSchema>;
export type SshSettings = UpgradeConfig["ssh"];
export type Settings = Omit<UpgradeConfig, "hosts" | "targetVersion" | "sshPrivateKey" | "sshPrivateKeyPath">;

/** Bad configuration: the message lists every problem, one per line, with the key and an example. */
export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid st2-upgrade configuration:\n  ${problems.join("\n  ")}`);
        this.name = "ConfigError";
    }
}

/** `hosts[0].name` for ["hosts", 0, "name"]. */
export function keyOf(path: readonly PropertyKey[]): string {
    return path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");
}

/** One problem: `st2-upgrade:<key> <message>. Example: ...`, the example looked up in `examples`. */
export function configProblem(path: readonly PropertyKey[], message: string, examples: Readonly<Record<string, string>> = EXAMPLES): string {
    const example = examples[keyOf(path).replace(/\[\d+\]/g, "[]")];
    return `${CONFIG_NAMESPACE}:${keyOf(path)} ${message}${example ? `. Example: ${example}` : ""}`;
}

/**
 * Parses `raw` with `schema`, or throws ConfigError with every issue named by its key under `prefix`.
 * An unknown key is named with the closest known one when it looks like a typo of it.
 */
export function validate<S extends z.ZodType>(schema: S, raw: unknown, prefix: readonly PropertyKey[], examples: Readonly<Record<string, string>> = EXAMPLES): z.output<S> {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    throw new ConfigError(
        parsed.error.issues.map((iss) => {
            const path = [...prefix, ...iss.path];
            if (iss.code === "unrecognized_keys") {
                const known = Object.keys(objectShapeAt(schema, iss.path) ?? {});
                return iss.keys.map((k) => unknownKeyProblem([...path, k], known)).join("\n  ");
            }
            return configProblem(path, iss.message, examples);
        }),
    );
}

/** The problem of a key no schema has, with a "did you mean" when one known key is a likely typo of it. */
export function unknownKeyProblem(path: readonly PropertyKey[], known: readonly string[]): string {
    const key = String(path[path.length - 1]);
    const near = closest(key, known);
    const parent = keyOf(path.slice(0, -1));
    const name = (k: string) => `${CONFIG_NAMESPACE}:${parent ? `${parent}.` : ""}${k}`;
    return near
        ? `${name(key)} is not a known setting: did you mean ${name(near)}?`
        : `${name(key)} is not a known setting (a typo?). Known settings here: ${known.join(", ")}`;
}

/** The known word within two edits of `word` (case ignored), when exactly one is nearest. */
export function closest(word: string, known: readonly string[]): string | undefined {
    const scored = known.map((k) => ({ k, d: editDistance(word.toLowerCase(), k.toLowerCase()) })).filter((x) => x.d <= Math.min(2, Math.floor(x.k.length / 3)) || x.d === 0);
    const best = Math.min(...scored.map((x) => x.d));
    const nearest = scored.filter((x) => x.d === best);
    return nearest.length === 1 ? nearest[0].k : undefined;
}

function editDistance(a: string, b: string): number {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        row = next;
    }
    return row[b.length];
}

/** Wrappers that hold the real schema (optional, default, refinements' pipes). */
function unwrap(schema: z.ZodType): z.ZodType {
    const def = (schema as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } })._zod.def;
    if (def.innerType) return unwrap(def.innerType);
    if (def.type === "pipe" && def.in) return unwrap(def.in);
    return schema;
}

/** The shape of the object schema at `path` below `schema` (array indexes step into elements). */
export function objectShapeAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, z.ZodType> | undefined {
    const s = unwrap(schema);
    if (s instanceof z.ZodArray) return typeof path[0] === "number" ? objectShapeAt(s.element as z.ZodType, path.slice(1)) : undefined;
    if (!(s instanceof z.ZodObject)) return undefined;
    if (path.length === 0) return s.shape as Record<string, z.ZodType>;
    const next = (s.shape as Record<string, z.ZodType>)[String(path[0])];
    return next ? objectShapeAt(next, path.slice(1)) : undefined;
}

/** Whether a value of `schema` holds a field marked `{ secret: true }` (a key, a password). */
export function holdsSecret(schema: z.ZodType): boolean {
    if (z.globalRegistry.get(schema)?.secret === true) return true;
    const s = unwrap(schema);
    if (s !== schema) return holdsSecret(s);
    if (s instanceof z.ZodArray) return holdsSecret(s.element as z.ZodType);
    if (s instanceof z.ZodObject) return Object.values(s.shape as Record<string, z.ZodType>).some(holdsSecret);
    return false;
}

/** Whether `schema` takes text as it is (a Pulumi config value is text; everything else is JSON). */
export function takesText(schema: z.ZodType): boolean {
    const s = unwrap(schema);
    return s instanceof z.ZodString || (s instanceof z.ZodEnum && Object.values(s.enum).every((v) => typeof v === "string"));
}

/** A section (`rollover`, `aws`) must be an object before its schema can name what is wrong in it. */
export function sectionObject(section: string, raw: unknown, examples: Readonly<Record<string, string>>): Record<string, unknown> {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError([configProblem([section], "must be an object", examples)]);
    return raw as Record<string, unknown>;
}

/** The `ssh` settings alone, for stacks that only roll content over. */
export function parseSshSettings(raw: unknown): UpgradeConfig["ssh"] {
    return validate(sshSchema, raw, ["ssh"]);
}

/** The keys of the in-place upgrade, each with its schema: what `index.ts` reads besides the sections. */
export const UPGRADE_SHAPE: Readonly<Record<string, z.ZodType>> = configSchema.shape;

/** Validates raw stack configuration. Throws ConfigError naming every bad key. */
export function parseConfig(raw: Record<string, unknown>): UpgradeConfig {
    const config = validate(configSchema, raw, []);
    const problems: string[] = [];
    const known = new Set(executableMigrationIds());
    config.skipMigrations.forEach((id, i) => {
        if (!known.has(id)) problems.push(configProblem(["skipMigrations", i], `"${id}" is not a migration the catalog runs`));
    });
    const names = new Set<string>();
    config.hosts.forEach((host, i) => {
        if (names.has(host.name)) problems.push(configProblem(["hosts", i, "name"], `"${host.name}" names two hosts: names must be unique`));
        names.add(host.name);
        // Without a configured version the facts decide. The plan itself is made once, from the facts
        // (components/facts.ts resolveHosts); here only what the configuration alone can refuse.
        if (host.currentVersion === undefined) return;
        try {
            checkUpgrade(host.currentVersion, config.targetVersion, host.packages, true);
        } catch (e) {
            problems.push(configProblem(["hosts", i, "currentVersion"], `cannot be upgraded: ${(e as Error).message}`));
        }
    });
    const keyless = config.hosts.filter((h) => !h.sshPrivateKey).map((h) => h.name);
    if (keyless.length && !config.sshPrivateKey && !config.sshPrivateKeyPath) {
        problems.push(configProblem(["sshPrivateKey"], `(or sshPrivateKeyPath) is required: ${keyless.join(", ")} ${keyless.length > 1 ? "have" : "has"} no key of ${keyless.length > 1 ? "their" : "its"} own`));
    }
    if (config.sshPrivateKey && config.sshPrivateKeyPath) {
        problems.push(configProblem(["sshPrivateKeyPath"], "must not be set together with sshPrivateKey: choose one"));
    }
    for (const [path, value] of [[["sshPrivateKey"], config.sshPrivateKey] as const, ...config.hosts.map((h, i) => [["hosts", i, "sshPrivateKey"], h.sshPrivateKey] as const)]) {
        const bad = privateKeyProblem(path, value);
        if (bad) problems.push(bad);
    }
    config.hosts.forEach((h, i) => {
        const bad = hostKeyProblem(["hosts", i, "hostKey"], h.hostKey);
        if (bad) problems.push(bad);
    });
    if (problems.length) throw new ConfigError(problems);
    return config;
}

/** Settings still read under an old name: one warning each, for `pulumi.log.warn` (parseConfig stays pure). */
export function deprecationWarnings(raw: Readonly<Record<string, unknown>>): string[] {
    const rollout = raw.rollout as Record<string, unknown> | undefined;
    if (rollout === null || typeof rollout !== "object" || !("stopOnFirstFailure" in rollout)) return [];
    return [
        `${CONFIG_NAMESPACE}:rollout.stopOnFirstFailure is deprecated: it is read as rollout.prepareBatchBeforeStop ` +
            `(no host of a batch stops its services before every host of the batch is prepared; nothing stops on a failure). ` +
            `Rename it: rollout: { prepareBatchBeforeStop: ${JSON.stringify(rollout.stopOnFirstFailure)} }`,
    ];
}

/** A host as the program plans it: the configuration completed and checked by its facts (components/facts.ts). */
export type ResolvedHost = Omit<HostConfig, "currentVersion" | "packageManager" | "packages"> & {
    currentVersion: string;
    packageManager: "apt" | "yum";
    packages?: PackageName[];
    /** The OS the facts found: the plan's legs and reload flags depend on it. */
    os?: OsRelease;
};

/** A resolved host with its plan, made once (resolveHosts) and used by the fleet and the host's steps. */
export interface PlannedHost {
    host: ResolvedHost;
    plan: UpgradePlan;
}
