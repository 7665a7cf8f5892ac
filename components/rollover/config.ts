/**
 * The `st2-upgrade:rollover` section: a content roll-over from an old host to a fresh one. Validated
 * with zod before any resource exists; errors name the key (`st2-upgrade:rollover.<path>`) and give an
 * example, like components/config.ts. `parseRolloverConfig` is pure.
 */
import { z } from "zod";
import { latestRelease } from "../catalog";
import { CONFIG_NAMESPACE, ConfigError, configProblem, hostAddress, hostKey, hostKeyProblem, hostName, nonBlank, privateKey, privateKeyProblem, release, s3BucketName, seconds, sectionObject, sshPort, str, unixUser, validate } from "../config";
import { checkConversion, DatastoreError } from "./datastore";
import { packProblems } from "./packs";

/** A good value for each key, quoted in errors so the fix is one copy away. */
const EXAMPLES: Record<string, string> = {
    rollover: `{ oldHost: { name: st2-old, address: 10.0.0.11, user: stackstorm, version: "2.10.4" }, newHost: { name: st2-new, address: 10.0.0.21, user: stackstorm, version: "${latestRelease()}", st2: { username: st2admin } } }`,
    "rollover.oldHost": `{ name: st2-old, address: 10.0.0.11, user: stackstorm, version: "2.10.4" }`,
    "rollover.newHost": `{ name: st2-new, address: 10.0.0.21, user: stackstorm, version: "${latestRelease()}", st2: { username: st2admin } }`,
    "rollover.oldHost.name": `"st2-old" (letters, digits and dashes: it names Pulumi resources)`,
    "rollover.newHost.name": `"st2-new" (letters, digits and dashes: it names Pulumi resources)`,
    "rollover.oldHost.address": `"10.0.0.11" or "st2-old.example.com"`,
    "rollover.newHost.address": `"10.0.0.21" or "st2-new.example.com"`,
    "rollover.oldHost.port": `22`,
    "rollover.newHost.port": `22`,
    "rollover.oldHost.user": `"stackstorm" (a user with passwordless sudo)`,
    "rollover.newHost.user": `"stackstorm" (a user with passwordless sudo)`,
    "rollover.oldHost.version": `"2.10.4" (what \`st2 --version\` prints on the old host)`,
    "rollover.newHost.version": `"${latestRelease()}" (what \`st2 --version\` prints on the new host)`,
    "rollover.oldHost.sshPrivateKey": `pulumi config set --secret --path 'rollover.oldHost.sshPrivateKey' < key`,
    "rollover.newHost.sshPrivateKey": `pulumi config set --secret --path 'rollover.newHost.sshPrivateKey' < key`,
    "rollover.oldHost.hostKey": `"ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.11 prints after the address, its fingerprint checked on the host's console)`,
    "rollover.newHost.hostKey": `"ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.21 prints after the address, its fingerprint checked on the host's console)`,
    "rollover.oldHost.st2": `{ username: st2admin } and pulumi config set --secret --path 'rollover.oldHost.st2.password' 'p4ss'`,
    "rollover.newHost.st2": `{ username: st2admin } and pulumi config set --secret --path 'rollover.newHost.st2.password' 'p4ss'`,
    "rollover.oldHost.st2.username": `"st2admin"`,
    "rollover.newHost.st2.username": `"st2admin"`,
    "rollover.oldHost.st2.password": `pulumi config set --secret --path 'rollover.oldHost.st2.password' 'p4ss'`,
    "rollover.newHost.st2.password": `pulumi config set --secret --path 'rollover.newHost.st2.password' 'p4ss'`,
    "rollover.packs": `[{ name: my_pack, repoUrl: "https://git.example.com/st2/my_pack.git" }]`,
    "rollover.packs[].name": `"my_pack" (the pack's ref: letters, digits and underscores)`,
    "rollover.packs[].repoUrl": `"https://git.example.com/st2/my_pack.git" or "git@git.example.com:st2/my_pack.git"`,
    "rollover.auditLogs.destination": `"local" or "s3"`,
    "rollover.auditLogs.dir": `"st2-audit-logs" (on the machine running Pulumi, relative to the project)`,
    "rollover.auditLogs.bucket": `"my-st2-archive" (or let st2-upgrade:aws.bucket create one)`,
    "rollover.auditLogs.prefix": `"st2-rollover"`,
    "rollover.timeouts.step": `600`,
    "rollover.timeouts.datastore": `1800`,
    "rollover.timeouts.packs": `1800`,
};

