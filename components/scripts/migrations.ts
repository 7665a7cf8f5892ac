/**
 * One step per version-specific migration. Each records a marker when done and checks it first,
 * so a re-run after a failure half way skips what already happened.
 */
import type { DeleteQueueMigration, IniRenameMigration, IniSetMigration, ScriptMigration } from "../catalog";
import type { ExecutableMigration } from "../plan";
import { makeStep, pm, type Step, type StepContext } from "./context";
import { iniEdit, iniGet } from "./library";
import { q } from "./shell";

const MARKERS = "/var/lib/st2-upgrade/migrations";

export function migration(ctx: StepContext, m: ExecutableMigration, version: string): Step {
    const marker = `${MARKERS}/${m.id}`;
    const lines = [
        `if [ -e ${q(marker)} ]; then log "already applied: $(cat ${q(marker)})"; exit 0; fi`,
        ...migrationLines(m),
        `install -d -m 755 ${q(MARKERS)}`,
        `printf '%s with st2 %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(pm_installed st2)" >${q(marker)}`,
    ];
    const functions = [pm(ctx).query, ...(m.kind === "iniSet" || m.kind === "iniRename" ? [iniGet, iniEdit] : [])];
    return makeStep(ctx, `migrate-${m.id}`, `migration ${m.id} (after packages ${version}): ${m.why}`, "outage", ctx.settings.timeouts.migration, functions, lines);
}

/** The work of a migration, without marker handling; exported for the tests that run it. */
export function migrationLines(m: ExecutableMigration): string[] {
    switch (m.kind) {
        case "script":
            return scriptLines(m);
        case "iniSet":
            return iniSetLines(m);
        case "iniRename":
            return iniRenameLines(m);
        case "deleteQueue":
            return deleteQueueLines(m);
    }
}

function scriptLines(m: ScriptMigration): string[] {
    const cmd = [m.path, ...(m.args ?? [])].map(q).join(" ");
    return [
        `[ -x ${q(m.path)} ] || die ${q(`${m.path} is missing: the installed st2 does not ship it, so ${m.id} cannot run`)}`,
        `log ${q(`running ${[m.path, ...(m.args ?? [])].join(" ")}`)}`,
        `out=$(${cmd} 2>&1) || { printf '%s\\n' "$out" >&2; die ${q(`${m.id} failed: `)}"$(printf '%s' "$out" | tail -n 1)"; }`,
        `printf '%s\\n' "$out"`,
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
        // Adds the key under an existing section, or appends the section.
        `  # shellcheck disable=SC2016 # the quoted text is an awk program`,
        `  ini_edit ${file} '`,
        `    function emit() { print key " = " value; done = 1 }`,
        `    /^[[:space:]]*\\[/ { in_section = ($0 == "[" section "]") }`,
        `    { print }`,
        `    in_section && !done && /^[[:space:]]*\\[/ { emit() }`,
        `    END { if (!done) { print "\\n[" section "]"; emit() } }' -v section=${q(m.section)} -v key=${q(m.key)} -v value=${q(m.value)}`,
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

function deleteQueueLines(m: DeleteQueueMigration): string[] {
    const queue = q(m.queue);
    return [
        `if command -v rabbitmqadmin >/dev/null; then`,
        `  rabbitmqadmin delete queue name=${queue} || log ${q(`queue ${m.queue} was not there`)}`,
        `elif command -v rabbitmqctl >/dev/null; then`,
        `  rabbitmqctl delete_queue ${queue} || log ${q(`queue ${m.queue} was not there`)}`,
        `else`,
        `  die ${q(`neither rabbitmqadmin nor rabbitmqctl is on this host: delete the RabbitMQ queue ${m.queue} by hand, then run pulumi up again`)}`,
        `fi`,
    ];
}
