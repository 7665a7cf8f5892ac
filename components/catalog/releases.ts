/**
 * The StackStorm version catalog: the one file to edit when StackStorm publishes a release or starts
 * or stops supporting a distribution.
 *
 * Every fact names its source (`StackStorm/<repo>@<branch or tag>:<path>`): st2docs per release branch
 * (install/upgrades.rst, upgrade_notes.rst, install/system_requirements.rst), st2 per tag (CHANGELOG.rst,
 * st2common/setup.py, st2common/st2common/config.py) and StackStorm/st2cd. A migration listed under a
 * line runs when a host upgrades *to* that line or jumps over it: skipped versions' migrations are
 * never optional.
 */
import type { KeyListFlags, OsKey, PackageName, ReleaseLine, Source } from "./types";

const ST2_BIN = "/opt/stackstorm/st2/bin";
const ST2_CONF = "/etc/st2/st2.conf";

const docs = (branch: string, file: string, section?: string): Source =>
    `StackStorm/st2docs@${branch}:docs/source/${file}${section ? ` (${section})` : ""}`;
const st2 = (tag: string, path: string, section?: string): Source => `StackStorm/st2@${tag}:${path}${section ? ` (${section})` : ""}`;
/** The st2 tags of a line, and the CHANGELOG of the newest tag that lists them. */
const tags = (line: string, changelogTag: string): Source => st2(changelogTag, "CHANGELOG.rst", `tags v${line}.*`);
const NOTES = (line: string): Source => docs("v3.9", "upgrade_notes.rst", `v${line}`);
const UPGRADES = (line: string): Source => docs("v3.9", "install/upgrades.rst", `v${line}`);
const REQUIREMENTS = (line: string): Source => docs(`v${line}`, "install/system_requirements.rst");

// Package sets. 1.x named the enterprise package st2enterprise, 2.0 renamed it bwc-enterprise;
// Mistral and the enterprise offer end with 3.2. The enterprise sub-packages are installed pinned to
// the bwc-enterprise version (st2-rbac-backend from 3.0.0): StackStorm/st2cd
// actions/st2_upgrade_to_enterprise.sh; bwc-ui and st2flow are named as enterprise packages in
// st2docs v2.6+ install/uninstall.rst, st2-rbac-backend in st2docs v3.0 upgrade_notes.rst (v3.0).
const ERA_1: readonly PackageName[] = ["st2", "st2web", "st2chatops", "st2mistral", "st2enterprise"];
const ENTERPRISE_2: readonly PackageName[] = ["bwc-enterprise", "st2flow", "bwc-ui", "st2-auth-ldap"];
const ERA_2: readonly PackageName[] = ["st2", "st2web", "st2chatops", "st2mistral", ...ENTERPRISE_2];
const ERA_2_RBAC: readonly PackageName[] = [...ERA_2, "st2-rbac-backend"];
const ERA_3: readonly PackageName[] = ["st2", "st2web", "st2chatops"];
const PACKAGES_1 = docs("v1.5", "install/upgrades.rst");
const PACKAGES_2 = `${docs("v2.0", "install/upgrades.rst")}; StackStorm/st2cd@02fbdbf:actions/st2_upgrade_to_enterprise.sh`;
const PACKAGES_2_RBAC = `${docs("v3.0", "upgrade_notes.rst", "v3.0")}; StackStorm/st2cd@02fbdbf:actions/st2_upgrade_to_enterprise.sh`;
const PACKAGES_3 = docs("v3.3", "install/upgrades.rst", "General Upgrade Procedure");

