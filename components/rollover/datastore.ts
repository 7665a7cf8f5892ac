/**
 * The datastore part of a content roll-over, as pure functions: parse what `st2 key list -j` printed
 * on the old host, and write what `st2 key load` of the new host reads.
 *
 * Values pass through here in plain text (secrets are exported with --decrypt, so that the new host
 * encrypts them again with ITS crypto key: StackStorm/st2 #4545). Nothing here ever puts a value in
 * an error message or a summary: errors name items by position and name, summaries carry hashes of
 * non-secret values only.
 */
import { createHash } from "node:crypto";
import * as semver from "semver";
import { z } from "zod";
import { datastoreEra, firstReleaseLoadingScopes, keyLoadCarriesScopeAndSecret, type ScopeNames } from "../catalog/datastore";

/** A bad export or an impossible conversion; the message says what to do. */
export class DatastoreError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "DatastoreError";
    }
}

const flag = z.boolean({ error: "must be true or false" }).optional();
const text = z.string({ error: "must be a string" });

/** One item as `st2 key list -j` prints it in any era. Fields a later CLI adds are ignored. */
const exportItemSchema = z.object({
    name: text.min(1, { error: "must not be empty" }),
    value: text,
    secret: flag,
    encrypted: flag,
    scope: text.optional(),
    user: text.optional(),
    expire_timestamp: text.optional(),
});

export type ExportItem = z.infer<typeof exportItemSchema>;

/** What the roll-over's export step prints: one `st2 key list -j` output per listing of the era. */
const ENVELOPE = "st2upgradeExport";

/** One item of a `st2 key load` file (2.6 and later). */
export interface LoadItem {
    name: string;
    value: string;
    scope: string;
    user?: string;
    secret: boolean;
    ttl?: number;
}

export interface ConversionCounts {
    /** Items in the load file. */
    total: number;
    /** Items per scope, in the target's scope names. */
    byScope: Record<string, number>;
    secrets: number;
    /** Items left out because their TTL had already run out. */
    expired: number;
}

export interface Conversion {
    items: LoadItem[];
    counts: ConversionCounts;
}

function label(index: number, item: unknown): string {
    const name = typeof item === "object" && item !== null && typeof (item as { name?: unknown }).name === "string" ? ` (${JSON.stringify((item as { name: string }).name)})` : "";
    return `item ${index + 1}${name}`;
}

/** "line 3, column 7" for a character offset; never the text itself (it may hold a secret). */
function where(textIn: string, message: string): string {
    const m = /at position (\d+)/.exec(message);
    if (!m) return "";
    const offset = Number(m[1]);
    const before = textIn.slice(0, offset).split("\n");
    return ` at line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/**
 * Parses an export: a JSON list as `st2 key list -j` prints it, or the roll-over's envelope
 * `{"st2upgradeExport": 1, "listings": [[...], ...]}` that joins the listings an era needs.
 */
export function parseExport(input: string): ExportItem[] {
    if (input.trim() === "") {
        throw new DatastoreError("the datastore export is empty: st2 key list -j printed nothing (is st2api running, is the CLI authenticated?)");
    }
    let doc: unknown;
    try {
        doc = JSON.parse(input);
    } catch (e) {
        // JSON.parse quotes the input around the error: never repeat its message.
        throw new DatastoreError(`the datastore export is not valid JSON${where(input, (e as Error).message)}: expected the output of st2 key list -j`);
    }
    let raw: unknown[];
    if (Array.isArray(doc)) {
        raw = doc;
    } else if (typeof doc === "object" && doc !== null && (doc as Record<string, unknown>)[ENVELOPE] === 1) {
        const listings = (doc as { listings?: unknown }).listings;
        if (!Array.isArray(listings) || !listings.every(Array.isArray)) {
            throw new DatastoreError(`the datastore export's "listings" must be a list of st2 key list -j outputs (lists)`);
        }
        raw = (listings as unknown[][]).flat();
    } else {
        throw new DatastoreError("the datastore export must be a JSON list of keys, as st2 key list -j prints it");
    }
    return raw.map((item, i) => {
        if (typeof item !== "object" || item === null || Array.isArray(item)) {
            throw new DatastoreError(`${label(i, item)} of the datastore export is not an object with name and value`);
        }
        // null fields are what older CLIs print for "not set".
        const cleaned = Object.fromEntries(Object.entries(item).filter(([, v]) => v !== null));
        const parsed = exportItemSchema.safeParse(cleaned);
        if (!parsed.success) {
            const iss = parsed.error.issues[0];
            const field = String(iss.path[0] ?? "item");
            const message = field in cleaned ? iss.message : "is missing";
            throw new DatastoreError(`${label(i, item)} of the datastore export: ${field} ${message}`);
        }
        return parsed.data;
    });
}

