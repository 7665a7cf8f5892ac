/**
 * The datastore across eras, as data: what `st2 key list -j` prints and how to make it print every
 * key (the listings themselves: KEY_LIST_FLAGS in releases.ts), and what `st2 key load` reads. A content roll-over exports with one version's CLI and loads
 * with another's; every difference between them is a row here, never an `if` in the code.
 *
 * Sources: each row's `source` (st2client `commands/keyvalue.py` at the row's tag: list's
 * `display_attributes` and flags, load's fields), st2docs `install/upgrades.rst` (Content Roll-Over); traps from StackStorm/st2 #3708 (only
 * 50 keys listed) and #4545 (secrets only decrypt with the crypto key that encrypted them).
 */
import * as semver from "semver";
import { keyListCalls } from "./index";
import { RELEASE_LINES } from "./releases";

/** Scope names as the datastore of an era stores and prints them. */
export interface ScopeNames {
    system: string;
    user: string;
}

/** Datastore facts from one release on, until the next row. Every row is complete. */
export interface DatastoreEra {
    since: string;
    /** Fields `st2 key list -j` prints for an item (fields whose value is null are left out). */
    exportFields: readonly string[];
    /** Scope names of the era; undefined before 1.5, when the datastore had no scopes. */
    scopes?: ScopeNames;
    /** Every spelling of the flag that prints secrets decrypted; empty when the era has no secrets. */
    decryptFlags: readonly string[];
    /**
     * Fields `st2 key load` reads from each item. Anything else is silently ignored: before 2.6 a
     * secret loads as plain text and a user's key becomes a system key.
     */
    loadFields: readonly string[];
    /** Where the row's facts come from (st2client's keyvalue.py at the tag). */
    source: string;
}

const EXPORT_1_4 = ["name", "value", "expire_timestamp"] as const;
const EXPORT_1_5 = ["name", "value", "secret", "encrypted", "scope", "user", "expire_timestamp"] as const;
const SCOPES_1_5: ScopeNames = { system: "system", user: "user" };
const SCOPES_2_1: ScopeNames = { system: "st2kv.system", user: "st2kv.user" };
const LOAD_NAME_VALUE = ["name", "value"] as const;
const LOAD_2_6 = ["name", "value", "scope", "user", "secret", "ttl"] as const;

export const DATASTORE_ERAS: readonly DatastoreEra[] = [
    { since: "1.4.0", exportFields: EXPORT_1_4, decryptFlags: [], loadFields: LOAD_NAME_VALUE, source: "StackStorm/st2@v1.4.0:st2client/st2client/commands/keyvalue.py (list display_attributes)" },
    { since: "1.5.0", exportFields: EXPORT_1_5, scopes: SCOPES_1_5, decryptFlags: ["--decrypt"], loadFields: LOAD_NAME_VALUE, source: "StackStorm/st2@v1.5.0:st2client/st2client/commands/keyvalue.py (list display_attributes, --decrypt)" },
    {
        since: "2.1.0",
        exportFields: EXPORT_1_5,
        scopes: SCOPES_2_1,
        decryptFlags: ["--decrypt"],
        loadFields: LOAD_NAME_VALUE,
        source: "StackStorm/st2@v2.1.0:st2common/st2common/constants/keyvalue.py (FULL_SYSTEM_SCOPE, FULL_USER_SCOPE)",
    },
    { since: "2.6.0", exportFields: EXPORT_1_5, scopes: SCOPES_2_1, decryptFlags: ["--decrypt"], loadFields: LOAD_2_6, source: "StackStorm/st2@v2.6.0:st2client/st2client/commands/keyvalue.py (KeyValuePairLoadCommand reads scope, user, secret, ttl)" },
    {
        since: "3.0.0",
        source: "StackStorm/st2@v3.0.0:st2client/st2client/commands/keyvalue.py (list -d/--decrypt; load reads encrypted)",
        exportFields: EXPORT_1_5,
        scopes: SCOPES_2_1,
        decryptFlags: ["--decrypt", "-d"],
        // `encrypted: true` loads a ciphertext as-is: it only decrypts with the same crypto key.
        loadFields: [...LOAD_2_6, "encrypted"],
    },
];

/** The datastore facts of a release. */
export function datastoreEra(version: string): DatastoreEra {
    const oldest = RELEASE_LINES[0].releases[0];
    if (!semver.valid(version) || semver.lt(version, oldest)) {
        throw new Error(`"${version}" is not a StackStorm release the datastore catalog covers (oldest: ${oldest})`);
    }
    const eras = DATASTORE_ERAS.filter((e) => semver.gte(version, e.since));
    return eras[eras.length - 1];
}

/**
 * Argument lists of `st2 key list -j` that, run one after the other, print every key once (scopes one
 * by one before 2.1, `-n -1` from 2.4: StackStorm/st2 #3708), with secrets decrypted when asked.
 */
export function keyExportListings(version: string, decrypt: boolean): string[][] {
    const era = datastoreEra(version);
    // --decrypt works in every era with secrets; `-d` only from 3.0.
    const flag = decrypt && era.decryptFlags.length ? [era.decryptFlags[0]] : [];
    return keyListCalls(version).map((args) => [...args, ...flag]);
}

/** Whether `st2 key load` of this release keeps scope, user and the secret flag. */
export function keyLoadCarriesScopeAndSecret(version: string): boolean {
    const fields = datastoreEra(version).loadFields;
    return ["scope", "user", "secret"].every((f) => fields.includes(f));
}

/** The first release whose `st2 key load` keeps scope, user and the secret flag. */
export function firstReleaseLoadingScopes(): string {
    return DATASTORE_ERAS.find((e) => ["scope", "user", "secret"].every((f) => e.loadFields.includes(f)))!.since;
}
