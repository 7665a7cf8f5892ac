/**
 * Shapes of the version catalog. The data lives in `releases.ts`; the logic that reads it in
 * `index.ts` and `../plan.ts`.
 */

/** Every package name the StackStorm upgrade runbook has ever named. */
export type PackageName = "st2" | "st2web" | "st2chatops" | "st2mistral" | "bwc-enterprise" | "st2enterprise";

interface MigrationBase {
    /** Stable identifier, also the name of the on-host marker that records the migration ran. */
    id: string;
    /** One line for the operator reading `pulumi preview`: what changes and why it matters. */
    why: string;
}

/** Runs a script that the st2 package ships. */
export interface ScriptMigration extends MigrationBase {
    kind: "script";
    path: string;
    args?: readonly string[];
    /**
     * Last release line whose st2 package still ships the script. Upgrading past it without a
     * stepping stone would leave the migration impossible to run.
     */
    shippedUntil?: string;
}

/** Adds `key = value` under `[section]` of an ini file when the key is missing. */
export interface IniSetMigration extends MigrationBase {
    kind: "iniSet";
    file: string;
    section: string;
    key: string;
    value: string;
}

/** Renames keys of one ini section whose meaning did not change, keeping their values. */
export interface IniRenameMigration extends MigrationBase {
    kind: "iniRename";
    file: string;
    section: string;
    renames: readonly { from: string; to: string }[];
}

/** Deletes a RabbitMQ queue whose message format changed. */
export interface DeleteQueueMigration extends MigrationBase {
    kind: "deleteQueue";
    queue: string;
}

/** Something an operator must do or know that no script can do safely; shown, never executed. */
export interface Notice extends MigrationBase {
    kind: "notice";
}

export type Migration = ScriptMigration | IniSetMigration | IniRenameMigration | DeleteQueueMigration | Notice;

/** A release line (major.minor) with what upgrading *to* it requires. */
export interface ReleaseLine {
    line: string;
    /** Every published release of the line, oldest first. */
    releases: readonly string[];
    /** The packages this line publishes. */
    packages: readonly PackageName[];
    /**
     * Whether this line's runbook upgrades the Mistral database before the migration scripts
     * (2.2 and later) or after them (2.1 and earlier).
     */
    mistralBeforeScripts: boolean;
    /** Extra `st2ctl reload` flags needed after upgrading to this line. */
    reloadFlags?: readonly string[];
    migrations?: readonly Migration[];
}

/**
 * A CLI behaviour that changed at a release: the `st2 key list` calls that together list every key.
 * One call per argument list (before 2.1 there is no `--scope all`: system and user go separately).
 */
export interface KeyListFlags {
    since: string;
    calls: readonly (readonly string[])[];
}

/** A host's distribution, as /etc/os-release names it (`ID`, `VERSION_ID`). */
export interface OsRelease {
    id: string;
    versionId: string;
}