/** Checks that `from` -> `to` is a conversion a roll-over can do; the error explains why not. */
export function checkConversion(from: string, to: string): void {
    for (const v of [from, to]) {
        if (!semver.valid(v)) throw new DatastoreError(`"${v}" is not a version: expected MAJOR.MINOR.PATCH, for example "3.9.0"`);
    }
    try {
        datastoreEra(from);
    } catch (e) {
        throw new DatastoreError((e as Error).message);
    }
    if (semver.lt(to, from)) {
        throw new DatastoreError(
            `refusing to convert a ${from} datastore for ${to}: a roll-over goes to the same or a newer release, never back (scope names would have to be mapped back and secrets could not be kept)`,
        );
    }
    if (!keyLoadCarriesScopeAndSecret(to)) {
        throw new DatastoreError(
            `StackStorm ${to} cannot receive the datastore: its st2 key load reads only name and value, so scope, user and secret would be silently dropped ` +
                `(secrets stored as plain text, users' keys turned into system keys). Roll over to ${firstReleaseLoadingScopes()} or later, then upgrade in place.`,
        );
    }
}

type ScopeKind = keyof ScopeNames;

function scopeKind(item: ExportItem, index: number, from: string, scopes: ScopeNames | undefined): ScopeKind {
    if (!scopes) {
        if (item.scope !== undefined || item.secret !== undefined) {
            throw new DatastoreError(`${label(index, item)} has a scope or secret flag, but StackStorm ${from} exports have neither: was the export made by ${from}?`);
        }
        return "system";
    }
    if (item.scope === undefined) {
        throw new DatastoreError(`${label(index, item)} has no scope, but StackStorm ${from} exports always carry one (${scopes.system} or ${scopes.user}): was the export made by ${from}?`);
    }
    const kind = (Object.keys(scopes) as ScopeKind[]).find((k) => scopes[k] === item.scope);
    if (!kind) {
        throw new DatastoreError(`${label(index, item)} has scope ${JSON.stringify(item.scope)}, which is not a scope of StackStorm ${from} (${scopes.system} or ${scopes.user})`);
    }
    if (kind === "user" && !item.user) {
        throw new DatastoreError(`${label(index, item)} is in scope ${item.scope} but names no user`);
    }
    return kind;
}

function ttlOf(item: ExportItem, index: number, now: Date): number | undefined | "expired" {
    if (item.expire_timestamp === undefined) return undefined;
    const at = Date.parse(item.expire_timestamp);
    if (Number.isNaN(at)) {
        throw new DatastoreError(`${label(index, item)} has expire_timestamp ${JSON.stringify(item.expire_timestamp)}, which is not an ISO 8601 time`);
    }
    const seconds = Math.ceil((at - now.getTime()) / 1000);
    return seconds > 0 ? seconds : "expired";
}

export interface ConvertOptions {
    /** The time TTLs are counted from (expire_timestamp becomes the seconds left). */
    now: Date;
    /**
     * Accept secrets still encrypted with the old host's key. Only for comparing exports (their values
     * are never loaded anywhere); a load file needs decrypted secrets.
     */
    allowEncrypted?: boolean;
}

/** Converts parsed export items of `from` into `st2 key load` items of `to`. */
export function convertItems(items: readonly ExportItem[], from: string, to: string, options: ConvertOptions): Conversion {
    checkConversion(from, to);
    const source = datastoreEra(from);
    const target = datastoreEra(to).scopes!;
    const seen = new Set<string>();
    const out: LoadItem[] = [];
    let expired = 0;
    items.forEach((item, i) => {
        const kind = scopeKind(item, i, from, source.scopes);
        const secret = item.secret === true;
        if (secret && item.encrypted === true && !options.allowEncrypted) {
            throw new DatastoreError(
                `${label(i, item)} is a secret exported still encrypted: export with st2 key list --decrypt, so that the new host encrypts it again with its own crypto key ` +
                    `(an encrypted value only decrypts with the key of the host that encrypted it, StackStorm/st2 #4545)`,
            );
        }
        const id = JSON.stringify([kind, kind === "user" ? item.user : null, item.name]);
        if (seen.has(id)) {
            throw new DatastoreError(`${label(i, item)} appears twice in the export (same scope${kind === "user" ? ", user" : ""} and name)`);
        }
        seen.add(id);
        const ttl = ttlOf(item, i, options.now);
        if (ttl === "expired") {
            expired++;
            return;
        }
        out.push({
            name: item.name,
            value: item.value,
            scope: target[kind],
            ...(kind === "user" ? { user: item.user } : {}),
            secret,
            ...(ttl !== undefined ? { ttl } : {}),
        });
    });
    out.sort((a, b) => a.scope.localeCompare(b.scope) || (a.user ?? "").localeCompare(b.user ?? "") || a.name.localeCompare(b.name));
    const byScope: Record<string, number> = { [target.system]: 0, [target.user]: 0 };
    for (const item of out) byScope[item.scope]++;
    return { items: out, counts: { total: out.length, byScope, secrets: out.filter((i) => i.secret).length, expired } };
}

