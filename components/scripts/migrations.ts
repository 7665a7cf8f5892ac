/**
 * One step per version-specific migration. Each records a marker when done and checks it first,
 * so a re-run after a failure half way skips what already happened.
 */
import { migrationRelease, scriptArgs, type CombinePemMigration, type DeleteQueueMigration, type IniRenameMigration, type IniSetMigration, type ScriptMigration } from "../catalog";
import type { ExecutableMigration } from "../plan";
import { makeStep, pm, type Step, type StepContext } from "./context";
import { iniEdit, iniGet } from "./library";
import { q } from "./shell";

const MARKERS = "/var/lib/st2-upgrade/migrations";

export function migration(ctx: StepContext, m: ExecutableMigration, version: string): Step {
    const marker = `${MARKERS}/${m.id}`;
    const lines = [
        `if [ -e ${q(marker)} ]; then log "already applied: $(cat ${q(marker)})"; exit 0; fi`,
        ...migrationLines(m, version),
        `install -d -m 755 ${q(MARKERS)}`,
        `printf '%s with st2 %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(pm_installed st2)" >${q(marker)}`,
    ];
    const functions = [pm(ctx).query, ...(m.kind === "iniSet" || m.kind === "iniRename" || m.kind === "combinePem" ? [iniGet, iniEdit] : [])];
    return makeStep(ctx, `migrate-${m.id}`, `migration ${m.id} (after packages ${version}): ${m.why}`, "outage", ctx.settings.timeouts.migration, functions, lines);
}

/**
 * The work of a migration, without marker handling; exported for the tests that run it.
 * @param version the st2 release installed when it runs (scripts' arguments depend on it).
 */
export function migrationLines(m: ExecutableMigration, version = "3.9.0"): string[] {
    switch (m.kind) {
        case "script":
            return scriptLines(m, version);
        case "combinePem":
            return combinePemLines(m);
        case "iniSet":
            return iniSetLines(m);
        case "iniRename":
            return iniRenameLines(m);
        case "deleteQueue":
            return deleteQueueLines(m);
    }
}

function scriptLines(m: ScriptMigration, version: string): string[] {
    const args = scriptArgs(m, version);
    const cmd = [m.path, ...args].map(q).join(" ");
    return [
        `[ -x ${q(m.path)} ] || die ${q(`${m.path} is missing: the installed st2 does not ship it, so ${m.id} cannot run`)}`,
        `log ${q(`running ${[m.path, ...args].join(" ")}`)}`,
        `out=$(${cmd} 2>&1) || { printf '%s\\n' "$out" >&2; die ${q(`${m.id} failed: `)}"$(printf '%s' "$out" | tail -n 1)"; }`,
        `printf '%s\\n' "$out"`,
    ];
}

/** Adds `key = <value>` right under `[section]`, or appends the section; `value` is a shell word. */
function addKeyLines(file: string, section: string, key: string, value: string): string[] {
    return [
        `# shellcheck disable=SC2016 # the quoted text is an awk program`,
        `ini_edit ${q(file)} '`,
        `  function emit() { print key " = " value; done = 1 }`,
        `  /^[[:space:]]*\\[/ { in_section = ($0 == "[" section "]") }`,
        `  { print }`,
        `  in_section && !done && /^[[:space:]]*\\[/ { emit() }`,
        `  END { if (!done) { print "\\n[" section "]"; emit() } }' -v section=${q(section)} -v key=${q(key)} -v value=${value}`,
    ];
}

function backupLine(file: string, id: string): string {
    return `[ -e ${q(`${file}.before-${id}`)} ] || cp -p ${q(file)} ${q(`${file}.before-${id}`)}`;
}

function iniSetLines(m: IniSetMigration): string[] {
    const file = q(m.file);
    return [
        `[ -f ${file} ] || die ${q(`${m.file} not found`)}`,
        `if current=$(ini_get ${file} ${q(m.section)} ${q(m.key)}); then`,
        `  log ${q(`[${m.section}] ${m.key} is already set:`)}" $current"`,
        `else`,
        `  ${backupLine(m.file, m.id)}`,
        ...addKeyLines(m.file, m.section, m.key, q(m.value)).map((l) => `  ${l}`),
        `  log ${q(`set [${m.section}] ${m.key} = ${m.value} in ${m.file}`)}`,
        `fi`,
    ];
}

function iniRenameLines(m: IniRenameMigration): string[] {
    const file = q(m.file);
    return [
        `[ -f ${file} ] || die ${q(`${m.file} not found`)}`,
        `${backupLine(m.file, m.id)}`,
        ...m.renames.flatMap((r) => [
            `if ini_get ${file} ${q(m.section)} ${q(r.from)} >/dev/null; then`,
            `  if ini_get ${file} ${q(m.section)} ${q(r.to)} >/dev/null; then`,
            `    log ${q(`[${m.section}] has both ${r.from} and ${r.to}: ${r.to} wins, ${r.from} left as is (ignored)`)}`,
            `  else`,
            `    # shellcheck disable=SC2016 # the quoted text is an awk program`,
            `    ini_edit ${file} '`,
            `      /^[[:space:]]*\\[/ { in_section = ($0 == "[" section "]") }`,
            `      in_section && $0 ~ "^[[:space:]]*" from "[[:space:]]*=" { sub(from, to) }`,
            `      { print }' -v section=${q(m.section)} -v from=${q(r.from)} -v to=${q(r.to)}`,
            `    log ${q(`renamed [${m.section}] ${r.from} to ${r.to}`)}`,
            `  fi`,
            `fi`,
        ]),
    ];
}

/**
 * Deletes the queue with whichever RabbitMQ tool the host has. Only a "not found" answer means the
 * queue was already gone; any other failure (broker down, access refused) stops the step, so the
 * done-marker is not written and the next run tries again.
 */