// Distributions per line, from each branch's install docs.
const U14_EL67: readonly OsKey[] = ["ubuntu-14.04", "el6", "el7"];
const U1416_EL67: readonly OsKey[] = ["ubuntu-14.04", "ubuntu-16.04", "el6", "el7"];
const U1618_EL67: readonly OsKey[] = ["ubuntu-16.04", "ubuntu-18.04", "el6", "el7"];
const U1618_EL678: readonly OsKey[] = ["ubuntu-16.04", "ubuntu-18.04", "el6", "el7", "el8"];
const U1618_EL78: readonly OsKey[] = ["ubuntu-16.04", "ubuntu-18.04", "el7", "el8"];
const U1820_EL78: readonly OsKey[] = ["ubuntu-18.04", "ubuntu-20.04", "el7", "el8"];
const U2022_EL89: readonly OsKey[] = ["ubuntu-20.04", "ubuntu-22.04", "el8", "el9"];
// Order of the runbook: 2.1's docs run the migration scripts after the packages and before the
// Mistral database, 2.2's run the Mistral database first. (1.5-2.0 docs list the scripts before the
// packages, which cannot run a script the new package brings: 2.1's order is kept for them.)
const SCRIPTS_THEN_MISTRAL = docs("v2.1", "install/upgrades.rst", "General Upgrade Procedure");
const MISTRAL_THEN_SCRIPTS = docs("v2.2", "install/upgrades.rst", "General Upgrade Procedure");
const PROCEDURE_3 = docs("v3.3", "install/upgrades.rst", "General Upgrade Procedure");
const OS_1 = (line: string): Source => `${docs(`v${line}`, "install/index.rst")}; ${docs(`v${line}`, "install/deb.rst")}`;

const line1 = (line: string, releases: string[], changelogTag: string) => ({
    line,
    releases,
    packages: ERA_1,
    os: U14_EL67,
    sources: { releases: tags(line, changelogTag), packages: PACKAGES_1, os: OS_1(line), procedure: SCRIPTS_THEN_MISTRAL },
    mistralBeforeScripts: false,
});
const line2 = (line: string, releases: string[], changelogTag: string, mistralBeforeScripts = true) => ({
    line,
    releases,
    packages: ERA_2,
    os: line === "2.0" ? U14_EL67 : U1416_EL67,
    sources: { releases: tags(line, changelogTag), packages: PACKAGES_2, os: REQUIREMENTS(line), procedure: mistralBeforeScripts ? MISTRAL_THEN_SCRIPTS : SCRIPTS_THEN_MISTRAL },
    mistralBeforeScripts,
});
const line3 = (line: string, releases: string[], os: readonly OsKey[], changelogTag = "v3.9.0") => ({
    line,
    releases,
    packages: ERA_3,
    os,
    sources: { releases: tags(line, changelogTag), packages: PACKAGES_3, os: REQUIREMENTS(line), procedure: PROCEDURE_3 },
    mistralBeforeScripts: true,
});

