// Rewrites a stack's state (a `pulumi stack export --show-secrets` deployment) written by
// st2-upgrade 0.1.0's own command provider into the shape the real pulumi-command 1.2.1 provider
// writes, so that the real provider (and ours, once it matches) sees no change and re-runs no step.
//
// What 0.1.0's provider did differently, per the recordings in
// ../shared/reference/real-command-provider (state-after-create.json, create.grpc.jsonl: Check):
//  - its Check wrote the defaults `logging: "stdoutAndStderr"` and `addPreviousOutputInEnv: true`
//    into the inputs (and so the outputs) when the program did not give them; the real Check
//    returns only what the program gave;
//  - `connection` was one secret holding a plain `privateKey`; the real provider keeps the whole
//    object secret AND the key a secret nested inside it.
// Everything else is kept byte for byte. Anything this module has no recording of (another field,
// another resource type, a secret still encrypted) is refused, naming the resource and the field:
// guessing a shape would make the real provider re-run steps on the hosts.

/** Pulumi's secret signature: a JSON object {[SECRET_SIG]: SECRET_VALUE, plaintext | ciphertext}. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export const REMOTE_COMMAND = "command:remote:Command";
export const LOCAL_COMMAND = "command:local:Command";
const PROVIDER_TYPE = "pulumi:providers:command";
/** The @pulumi/command version whose provider's state shape this migrates to. */
export const COMMAND_VERSION = "1.2.1";

/** Inputs the @pulumi/command 1.2.1 SDK sends (node_modules/@pulumi/command/{remote,local}/command.js). */
const SDK_INPUTS: Record<string, readonly string[]> = {
    [REMOTE_COMMAND]: ["addPreviousOutputInEnv", "connection", "create", "delete", "environment", "logging", "stdin", "triggers", "update"],
    [LOCAL_COMMAND]: [
        "addPreviousOutputInEnv", "archivePaths", "assetPaths", "create", "delete", "dir", "environment", "interpreter",
        "logging", "stdin", "triggers", "update",
    ],
};
/** Properties the providers add to the inputs in a resource's outputs. */
const OUTPUT_ONLY: Record<string, readonly string[]> = {
    [REMOTE_COMMAND]: ["stderr", "stdout"],
    [LOCAL_COMMAND]: ["archive", "assets", "stderr", "stdout"],
};
/** The defaults 0.1.0's Check wrote into the inputs (toolchain/command-provider at 0.1.0, spec.go). */
const OWN_DEFAULTS: Record<string, unknown> = { logging: "stdoutAndStderr", addPreviousOutputInEnv: true };
/**
 * Connection fields whose real shape is recorded (Check's response in create.grpc.jsonl): these as
 * plain values, `privateKey` as a nested secret. Other fields (password, privateKeyPassword, proxy,
 * hostKey, agentSocketPath) have no recording, so a state holding them is refused.
 */
const CONNECTION_PLAIN = new Set(["dialErrorLimit", "host", "perDialTimeout", "port", "user"]);
const CONNECTION_NESTED_SECRET = new Set(["privateKey"]);

/** A change the migration makes (never holds a secret value). */
export interface Change {
    urn: string;
    what: string;
}