const object = { error: (iss: { input?: unknown }) => (iss.input === undefined ? "is required" : "must be an object") };


/**
 * st2's CLI config is read by Python's ConfigParser: `%` starts an interpolation and surrounding
 * spaces are stripped, so such a password would not log in. A password is never echoed in errors.
 */
const st2Password = z
    .string({ error: "must be a string (set it as a secret)" })
    .min(1, { error: "must not be empty" })
    .refine((p) => !/[\r\n]/.test(p), { error: "must be one line" })
    .refine((p) => !p.includes("%"), { error: "must not contain % (st2's CLI config file would read it as an interpolation)" })
    .refine((p) => p.trim() === p, { error: "must not start or end with spaces (st2's CLI config file strips them)" })
    .meta({ secret: true });

const credentials = z
    .object(
        {
        username: str("a StackStorm user name").regex(/^[A-Za-z0-9_.@-]+$/, { error: "must be a StackStorm user name (letters, digits, _ . @ -)" }),
        password: st2Password,
        },
        object,
    )
    .strict();

const hostFields = {
    name: hostName,
    port: sshPort,
    user: unixUser,
    /** Per-host key, overriding the stack's `sshPrivateKey`; set it as a secret. */
    sshPrivateKey: privateKey.optional(),
    /** The host's public SSH key: its steps and the pipes (decrypted datastore values) refuse another. */
    hostKey: hostKey.optional(),
};

const oldHostSchema = z
    .object(
        {
        ...hostFields,
        address: hostAddress,
        version: release("the old host's"),
        /** Credentials of root's st2 CLI on the old host; without them, root's ~/.st2/config is used. */
        st2: credentials.optional(),
        },
        object,
    )
    .strict();

const newHostSchema = z
    .object(
        {
        ...hostFields,
        /** Omitted when st2-upgrade:aws.instance creates the new host. */
        address: hostAddress.optional(),
        version: release("the new host's"),
        /** `st2 key load` needs an authenticated CLI: a fresh install has no root CLI config. */
        st2: credentials,
        },
        object,
    )
    .strict();

