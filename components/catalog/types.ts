/**
 * Shapes of the version catalog. The data lives in `releases.ts`; the logic that reads it in
 * `index.ts` and `../plan.ts`.
 */

/**
 * Every package name the StackStorm upgrade runbook has ever named (config and scripts read this
 * list); the enterprise sub-packages are released at the same version as bwc-enterprise.
 */
export const PACKAGE_NAMES = [
    "st2", "st2web", "st2chatops", "st2mistral", "st2enterprise", "bwc-enterprise",
    "st2flow", "bwc-ui", "st2-auth-ldap", "st2-rbac-backend",
] as const;
export type PackageName = (typeof PACKAGE_NAMES)[number];

/**
 * Where a fact comes from: `StackStorm/<repo>@<branch or tag>:<path>`, optionally followed by
 * ` (<section or lines>)`. Checked by `catalogProblems`.
 */
export type Source = string;

/**
 * A distribution as StackStorm's install docs name it: `ubuntu-<VERSION_ID>` or `el<major>` for the
 * RHEL family (RHEL, CentOS, Rocky Linux, AlmaLinux).
 */
export type OsKey = `ubuntu-${string}` | `el${number}`;

/** What `/etc/os-release` says: `ID` and `VERSION_ID`. */
export interface OsRelease {
    id: string;
    versionId: string;
}

interface MigrationBase {
    /** Stable identifier, also the name of the on-host marker that records the migration ran. */
    id: string;
    /** One line for the operator reading `pulumi preview`: what changes and why it matters. */
    why: string;
    /** Where the fact comes from; every catalog migration has one (`catalogProblems` checks). */
    source?: Source;
}

/** Runs a script that the st2 package ships. */
export interface ScriptMigration extends MigrationBase {
    kind: "script";
    path: string;
    args?: readonly string[];
    /** An oslo.config script: it reads st2.conf only when given `--config-file` before st2 2.8. */
    readsSt2Conf?: boolean;
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

/**
 * Points `[section] to` at one file holding a private key and its certificate, made from the files of
 * `keyOption` and `certOption`: concatenated beside the key file when they are two files.
 */
export interface CombinePemMigration extends MigrationBase {
    kind: "combinePem";
    file: string;
    section: string;
    keyOption: string;
    certOption: string;
    to: string;
    /** Name of the combined file, written in the key file's folder when key and cert are separate. */
    combinedName: string;
}

/** Something an operator must do or know that no script can do safely; shown, never executed. */
export interface Notice extends MigrationBase {
    kind: "notice";
}

export type Migration = ScriptMigration | IniSetMigration | IniRenameMigration | CombinePemMigration | DeleteQueueMigration | Notice;

/** A migration as the catalog lists it (with its `source`). */
export type CatalogMigration = Migration;

/** A `st2ctl reload` flag a line needs after its packages, on some distributions only. */
export interface ReloadFlag {
    flag: string;
    /** Distributions that need it; every distribution when absent. */
    onlyOn?: readonly OsKey[];
    why: string;
    source: Source;
}

/** A release line (major.minor) with what upgrading *to* it requires. */
export interface ReleaseLine {
    line: string;
    /** Every published release of the line, oldest first. */
    releases: readonly string[];
    /** The packages this line publishes (the enterprise ones from the enterprise repository). */
    packages: readonly PackageName[];
    /** Distributions the line's packages are published for. */
    os: readonly OsKey[];
    /** Where `releases`, `packages`, `os`, the runbook order (`procedure`) and `python` come from. */
    sources: { releases: Source; packages: Source; os: Source; procedure: Source; python?: Source };
    /** The Python st2's virtualenv runs, per the sources (a fact shown to operators, not used to plan). */
    python?: string;
    /**
     * Whether this line's runbook upgrades the Mistral database before the migration scripts
     * (2.2 and later) or after them (2.1 and earlier).
     */
    mistralBeforeScripts: boolean;
    /** Extra `st2ctl reload` flags needed after upgrading to this line. */
    reloadFlags?: readonly ReloadFlag[];
    migrations?: readonly CatalogMigration[];
}

/**
 * A CLI behaviour that changed at a release: the `st2 key list` calls that together list every key.
 * One call per argument list (before 2.1 there is no `--scope all`: system and user go separately).
 */
export interface KeyListFlags {
    since: string;
    calls: readonly (readonly string[])[];
    source: Source;
}

/** A host's distribution, as /etc/os-release names it (`ID`, `VERSION_ID`). */
export interface OsRelease {
    id: string;
    versionId: string;
}