function deleteQueueLines(m: DeleteQueueMigration): string[] {
    const queue = q(m.queue);
    return [
        `if command -v rabbitmqadmin >/dev/null; then`,
        `  tool=(rabbitmqadmin delete queue name=${queue})`,
        `elif command -v rabbitmqctl >/dev/null; then`,
        `  tool=(rabbitmqctl delete_queue ${queue})`,
        `else`,
        `  die ${q(`neither rabbitmqadmin nor rabbitmqctl is on this host: delete the RabbitMQ queue ${m.queue} by hand, then run pulumi up again`)}`,
        `fi`,
        `if out=$("\${tool[@]}" 2>&1); then`,
        `  log ${q(`deleted queue ${m.queue}`)}`,
        `else`,
        `  case "$out" in`,
        `    *"Not found"* | *"not found"* | *not_found*) log ${q(`queue ${m.queue} was not there`)} ;;`,
        `    *) printf '%s\n' "$out" >&2; die ${q(`deleting the RabbitMQ queue ${m.queue} failed (`)}"\${tool[0]}: $(printf '%s' "$out" | tail -n 1)); is RabbitMQ running?" ;;`,
        `  esac`,
        `fi`,
    ];
}

/**
 * Preflight, while StackStorm still consumes it: the queue must hold no message before the upgrade
 * (st2docs upgrade_notes v2.3), or those notifications are lost. An absent queue is empty. Once st2
 * is at the migration's release nothing drains it any more (a resumed run): no check then.
 * Expects `$current`, the installed st2 version.
 */
export function queueEmptyLines(m: DeleteQueueMigration): string[] {
    const queue = q(m.queue);
    const since = migrationRelease(m.id);
    return [
        `if [ "$(printf '%s\\n' "\${current%%-*}" ${q(since)} | sort -V | head -n 1)" = ${q(since)} ]; then`,
        `  log ${q(`st2 is already at ${since} or later: ${m.queue} is no longer drained, not checked`)}`,
        `else`,
        `  if command -v rabbitmqadmin >/dev/null; then`,
        `    listing=$(rabbitmqadmin -f tsv list queues name messages) || die ${q(`rabbitmqadmin list queues failed: cannot check that ${m.queue} is empty (migration ${m.id})`)}`,
        `  else`,
        `    listing=$(rabbitmqctl -q list_queues name messages) || die ${q(`rabbitmqctl list_queues failed: cannot check that ${m.queue} is empty (migration ${m.id})`)}`,
        `  fi`,
        `  waiting=$(printf '%s\\n' "$listing" | awk -F'\\t' -v q=${queue} '$1 == q { print $2 }')`,
        `  case "\${waiting:-0}" in`,
        `    0) log ${q(`RabbitMQ queue ${m.queue} is empty`)} ;;`,
        `    *[!0-9]*) die ${q(`cannot read the message count of RabbitMQ queue ${m.queue}: `)}"$waiting" ;;`,
        `    *) die "RabbitMQ queue ${m.queue} holds $waiting message(s): let st2notifier drain it (it must be empty before upgrading, migration ${m.id}), then run pulumi up again" ;;`,
        `  esac`,
        `fi`,
    ];
}

/**
 * Points `[section] to` at one PEM with key and certificate. Same file (or only a certificate
 * file, which then holds both): that file. Two files: their concatenation, key first, written
 * beside the key with its owner and mode (the docs' `cat keyfile certfile > combined`). The old
 * options stay (3.9 ignores them; a restored 3.8 still reads them).
 */
function combinePemLines(m: CombinePemMigration): string[] {
    const file = q(m.file);
    const where = `[${m.section}]`;
    // Nested rather than `exit 0`: the caller writes the done-marker after these lines.
    const combine = [
        `[ -n "$cert" ] || die ${q(`${where} has ${m.keyOption} but no ${m.certOption}: a client key without its certificate cannot be migrated; set ${m.to} to a PEM holding both`)}`,
        `[ -r "$cert" ] || die "${m.certOption} $cert is not readable"`,
        `if [ -z "$key" ] || [ "$key" = "$cert" ]; then`,
        `  combined=$cert`,
        `else`,
        `  [ -r "$key" ] || die "${m.keyOption} $key is not readable"`,
        `  combined=$(dirname "$key")/${q(m.combinedName)}`,
        `  tmp=$(mktemp "$combined.XXXXXX")`,
        `  cat "$key" "$cert" >"$tmp"`,
        `  chown --reference="$key" "$tmp"`,
        `  chmod --reference="$key" "$tmp"`,
        `  mv "$tmp" "$combined"`,
        `  log "wrote $combined from $key and $cert"`,
        `fi`,
        backupLine(m.file, m.id),
        ...addKeyLines(m.file, m.section, m.to, `"$combined"`),
        `log "set ${where} ${m.to} = $combined in ${m.file}"`,
    ];
    return [
        `[ -f ${file} ] || die ${q(`${m.file} not found`)}`,
        `key=$(ini_get ${file} ${q(m.section)} ${q(m.keyOption)} || true)`,
        `cert=$(ini_get ${file} ${q(m.section)} ${q(m.certOption)} || true)`,
        `if current=$(ini_get ${file} ${q(m.section)} ${q(m.to)}); then`,
        `  log ${q(`${where} ${m.to} is already set:`)}" $current"`,
        `elif [ -z "$key" ] && [ -z "$cert" ]; then`,
        `  log ${q(`${where} has no ${m.keyOption} or ${m.certOption}: nothing to migrate`)}`,
        `else`,
        ...combine.map((l) => `  ${l}`),
        `fi`,
    ];
}