/** A git URL without credentials in it (those would land in the state and in process lists). */
const repoUrl = str("a git URL")
    .regex(/^((https?|ssh|git|file):\/\/\S+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:\S+)$/, { error: "must be a git URL" })
    .refine((u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(u), { error: "must not contain a password: give the new host an SSH deploy key or a credential helper instead" });

const rolloverSchema = z
    .object({
        oldHost: oldHostSchema,
        newHost: newHostSchema,
        packs: z
            .array(
                z
                    .object({
                        name: str("a pack ref").regex(/^[A-Za-z0-9_]+$/, { error: "must be a pack ref: letters, digits and underscores" }),
                        repoUrl,
                    })
                    .strict(),
            )
            .default([]),
        auditLogs: z
            .object({
                destination: z.enum(["local", "s3"], { error: 'must be "local" or "s3"' }).default("local"),
                dir: nonBlank("a folder").default("st2-audit-logs"),
                bucket: s3BucketName.optional(),
                prefix: z.string().regex(/^[A-Za-z0-9!_.*'()\/-]*$/, { error: "must be an S3 key prefix" }).default("st2-rollover"),
            })
            .strict()
            .default({ destination: "local", dir: "st2-audit-logs", prefix: "st2-rollover" }),
        timeouts: z
            .object({
                step: seconds(600),
                datastore: seconds(1800),
                packs: seconds(1800),
            })
            .strict()
            .default({ step: 600, datastore: 1800, packs: 1800 }),
    })
    .strict();

/** The section's schema: `index.ts` reads the key by it (JSON, secret when it holds a key or password). */
export const ROLLOVER_SCHEMA: z.ZodType = rolloverSchema;

export type RolloverConfig = z.infer<typeof rolloverSchema>;

/** What the rest of the stack config tells the roll-over section. */
export interface RolloverContext {
    /** `st2-upgrade:sshPrivateKey` or `sshPrivateKeyPath` is set. */
    hasDefaultKey: boolean;
    /** `st2-upgrade:aws.instance` creates the new host. */
    awsInstance: boolean;
    /** `st2-upgrade:aws.bucket` creates a bucket. */
    awsBucket: boolean;
}

/** Validates `st2-upgrade:rollover`. Throws ConfigError naming every bad key. */
export function parseRolloverConfig(raw: unknown, context: RolloverContext): RolloverConfig {
    const config = validate(rolloverSchema, sectionObject("rollover", raw, EXAMPLES), ["rollover"], EXAMPLES);
    const problem = (path: readonly PropertyKey[], message: string) => configProblem(["rollover", ...path], message, EXAMPLES);
    const problems: string[] = [];
    const { oldHost, newHost } = config;
    if (context.awsInstance && newHost.address !== undefined) {
        problems.push(problem(["newHost", "address"], `must not be set: ${CONFIG_NAMESPACE}:aws.instance creates the new host and gives its address`));
    }
    if (!context.awsInstance && newHost.address === undefined) {
        problems.push(problem(["newHost", "address"], `is required (or let ${CONFIG_NAMESPACE}:aws.instance create the new host)`));
    }
    if (context.awsInstance && newHost.hostKey !== undefined) {
        problems.push(problem(["newHost", "hostKey"], `must not be set: ${CONFIG_NAMESPACE}:aws.instance creates the new host, whose key is made at its first boot`));
    }
    if (oldHost.name === newHost.name) {
        problems.push(problem(["newHost", "name"], `"${newHost.name}" also names the old host: names must differ`));
    }
    try {
        checkConversion(oldHost.version, newHost.version);
    } catch (e) {
        if (!(e instanceof DatastoreError)) throw e;
        problems.push(problem(["newHost", "version"], `cannot receive a roll-over from ${oldHost.version}: ${e.message.replace(/\.$/, "")}`));
    }
    for (const [key, host] of [["oldHost", oldHost], ["newHost", newHost]] as const) {
        if (host.sshPrivateKey === undefined && !context.hasDefaultKey) {
            problems.push(problem([key, "sshPrivateKey"], `(or ${CONFIG_NAMESPACE}:sshPrivateKey / sshPrivateKeyPath) is required`));
        } else {
            const bad = privateKeyProblem(["rollover", key, "sshPrivateKey"], host.sshPrivateKey);
            if (bad) problems.push(bad);
        }
        const badHostKey = hostKeyProblem(["rollover", key, "hostKey"], host.hostKey, EXAMPLES);
        if (badHostKey) problems.push(badHostKey);
    }
    const seen = new Set<string>();
    config.packs.forEach((p, i) => {
        if (seen.has(p.name)) problems.push(problem(["packs", i, "name"], `"${p.name}" is listed twice`));
        seen.add(p.name);
    });
    for (const p of packProblems(config.packs, newHost.version)) problems.push(problem(["packs", p.index, "repoUrl"], p.problem));
    if (config.auditLogs.destination === "s3" && !config.auditLogs.bucket && !context.awsBucket) {
        problems.push(problem(["auditLogs", "bucket"], `is required for destination "s3" (or let ${CONFIG_NAMESPACE}:aws.bucket create one)`));
    }
    if (problems.length) throw new ConfigError(problems);
    return config;
}
