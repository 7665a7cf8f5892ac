/**
 * The StackStorm version catalog: the one file to edit when StackStorm publishes a release.
 *
 * Facts come from st2docs `install/upgrades.rst` and `upgrade_notes.rst`, the st2 CHANGELOG and the
 * st2-packages repository. A migration listed under a line runs when a host upgrades *to* that line
 * or jumps over it: skipped versions' migrations are never optional.
 */
import type { KeyListFlags, PackageName, ReleaseLine } from "./types";

const ST2_BIN = "/opt/stackstorm/st2/bin";
const ST2_CONF = "/etc/st2/st2.conf";

// Package sets of the three eras; st2enterprise was renamed bwc-enterprise in 2.0, the enterprise
// offer and Mistral ended with 3.2.
const ERA_1: readonly PackageName[] = ["st2", "st2web", "st2chatops", "st2mistral", "st2enterprise"];
const ERA_2: readonly PackageName[] = ["st2", "st2web", "st2chatops", "st2mistral", "bwc-enterprise"];
const ERA_3: readonly PackageName[] = ["st2", "st2web", "st2chatops"];

export const RELEASE_LINES: readonly ReleaseLine[] = [
    { line: "1.4", releases: ["1.4.0"], packages: ERA_1, mistralBeforeScripts: false },
    {
        line: "1.5",
        releases: ["1.5.0", "1.5.1"],
        packages: ERA_1,
        mistralBeforeScripts: false,
        migrations: [
            {
                kind: "script",
                id: "1.5-datastore-scope-secret",
                why: "datastore items gain `scope` and `secret`; without it older keys are unreadable",
                path: `${ST2_BIN}/st2-migrate-datastore-to-include-scope-secret.py`,
                shippedUntil: "3.0",
            },
        ],
    },
    { line: "1.6", releases: ["1.6.0"], packages: ERA_1, mistralBeforeScripts: false },
    { line: "2.0", releases: ["2.0.0", "2.0.1"], packages: ERA_2, mistralBeforeScripts: false },
    {
        line: "2.1",
        releases: ["2.1.0", "2.1.1"],
        packages: ERA_2,
        mistralBeforeScripts: false,
        migrations: [
            {
                kind: "script",
                id: "2.1-datastore-scopes",
                why: "scopes `system`/`user` become `st2kv.system`/`st2kv.user`; unmigrated keys vanish from `st2 key list`",
                path: `${ST2_BIN}/st2-migrate-datastore-scopes.py`,
                shippedUntil: "3.0",
            },
            {
                kind: "script",
                id: "2.1-runners",
                why: "runners are registered like other content from 2.1 on",
                path: `${ST2_BIN}/st2-migrate-runners.sh`,
                shippedUntil: "3.0",
            },
        ],
    },
    {
        line: "2.2",
        releases: ["2.2.0", "2.2.1"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "2.2-mistral-executions-v2",
                why: "Mistral splits executions_v2 into workflow/task/action tables; old rows stay in executions_v2 and are not migrated",
            },
        ],
    },
    {
        line: "2.3",
        releases: ["2.3.0", "2.3.1", "2.3.2"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "deleteQueue",
                id: "2.3-notifier-queue",
                why: "the notifier's queue changed format; the old st2.notifiers.work queue must go",
                queue: "st2.notifiers.work",
            },
        ],
    },
    {
        line: "2.4",
        releases: ["2.4.0", "2.4.1"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "2.4-st2kv-decrypt",
                why: "st2chatops moves to Node.js 6, and the st2kv Jinja filter no longer decrypts secrets unless asked (| decrypt_kv)",
            },
        ],
    },
    { line: "2.5", releases: ["2.5.0", "2.5.1"], packages: ERA_2, mistralBeforeScripts: true },
    { line: "2.6", releases: ["2.6.0"], packages: ERA_2, mistralBeforeScripts: true },
    { line: "2.7", releases: ["2.7.0", "2.7.1", "2.7.2"], packages: ERA_2, mistralBeforeScripts: true },
    {
        line: "2.8",
        releases: ["2.8.0", "2.8.1"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "iniSet",
                id: "2.8-workflow-engine-logging",
                why: "new service st2workflowengine needs its logging config",
                file: ST2_CONF,
                section: "workflow_engine",
                key: "logging",
                value: "/etc/st2/logging.workflowengine.conf",
            },
        ],
    },
    {
        line: "2.9",
        releases: ["2.9.0", "2.9.1"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "iniSet",
                id: "2.9-timers-engine-logging",
                why: "new service st2timersengine needs its logging config",
                file: ST2_CONF,
                section: "timersengine",
                key: "logging",
                value: "/etc/st2/logging.timersengine.conf",
            },
        ],
    },
    {
        line: "2.10",
        releases: ["2.10.0", "2.10.1", "2.10.2", "2.10.3", "2.10.4"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "2.10-repository-keys",
                why: "package repository GPG keys change and st2chatops needs Node.js 10: refresh the repository setup before upgrading",
            },
        ],
    },
    {
        line: "3.0",
        releases: ["3.0.0", "3.0.1"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "3.0-runners-rbac",
                why: "CloudSlang and winexe runners are removed; RBAC now needs `[rbac] backend = enterprise`",
            },
        ],
    },
    { line: "3.1", releases: ["3.1.0"], packages: ERA_2, mistralBeforeScripts: true },
    {
        line: "3.2",
        releases: ["3.2.0"],
        packages: ERA_2,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "3.2-orquesta-drain",
                why: "let running Orquesta workflows finish before the upgrade; LDAP users need pyasn1 in st2's virtualenv",
            },
        ],
    },
    {
        line: "3.3",
        releases: ["3.3.0"],
        packages: ERA_3,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "3.3-mistral-removed",
                why: "Mistral is removed (st2mistral stays installed and stopped; purge it when ready) and MongoDB 4.0 is the default (3.4 -> 3.6 -> 4.0 one step at a time)",
            },
        ],
    },
    {
        line: "3.4",
        releases: ["3.4.0", "3.4.1"],
        packages: ERA_3,
        mistralBeforeScripts: true,
        reloadFlags: ["--register-recreate-virtualenvs"],
    },
    {
        line: "3.5",
        releases: ["3.5.0"],
        packages: ERA_3,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "notice",
                id: "3.5-pack-validation",
                why: "pack validation is stricter: check custom packs with st2-validate-pack -p <path>",
            },
        ],
    },
    { line: "3.6", releases: ["3.6.0"], packages: ERA_3, mistralBeforeScripts: true },
    { line: "3.7", releases: ["3.7.0", "3.7.1"], packages: ERA_3, mistralBeforeScripts: true },
    { line: "3.8", releases: ["3.8.0", "3.8.1"], packages: ERA_3, mistralBeforeScripts: true },
    {
        line: "3.9",
        releases: ["3.9.0"],
        packages: ERA_3,
        mistralBeforeScripts: true,
        migrations: [
            {
                kind: "iniRename",
                id: "3.9-database-tls",
                why: "[database] ssl* options are renamed tls*; the old names are silently ignored",
                file: ST2_CONF,
                section: "database",
                renames: [
                    { from: "ssl", to: "tls" },
                    { from: "ssl_ca_certs", to: "tls_ca_file" },
                ],
            },
        ],
    },
];

/**
 * `st2 key list` shows only scope `system` unless asked (scopes arrive in 1.5, `--scope all` in 2.1),
 * and from 2.4 only the first 50 items unless `-n -1` (StackStorm/st2 #3708).
 */
export const KEY_LIST_FLAGS: readonly KeyListFlags[] = [
    { since: "1.4.0", calls: [[]] },
    { since: "1.5.0", calls: [["--scope", "system"], ["--scope", "user"]] },
    { since: "2.1.0", calls: [["--scope", "all"]] },
    { since: "2.4.0", calls: [["--scope", "all", "-n", "-1"]] },
];

/** `st2ctl reload` flag every upgrade runs: re-registers all content with the new code. */
export const BASE_RELOAD_FLAGS: readonly string[] = ["--register-all"];