/** Parses an export of `from` and writes the `st2 key load` file for `to`. */
export function convertExport(input: string, from: string, to: string, now: Date): { loadFile: string; counts: ConversionCounts } {
    checkConversion(from, to);
    const { items, counts } = convertItems(parseExport(input), from, to, { now });
    return { loadFile: `${JSON.stringify(items, null, 2)}\n`, counts };
}

/** One key as a summary shows it: no value, only a hash of non-secret values. */
export interface SummaryEntry {
    scope: string;
    user?: string;
    name: string;
    secret: boolean;
    /** sha256 of the value; absent for secrets (never hashed: a short secret's hash can be guessed). */
    valueSha256?: string;
}

export interface DatastoreSummary {
    total: number;
    byScope: Record<string, number>;
    secrets: number;
    entries: SummaryEntry[];
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/**
 * What verification compares: every key with its scope, user and secret flag, and a hash of its value
 * when it is not a secret. Secrets may be still encrypted: their values are ignored.
 */
export function summarizeExport(input: string, from: string, to: string, now: Date): DatastoreSummary {
    const { items, counts } = convertItems(parseExport(input), from, to, { now, allowEncrypted: true });
    return {
        total: counts.total,
        byScope: counts.byScope,
        secrets: counts.secrets,
        entries: items.map((i) => ({
            scope: i.scope,
            ...(i.user !== undefined ? { user: i.user } : {}),
            name: i.name,
            secret: i.secret,
            ...(i.secret ? {} : { valueSha256: sha256(i.value) }),
        })),
    };
}

export interface SummaryComparison {
    ok: boolean;
    /** Keys of the old host found on the new one with the same flags and value. */
    matched: number;
    /** Keys of the old host absent from the new one, as `scope[/user]:name`. */
    missing: string[];
    /** Keys present on both whose secret flag or non-secret value differ. */
    different: string[];
    /** Keys only the new host has (not an error: a fresh install may bring its own). */
    extra: number;
}

const keyOf = (e: SummaryEntry) => `${e.scope}${e.user !== undefined ? `/${e.user}` : ""}:${e.name}`;

/** Compares the old host's summary (in the new host's scope names) with the new host's. */
export function compareSummaries(old: DatastoreSummary, fresh: DatastoreSummary): SummaryComparison {
    const byKey = new Map(fresh.entries.map((e) => [keyOf(e), e]));
    const missing: string[] = [];
    const different: string[] = [];
    let matched = 0;
    for (const e of old.entries) {
        const other = byKey.get(keyOf(e));
        if (!other) missing.push(keyOf(e));
        else if (other.secret !== e.secret || other.valueSha256 !== e.valueSha256) different.push(keyOf(e));
        else matched++;
        byKey.delete(keyOf(e));
    }
    return { ok: missing.length === 0 && different.length === 0, matched, missing, different, extra: byKey.size };
}

const summarySchema = z.object({
    total: z.number(),
    byScope: z.record(z.string(), z.number()),
    secrets: z.number(),
    entries: z.array(
        z.object({ scope: z.string(), user: z.string().optional(), name: z.string(), secret: z.boolean(), valueSha256: z.string().optional() }),
    ),
});

/** Reads a summary written by `summarizeExport` (the CLI's `summary` command). */
export function parseSummary(input: string, what: string): DatastoreSummary {
    let doc: unknown;
    try {
        doc = JSON.parse(input);
    } catch {
        throw new DatastoreError(`${what} is not a datastore summary (not JSON)`);
    }
    const parsed = summarySchema.safeParse(doc);
    if (!parsed.success) throw new DatastoreError(`${what} is not a datastore summary`);
    return parsed.data;
}