/** The state holds something this migration has no recording of: nothing is changed. */
export class MigrationRefused extends Error {
    constructor(
        readonly urn: string,
        readonly field: string,
        why: string,
    ) {
        super(`refusing to migrate: ${urn}: ${field}: ${why}. Nothing was changed.`);
        this.name = "MigrationRefused";
    }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Resource extends JsonObject {
    urn: string;
    type: string;
}

/** A deployment as `pulumi stack export` writes it (version 3). */
export interface Export {
    version: number;
    deployment: JsonObject & { resources?: Resource[] };
}

export interface MigrationResult {
    /** The migrated export (a new object; the input is not modified). */
    exported: Export;
    changes: Change[];
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const isSecret = (v: unknown): v is JsonObject => isObject(v) && v[SECRET_SIG] === SECRET_VALUE;

/** The value inside a secret of a --show-secrets export; refuses an encrypted one. */
function secretPlaintext(urn: string, field: string, v: JsonObject): Json {
    if (typeof v.plaintext !== "string") {
        throw new MigrationRefused(
            urn, field,
            "the secret is still encrypted: migrate an export made with --show-secrets (npm run state:migrate does)",
        );
    }
    return JSON.parse(v.plaintext) as Json;
}

const makeSecret = (value: Json): JsonObject => ({ [SECRET_SIG]: SECRET_VALUE, plaintext: JSON.stringify(value) });

/** Keys sorted, as Pulumi serializes property maps. */
function sorted(o: JsonObject): JsonObject {
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/**
 * `connection` in the real shape: the whole object secret, `privateKey` a secret inside it.
 * Returns the value unchanged (same object) when it already has that shape.
 */
function migrateConnection(urn: string, where: string, value: Json, changes: Change[]): Json {
    if (!isSecret(value)) {
        throw new MigrationRefused(urn, `${where}.connection`, "is not a secret; every recorded state (ours and the real provider's) has it secret");
    }
    const inner = secretPlaintext(urn, `${where}.connection`, value);
    if (!isObject(inner)) throw new MigrationRefused(urn, `${where}.connection`, "is not an object");
    let changed = false;
    const out: JsonObject = {};
    for (const [key, v] of Object.entries(inner)) {
        if (CONNECTION_PLAIN.has(key)) {
            out[key] = v;
        } else if (CONNECTION_NESTED_SECRET.has(key)) {
            if (isSecret(v)) {
                out[key] = v;
            } else if (typeof v === "string") {
                out[key] = makeSecret(v);
                changed = true;
            } else {
                throw new MigrationRefused(urn, `${where}.connection.${key}`, `is a ${typeof v}, not a string`);
            }
        } else {
            throw new MigrationRefused(
                urn, `${where}.connection.${key}`,
                "no recording shows how the real command provider stores this field; migrate this stack by hand",
            );
        }
    }
    if (!changed) return value;
    changes.push({ urn, what: `${where}.connection: privateKey becomes a secret nested in the secret connection, as the real provider writes it` });
    return makeSecret(sorted(out));
}

function migrateCommand(res: Resource, changes: Change[]): Resource {
    const { urn, type } = res;
    const sdkInputs = new Set(SDK_INPUTS[type]);
    const outputOnly = new Set(OUTPUT_ONLY[type]);
    const inputs = res.inputs;
    const outputs = res.outputs ?? {};
    if (!isObject(inputs)) throw new MigrationRefused(urn, "inputs", "missing");
    if (!isObject(outputs)) throw new MigrationRefused(urn, "outputs", "not an object");
    const given = res.propertyDependencies;
    if (!isObject(given)) {
        throw new MigrationRefused(urn, "propertyDependencies", "missing: without it the inputs the program gave cannot be told from defaults a provider added");
    }
    for (const key of Object.keys(inputs)) {
        if (!sdkInputs.has(key)) throw new MigrationRefused(urn, `inputs.${key}`, `not an input of ${type} in @pulumi/command ${COMMAND_VERSION}`);
    }
    for (const key of Object.keys(outputs)) {
        if (!sdkInputs.has(key) && !outputOnly.has(key)) {
            throw new MigrationRefused(urn, `outputs.${key}`, `not a property of ${type} in @pulumi/command ${COMMAND_VERSION}`);
        }
    }
    for (const key of Object.keys(given)) {
        if (!sdkInputs.has(key)) throw new MigrationRefused(urn, `propertyDependencies.${key}`, `not an input of ${type}`);
    }

    const newInputs: JsonObject = { ...inputs };
    const newOutputs: JsonObject = { ...outputs };
    for (const [key, value] of Object.entries(OWN_DEFAULTS)) {
        if (!(key in inputs) || key in given) continue; // absent, or given by the program: kept
        if (inputs[key] !== value) {
            throw new MigrationRefused(
                urn, `inputs.${key}`,
                `${JSON.stringify(inputs[key])} was not given by the program and is not the default ${JSON.stringify(value)} st2-upgrade 0.1.0's provider wrote`,
            );
        }
        delete newInputs[key];
        if (key in outputs) {
            if (outputs[key] !== value) throw new MigrationRefused(urn, `outputs.${key}`, `${JSON.stringify(outputs[key])} differs from inputs.${key}`);
            delete newOutputs[key];
        }
        changes.push({ urn, what: `drop ${key}=${JSON.stringify(value)} from inputs and outputs (a default st2-upgrade 0.1.0's provider wrote; the real provider writes only what the program gives)` });
    }
    if (type === REMOTE_COMMAND) {
        if (!("connection" in inputs)) throw new MigrationRefused(urn, "inputs.connection", "missing (remote commands always have one)");
        newInputs.connection = migrateConnection(urn, "inputs", inputs.connection, changes);
        if ("connection" in outputs) newOutputs.connection = migrateConnection(urn, "outputs", outputs.connection, changes);
    }
    return { ...res, inputs: newInputs, outputs: newOutputs };
}

function checkProvider(res: Resource): void {
    const inputs = res.inputs;
    const version = isObject(inputs) ? inputs.version : undefined;
    if (version !== COMMAND_VERSION) {
        throw new MigrationRefused(
            res.urn, "inputs.version",
            `${JSON.stringify(version)}: this migration knows the state shape of command ${COMMAND_VERSION} only`,
        );
    }
}

/**
 * Migrates an export: every command:remote:Command and command:local:Command to the real
 * provider's shape. Throws MigrationRefused (before anything is written) on what it does not know.
 * Migrating a migrated export changes nothing.
 */
export function migrateExport(exported: Export): MigrationResult {
    if (!isObject(exported) || exported.version !== 3 || !isObject(exported.deployment)) {
        throw new MigrationRefused("(the export)", "version", `${JSON.stringify(isObject(exported) ? exported.version : exported)}: not a version 3 deployment from \`pulumi stack export\``);
    }
    const pending = exported.deployment.pending_operations;
    if (Array.isArray(pending) && pending.length > 0) {
        throw new MigrationRefused(
            "(the export)", "pending_operations",
            `${pending.length} operation(s) of an interrupted update are pending: finish them (pulumi refresh, or pulumi cancel) first`,
        );
    }
    const changes: Change[] = [];
    const resources = (exported.deployment.resources ?? []).map((res) => {
        if (res.type === REMOTE_COMMAND || res.type === LOCAL_COMMAND) return migrateCommand(res, changes);
        if (res.type === PROVIDER_TYPE) checkProvider(res);
        else if (res.type.startsWith("command:")) {
            throw new MigrationRefused(res.urn, "type", `${res.type} is not a type st2-upgrade uses; no recording of its state shape`);
        }
        return res;
    });
    return { exported: { ...exported, deployment: { ...exported.deployment, resources } }, changes };
}