export const RELEASE_LINES: readonly ReleaseLine[] = [
    line1("1.4", ["1.4.0"], "v1.6.0"),
    {
        ...line1("1.5", ["1.5.0", "1.5.1"], "v1.6.0"),
        migrations: [
            {
                kind: "script",
                id: "1.5-datastore-scope-secret",
                why: "datastore items gain `scope` and `secret`; without it older keys are unreadable",
                path: `${ST2_BIN}/st2-migrate-datastore-to-include-scope-secret.py`,
                readsSt2Conf: true,
                shippedUntil: "3.0",
                source: `${docs("v1.5", "install/upgrades.rst")}; shipped: ${st2("v3.0.1", "st2common/setup.py", "scripts")}, gone from ${st2("v3.1.0", "st2common/setup.py")}`,
            },
        ],
    },
    line1("1.6", ["1.6.0"], "v1.6.0"),
    {
        ...line2("2.0", ["2.0.0", "2.0.1"], "v2.0.1", false),
        migrations: [
            {
                kind: "notice",
                id: "2.0-reload-registers-rules",
                why: "`st2ctl reload` registers rules too from 2.0: rules that failed silently before now load (or fail loudly)",
                source: NOTES("2.0"),
            },
        ],
    },
    {
        ...line2("2.1", ["2.1.0", "2.1.1"], "v2.1.1", false),
        migrations: [
            {
                kind: "notice",
                id: "2.1-pack-validation",
                why:
                    "packs are validated from 2.1 (pack.yaml `version` must be semver, `email` valid, pack refs and action parameter names word characters only, no dashes): " +
                    "a pack that fails does not load and `st2ctl reload` reports it; update community packs and fix your own BEFORE upgrading",
                source: NOTES("2.1"),
            },
            {
                kind: "script",
                id: "2.1-datastore-scopes",
                why: "scopes `system`/`user` become `st2kv.system`/`st2kv.user`; unmigrated keys vanish from `st2 key list`",
                path: `${ST2_BIN}/st2-migrate-datastore-scopes.py`,
                readsSt2Conf: true,
                shippedUntil: "3.0",
                source: `${UPGRADES("2.1")}; shipped: ${st2("v3.0.1", "st2common/setup.py", "scripts")}, gone from ${st2("v3.1.0", "st2common/setup.py")}`,
            },
            {
                kind: "script",
                id: "2.1-runners",
                why: "runners are registered like other content from 2.1 on",
                // A shell script calling `st2ctl reload --register-runners`, which passes st2.conf itself.
                path: `${ST2_BIN}/st2-migrate-runners.sh`,
                shippedUntil: "3.0",
                source: `${UPGRADES("2.1")}; ${st2("v2.1.1", "st2common/bin/migrations/v2.1/st2-migrate-runners.sh")}`,
            },
        ],
    },
    {
        ...line2("2.2", ["2.2.0", "2.2.1"], "v2.2.1"),
        migrations: [
            {
                kind: "notice",
                id: "2.2-mistral-executions-v2",
                why: "Mistral splits executions_v2 into workflow/task/action tables; old rows stay in executions_v2 and are not migrated",
                source: NOTES("2.2"),
            },
            {
                kind: "notice",
                id: "2.2-jinja-scopes",
                why: "Jinja `{{system.key}}`/`{{user.key}}` no longer work: use `{{st2kv.system.key}}`/`{{st2kv.user.key}}` in actions, rules and workflows",
                source: NOTES("2.2"),
            },
        ],
    },
    {
        ...line2("2.3", ["2.3.0", "2.3.1", "2.3.2"], "v2.3.2"),
        migrations: [
            {
                kind: "deleteQueue",
                id: "2.3-notifier-queue",
                why: "the notifier moves to st2.notifiers.execution.work; st2.notifiers.work must be empty before the upgrade (checked in preflight) and deleted after it, or it grows forever",
                queue: "st2.notifiers.work",
                source: NOTES("2.3"),
            },
        ],
    },
    {
        ...line2("2.4", ["2.4.0", "2.4.1"], "v2.4.1"),
        migrations: [
            {
                kind: "notice",
                id: "2.4-st2kv-decrypt",
                why:
                    "the st2kv function no longer decrypts secrets by default: write `st2kv('key', decrypt=true)` where a secret's clear value is needed; " +
                    "st2chatops moves to Node.js 6 (switch the NodeSource repository first); new installs use MongoDB 3.4",
                source: `${NOTES("2.4")}; ${UPGRADES("2.4")}`,
            },
        ],
    },
    line2("2.5", ["2.5.0", "2.5.1"], "v2.5.1"),
    line2("2.6", ["2.6.0"], "v2.6.0"),
    line2("2.7", ["2.7.0", "2.7.1", "2.7.2"], "v2.7.2"),
    {
        ...line2("2.8", ["2.8.0", "2.8.1"], "v2.8.1"),
        migrations: [
            {
                kind: "iniSet",
                id: "2.8-workflow-engine-logging",
                why: "new service st2workflowengine needs its logging config",
                file: ST2_CONF,
                section: "workflow_engine",
                key: "logging",
                value: "/etc/st2/logging.workflowengine.conf",
                source: NOTES("2.8"),
            },
        ],
    },
    {
        ...line2("2.9", ["2.9.0", "2.9.1", "2.9.2", "2.9.3"], "v2.9.3"),
        sources: { releases: `${tags("2.9", "v2.9.3")}; ${st2("v2.9.2", "CHANGELOG.rst", "2.9.2 - December 19, 2018")}`, packages: PACKAGES_2, os: REQUIREMENTS("2.9"), procedure: MISTRAL_THEN_SCRIPTS },
        migrations: [
            {
                kind: "iniSet",
                id: "2.9-timers-engine-logging",
                why: "new service st2timersengine needs its logging config",
                file: ST2_CONF,
                section: "timersengine",
                key: "logging",
                value: "/etc/st2/logging.timersengine.conf",
                source: NOTES("2.9"),
            },
        ],
    },
    {
        ...line2("2.10", ["2.10.0", "2.10.1", "2.10.2", "2.10.3", "2.10.4"], "v2.10.4"),
        migrations: [
            {
                kind: "notice",
                id: "2.10-repository-keys",
                why:
                    "the apt/yum repository GPG keys change (refresh the repository setup BEFORE upgrading, enterprise too) and st2chatops needs Node.js 10; " +
                    "custom runners in /opt/stackstorm/runners must become Python packages in st2's virtualenv",
                source: `${docs("v2.10", "install/upgrades.rst", "Update GPG Key")}; ${UPGRADES("2.10")}; ${NOTES("2.10")}`,
            },
        ],
    },
    {
        ...line2("3.0", ["3.0.0", "3.0.1"], "v3.0.1"),
        packages: ERA_2_RBAC,
        sources: { releases: tags("3.0", "v3.0.1"), packages: PACKAGES_2_RBAC, os: REQUIREMENTS("3.0"), procedure: MISTRAL_THEN_SCRIPTS },
        migrations: [
            {
                kind: "notice",
                id: "3.0-runners-rbac",
                why: "CloudSlang and winexe runners are removed; RBAC now needs `[rbac] backend = enterprise` (and the st2-rbac-backend package)",
                source: NOTES("3.0"),
            },
        ],
    },
    {
        ...line2("3.1", ["3.1.0"], "v3.1.0"),
        packages: ERA_2_RBAC,
        os: U1618_EL67,
        sources: { releases: tags("3.1", "v3.1.0"), packages: PACKAGES_2_RBAC, os: REQUIREMENTS("3.1"), procedure: MISTRAL_THEN_SCRIPTS },
    },
    {
        ...line2("3.2", ["3.2.0"], "v3.2.0"),
        packages: ERA_2_RBAC,
        os: U1618_EL678,
        sources: { releases: tags("3.2", "v3.2.0"), packages: PACKAGES_2_RBAC, os: REQUIREMENTS("3.2"), procedure: MISTRAL_THEN_SCRIPTS },
        migrations: [
            {
                kind: "notice",
                id: "3.2-orquesta-drain",
                why: "let running Orquesta workflows finish before the upgrade (with-items state changed); a task named `continue` is refused; community LDAP users need pyasn1 in st2's virtualenv",
                source: NOTES("3.2"),
            },
        ],
    },
    {
        ...line3("3.3", ["3.3.0"], U1618_EL78),
        migrations: [
            {
                kind: "notice",
                id: "3.3-mistral-removed",
                why:
                    "Mistral is removed: convert every Mistral workflow to Orquesta BEFORE upgrading (orquestaconvert helps); " +
                    "the trigger st2.action.file_writen is renamed st2.action.file_written (update rules); " +
                    "st2mistral and PostgreSQL stay installed and stopped (purge them when ready); MongoDB 4.0 is the new default (3.4 -> 3.6 -> 4.0, one step at a time)",
                source: `${NOTES("3.3")}; ${UPGRADES("3.3")}`,
            },
        ],
    },
    {
        ...line3("3.4", ["3.4.0", "3.4.1"], U1618_EL78),
        python: "3 on every distribution (Ubuntu 16.04 and RHEL/CentOS 7 move from Python 2)",
        sources: { releases: tags("3.4", "v3.9.0"), packages: PACKAGES_3, os: REQUIREMENTS("3.4"), python: NOTES("3.4"), procedure: PROCEDURE_3 },
        reloadFlags: [
            {
                flag: "--register-recreate-virtualenvs",
                onlyOn: ["ubuntu-16.04", "el7"],
                why: "packs' virtualenvs move from Python 2 to Python 3",
                source: UPGRADES("3.4"),
            },
        ],
        migrations: [
            {
                kind: "notice",
                id: "3.4-python3",
                why:
                    "Python 2 is gone: packs that only support Python 2 must be ported first; Ubuntu 16.04 needs python3.6 installable (deadsnakes PPA) and RHEL 7 python3-devel from an enabled repository BEFORE the packages are upgraded",
                source: `${NOTES("3.4")}; ${UPGRADES("3.4")}`,
            },
        ],
    },
    {
        ...line3("3.5", ["3.5.0"], U1820_EL78),
        migrations: [
            {
                kind: "notice",
                id: "3.5-pack-validation",
                why: "action definitions with duplicate keys now fail `st2ctl reload`: check custom packs with st2-validate-pack -p <path>; `%` interpolation in pack config values is gone",
                source: `${UPGRADES("3.5")}; ${NOTES("3.5")}`,
            },
            {
                kind: "notice",
                id: "3.5-nodejs-nginx-coordination",
                why:
                    "st2chatops needs Node.js 14 (set up the NodeSource 14 repository first); the packaged nginx st2.conf allows only TLSv1.2/1.3 but the deployed /etc/nginx/conf.d/st2.conf is not updated; " +
                    "the packaged st2.conf now sets `[coordination] url = redis://127.0.0.1:6379`, but this program upgrades with apt's --force-confold (yum keeps it as .rpmnew), " +
                    "so your st2.conf stays without it: install Redis and set the coordination url yourself, or workflows with branches and with-items misbehave",
                source: `${UPGRADES("3.5")}; ${NOTES("3.5")}; ${st2("v3.5.0", "conf/st2.package.conf", "[coordination]")}`,
            },
        ],
    },
    {
        ...line3("3.6", ["3.6.0"], U1820_EL78),
        migrations: [
            {
                kind: "notice",
                id: "3.6-sockets",
                why:
                    "st2api, st2auth and st2stream listen where st2.conf says (systemd generators replace the .socket files): edits of the .socket units or DAEMON_ARGS are ignored, move the host/port into st2.conf; " +
                    "RabbitMQ upgrade recommended (non-EL8)",
                source: NOTES("3.6"),
            },
        ],
    },
    {
        ...line3("3.7", ["3.7.0"], U1820_EL78),
        python: "3.8 on RHEL/Rocky/CentOS 8 (was 3.6)",
        sources: { releases: tags("3.7", "v3.9.0"), packages: PACKAGES_3, os: REQUIREMENTS("3.7"), python: NOTES("3.7"), procedure: PROCEDURE_3 },
        reloadFlags: [
            {
                flag: "--register-recreate-virtualenvs",
                onlyOn: ["el8"],
                why: "st2 moves from Python 3.6 to 3.8 on EL8: packs' virtualenvs must be re-created",
                source: `${UPGRADES("3.7")}; ${NOTES("3.7")}`,
            },
        ],
        migrations: [
            {
                kind: "notice",
                id: "3.7-global-pack",
                why: "`_global` is reserved for the global metadata override file: rename a pack called _global BEFORE upgrading; the auth cookie becomes Secure and SameSite=lax",
                source: `${UPGRADES("3.7")}; ${NOTES("3.7")}`,
            },
        ],
    },
    {
        ...line3("3.8", ["3.8.0", "3.8.1"], U1820_EL78),
        migrations: [
            {
                kind: "notice",
                id: "3.8-output-schema-rbac",
                why: "with `[system] validate_output_schema = True`, output_schema must be a full JSON schema (invalid ones are ignored); with RBAC, users running workflows that read the datastore need key_value_pair permissions",
                source: NOTES("3.8"),
            },
        ],
    },
    {
        ...line3("3.9", ["3.9.0"], U2022_EL89),
        python: "3.8 to 3.11 (3.6 dropped)",
        sources: { releases: tags("3.9", "v3.9.0"), packages: PACKAGES_3, os: REQUIREMENTS("3.9"), python: NOTES("3.9"), procedure: PROCEDURE_3 },
        migrations: [
            {
                // ssl -> tls and ssl_ca_certs -> tls_ca_file stay accepted as deprecated names, and
                // ssl_cert_reqs / ssl_match_hostname are still read as fallbacks; only the key and
                // certificate files are ignored (pymongo 4), so only they are migrated.
                kind: "combinePem",
                id: "3.9-database-tls",
                why: "[database] ssl_keyfile/ssl_certfile are ignored from 3.9 (pymongo 4): tls_certificate_key_file must name one file with key and certificate, or MongoDB client-certificate logins fail",
                file: ST2_CONF,
                section: "database",
                keyOption: "ssl_keyfile",
                certOption: "ssl_certfile",
                to: "tls_certificate_key_file",
                combinedName: "st2-mongodb-client-key-and-cert.pem",
                source: `${NOTES("3.9")}; ${st2("v3.9.0", "st2common/st2common/config.py", "[database] ssl_keyfile, ssl_certfile")}; ${st2("v3.9.0", "st2common/st2common/models/db/__init__.py", "_get_tls_kwargs")}; real-st2/3.9.0/70-database-options.txt`,
            },
            {
                kind: "notice",
                id: "3.9-yaql-format-distros",
                why: "the YAQL format() function is removed (use + and str(), or replace()); Ubuntu 18.04 and CentOS 7 are no longer supported; [database] ssl_cert_reqs and ssl_match_hostname are deprecated (tls_allow_invalid_certificates, tls_allow_invalid_hostnames: meaning inverted)",
                source: NOTES("3.9"),
            },
        ],
    },
];

