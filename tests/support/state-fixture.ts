// The state fixtures of the state migration (tests/fixtures/state-0.1.0.json): a `pulumi stack
// export --show-secrets` of a lab stack written by st2-upgrade 0.1.0's own provider, with the lab
// host's address, port and private key replaced by placeholders (redact) and put back for another
// lab host (fill). Also reads the recordings of the real provider.
import * as fs from "node:fs";
import * as path from "node:path";
import { LOCAL_COMMAND, REMOTE_COMMAND, SECRET_SIG, SECRET_VALUE, type Export } from "../../tools/state-shape";
import { PROJECT_ROOT } from "../../lab/support/engine";

export const FIXTURE = path.join(PROJECT_ROOT, "tests", "fixtures", "state-0.1.0.json");
/** The stack and host names the fixture was made with (they are part of every URN). */
export const FIXTURE_STACK = "migrate";
export const FIXTURE_HOST = "m1";

export const PLACEHOLDER = { address: "<lab host address>", port: "<lab host port>", privateKey: "<lab private key>" } as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
export const isSecret = (v: unknown): v is JsonObject => isObject(v) && v[SECRET_SIG] === SECRET_VALUE;

/** The value of a --show-secrets secret. */
export function plaintextOf(v: Json): Json {
    if (!isSecret(v) || typeof v.plaintext !== "string") throw new Error(`not a plaintext secret: ${JSON.stringify(v).slice(0, 200)}`);
    return JSON.parse(v.plaintext) as Json;
}

export interface ConnectionValues {
    address: string;
    port: number | string;
    privateKey: string;
}

/** Every command resource of an export. */
export function commands(e: Export): JsonObject[] {
    return (e.deployment.resources ?? []).filter((r) => r.type === REMOTE_COMMAND || r.type === LOCAL_COMMAND);
}

/** Sets host, port and the private key (plain or nested secret, kept as it is) of every connection. */
function setConnections(e: Export, values: ConnectionValues): Export {
    const copy = JSON.parse(JSON.stringify(e)) as Export;
    for (const res of commands(copy)) {
        for (const section of ["inputs", "outputs"] as const) {
            const props = res[section];
            if (!isObject(props) || !("connection" in props)) continue;
            const conn = plaintextOf(props.connection);
            if (!isObject(conn)) throw new Error(`${String(res.urn)}: connection is not an object`);
            conn.host = values.address;
            conn.port = values.port;
            conn.privateKey = isSecret(conn.privateKey)
                ? { [SECRET_SIG]: SECRET_VALUE, plaintext: JSON.stringify(values.privateKey) }
                : values.privateKey;
            props.connection = { [SECRET_SIG]: SECRET_VALUE, plaintext: JSON.stringify(conn) };
        }
    }
    return copy;
}

/** Replaces every occurrence of a string in an export (e.g. the address in stack outputs). */
function replaceAll(e: Export, from: string, to: string): Export {
    return JSON.parse(JSON.stringify(e).split(JSON.stringify(from).slice(1, -1)).join(JSON.stringify(to).slice(1, -1))) as Export;
}

/** The fixture as committed: placeholders for the lab host (everywhere), no passphrase salt. */
export function redact(e: Export): Export {
    const first = commands(e)[0];
    const conn = plaintextOf((first.inputs as JsonObject).connection) as JsonObject;
    const out = replaceAll(setConnections(e, PLACEHOLDER), String(conn.host), PLACEHOLDER.address);
    delete out.deployment.secrets_providers;
    return out;
}

/** The fixture for a lab host: its address, port and the lab's private key. */
export function fill(e: Export, values: ConnectionValues): Export {
    return setConnections(replaceAll(e, PLACEHOLDER.address, values.address), values);
}

export function readFixture(): Export {
    return JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as Export;
}

/** The recordings of the real pulumi-command 1.2.1 provider (HELPERS: ST2_REFERENCE_DIR). */
export function referenceDir(): string {
    const dir = path.join(process.env.ST2_REFERENCE_DIR ?? path.join(PROJECT_ROOT, "..", "shared", "reference"), "real-command-provider");
    if (!fs.existsSync(path.join(dir, "state-after-create.json"))) {
        throw new Error(
            `the recordings of the real command provider are missing: no ${dir}/state-after-create.json. ` +
                "Set ST2_REFERENCE_DIR to the shared reference folder (it holds real-command-provider/).",
        );
    }
    return dir;
}

/**
 * The real provider's state after `npm run example` (state-after-create.json), with each recorded
 * ciphertext replaced by what it encrypts: the connection Check returned for that resource
 * (create.grpc.jsonl), a nested secret for the key, as a --show-secrets export holds it.
 */
export function realStateInClear(): Export {
    const dir = referenceDir();
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state-after-create.json"), "utf8")) as Export;
    const checked = new Map<string, JsonObject>();
    for (const line of fs.readFileSync(path.join(dir, "create.grpc.jsonl"), "utf8").split("\n")) {
        if (!line.trim()) continue;
        const call = JSON.parse(line) as { method: string; request: JsonObject; response?: JsonObject };
        if (call.method === "/pulumirpc.ResourceProvider/Check" && isObject(call.response?.inputs)) {
            checked.set(String(call.request.urn), call.response.inputs);
        }
    }
    // The gRPC log shows a secret as {sig, value}; a --show-secrets export as {sig, plaintext}.
    const toExport = (v: Json): Json => {
        if (Array.isArray(v)) return v.map(toExport);
        if (!isObject(v)) return v;
        if (isSecret(v) && "value" in v) return { [SECRET_SIG]: SECRET_VALUE, plaintext: JSON.stringify(toExport(v.value)) };
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toExport(x)]));
    };
    for (const res of commands(state)) {
        const inputs = checked.get(String(res.urn));
        if (!inputs) throw new Error(`create.grpc.jsonl has no Check response for ${String(res.urn)}`);
        const connection = toExport(inputs.connection);
        for (const section of ["inputs", "outputs"] as const) {
            const props = res[section];
            if (isObject(props) && "connection" in props) props.connection = connection;
        }
    }
    return state;
}

/** A step's key from its URN (`…::st2-st2h1-preflight` -> `preflight`). */
export function stepOf(urn: string, host: string): string {
    const name = urn.slice(urn.lastIndexOf("::") + 2);
    const prefix = `st2-${host}-`;
    if (!name.startsWith(prefix)) throw new Error(`${urn} is not a step of host ${host}`);
    return name.slice(prefix.length);
}