/**
 * st2 reads /etc/st2/st2.conf by default only from 2.8.0 (`default_config_files` in
 * st2common/st2common/config.py); before, oslo.config scripts read it only when given `--config-file`.
 */
export const DEFAULT_CONFIG_FILE_SINCE = "2.8.0";
export const DEFAULT_CONFIG_FILE_SOURCE: Source = `${st2("v2.8.0", "st2common/st2common/config.py", "parse_args: default_config_files")}, absent from ${st2("v2.7.2", "st2common/st2common/config.py")}; ${NOTES("2.2")}`;
export const ST2_CONF_PATH = ST2_CONF;

/** Ubuntu's codenames, as Canonical's AMI names spell them (fresh roll-over instances). */
export const UBUNTU_CODENAMES: Readonly<Record<string, string>> = {
    "14.04": "trusty",
    "16.04": "xenial",
    "18.04": "bionic",
    "20.04": "focal",
    "22.04": "jammy",
};

/**
 * The RHEL family as os-release IDs spell it. st2docs names RHEL, CentOS and Rocky Linux; AlmaLinux
 * is treated as the RHEL rebuild it is (no StackStorm source names it).
 */
export const EL_IDS: readonly string[] = ["rhel", "centos", "rocky", "almalinux"];

/**
 * `st2 key list` shows only scope `system` unless asked (scopes arrive in 1.5, `--scope all` in 2.1),
 * and from 2.4 only the first 50 items unless `-n -1` (StackStorm/st2 #3708).
 */
export const KEY_LIST_FLAGS: readonly KeyListFlags[] = [
    { since: "1.4.0", calls: [[]], source: st2("v1.4.0", "st2client/st2client/commands/keyvalue.py", "KeyValuePairListCommand: no scope") },
    { since: "1.5.0", calls: [["--scope", "system"], ["--scope", "user"]], source: st2("v1.5.0", "st2client/st2client/commands/keyvalue.py", "-s/--scope, default system") },
    { since: "2.1.0", calls: [["--scope", "all"]], source: st2("v2.1.0", "st2common/st2common/constants/keyvalue.py", "ALL_SCOPE") },
    { since: "2.4.0", calls: [["--scope", "all", "-n", "-1"]], source: st2("v2.4.0", "st2client/st2client/commands/keyvalue.py", "-n/--last") },
];

/** `st2ctl reload` flag every upgrade runs: re-registers all content with the new code. */
export const BASE_RELOAD_FLAGS: readonly string[] = ["--register-all"];
