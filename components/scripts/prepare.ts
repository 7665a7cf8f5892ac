/**
 * Steps that run while StackStorm still serves: they find problems and do slow work (downloads,
 * backups) before the outage begins.
 */
import { PACKAGE_NAMES } from "../catalog";
import { refusedPackages } from "../plan";
import { makeStep, pm, type Step, type StepContext } from "./context";
import { queueEmptyLines } from "./migrations";
import { iniGet, keyExportLines, legPins, mistralDbUrl, osDistro, versionGe } from "./library";
import { bashArray, q } from "./shell";

/** Reachable, right distribution tools, the version the plan assumes, enough disk. Changes nothing. */
export function preflight(ctx: StepContext): Step {
    const { host, hostIndex, plan, settings } = ctx;
    const strategy = pm(ctx);
    const key = `hosts[${hostIndex}]`;
    const allowed = [plan.from, ...plan.legs.map((l) => l.version)];
    const lines = [
        `command -v ${strategy.binary} >/dev/null || die ${q(`${strategy.binary} not found, but ${key}.packageManager is ${strategy.name}`)}`,
        `distro=$(os_distro)`,
        `current=$(pm_installed st2)`,
        `[ -n "$current" ] || die "the st2 package is not installed: is this a StackStorm host?"`,
        bashArray("allowed", allowed),
        `case " \${allowed[*]} " in`,
        `  *" \${current%%-*} "*) log "st2 $current installed on $distro" ;;`,
        `  *) die "st2 $current is installed, but ${key}.currentVersion is ${plan.from}: set it to \${current%%-*}" ;;`,
        `esac`,
        `for dir in ${q(strategy.cacheDir)} ${q(settings.backup.dir)}; do`,
        `  existing=$dir`,
        `  while [ ! -d "$existing" ]; do existing=$(dirname "$existing"); done`,
        `  free=$(df -Pm "$existing" | awk 'NR == 2 { print $4 }')`,
        `  [ "$free" -ge ${settings.preflight.minFreeMb} ] || die "only $free MB free for $dir; preflight.minFreeMb asks for ${settings.preflight.minFreeMb} MB"`,
        `done`,
        `packages="" installed=()`,
        `for p in ${PACKAGE_NAMES.join(" ")}; do`,
        `  v=$(pm_installed "$p")`,
        `  if [ -n "$v" ]; then packages+="\${packages:+,}\\"$p\\":\\"$v\\""; installed+=("$p"); fi`,
        `done`,
        ...(host.packages
            ? [
                  `expected=${q([...host.packages].sort().join(" "))}`,
                  `actual=$(printf '%s\\n' "\${installed[@]}" | sort | paste -sd ' ')`,
                  `[ "$actual" = "$expected" ] || die "${key}.packages lists [$expected] but the host has [$actual]: the plan would be wrong"`,
              ]
            : []),
        ...refusedPackages(plan.from, plan.to).map((r) => `[ -z "$(pm_installed ${r.pkg})" ] || die ${q(r.message)}`),
        ...toolChecks(ctx),
        `printf 'PREFLIGHT {"distro":"%s","st2":"%s","freeMb":%s,"packages":{%s}}\\n' "$distro" "$current" "$free" "$packages"`,
    ];
    return makeStep(ctx, "preflight", "check the host before changing anything", "prepare", settings.timeouts.step, [strategy.query, osDistro], lines);
}

/** Downloads every package of every leg, so that the outage only installs. */
export function fetch(ctx: StepContext): Step {
    const strategy = pm(ctx);
    const lines = [
        `pm_refresh`,
        ...ctx.plan.legs.flatMap((leg) => [
            `pins=$(leg_pins ${q(leg.version)} ${leg.packages.map(q).join(" ")})`,
            `if [ -n "$pins" ]; then`,
            `  mapfile -t tokens <<<"$pins"`,
            `  log "downloading \${tokens[*]}"`,
            `  pm_fetch "\${tokens[@]}" || die "downloading \${tokens[*]} failed (see above): is the repository reachable, is there space in ${strategy.cacheDir}?"`,
            `fi`,
        ]),
        `log "packages for ${ctx.plan.legs.map((l) => l.version).join(", then ")} are in the local cache"`,
    ];
    return makeStep(ctx, "fetch", "download packages without installing them", "prepare", ctx.settings.timeouts.packages, [strategy.query, strategy.install, versionGe, legPins], lines);
}

/**
 * A dated folder only root can read, with what an upgrade could damage: the Mistral database, the
 * datastore (every key, secrets still encrypted), configuration and audit logs. Written under a
 * `.partial` name and renamed when complete, so an interrupted backup is never mistaken for one.
 */
export function backup(ctx: StepContext): Step {
    const { plan, settings } = ctx;
    const b = settings.backup;
    const lines = [
        `umask 077`,
        `install -d -m 700 ${q(b.dir)}`,
        `stamp=$(date -u +%Y%m%dT%H%M%SZ)`,
        `dest=${q(b.dir)}/$stamp-${q(`${plan.from}-to-${plan.to}`)}`,
        `work="$dest.partial"`,
        `mkdir "$work"`,
        `for dir in etc/st2 etc/mistral ${b.extraPaths.map((p) => q(p.replace(/^\/+/, ""))).join(" ")}; do`,
        `  if [ -e "/$dir" ]; then tar -C / -czf "$work/$(printf '%s' "$dir" | tr / _).tar.gz" "$dir"; fi`,
        `done`,
        `shopt -s nullglob`,
        `audit=(/var/log/st2/*.audit.log*)`,
        `if [ "\${#audit[@]}" -gt 0 ]; then tar -C / -czf "$work/audit-logs.tar.gz" "\${audit[@]#/}"; fi`,
        `if command -v st2 >/dev/null; then`,
        ...keyExportLines(plan.from, "$work", "datastore-").map((l) => `  ${l}`),
        `  log "datastore: $(cat "$work"/datastore-*.json | grep -c '"name"' || true) keys exported (secrets stay encrypted)"`,
        `fi`,
        `if [ -n "$(pm_installed st2mistral)" ] && [ -r ${q(settings.mistral.configFile)} ]; then`,
        `  command -v pg_dump >/dev/null || die "pg_dump is needed to back up the Mistral database"`,
        `  pg_dump -Fc -f "$work/mistral.pgdump" "$(mistral_db_url ${q(settings.mistral.configFile)})" || die "pg_dump of the Mistral database failed"`,
        `fi`,
        `if command -v mongodump >/dev/null && pgrep -x mongod >/dev/null; then`,
        `  mongodump --quiet --gzip --archive="$work/mongodb.archive.gz" || die "mongodump failed: MongoDB needs credentials? add a dump folder to backup.extraPaths instead"`,
        `fi`,
        // The exact packages the host runs, so that a restore needs no repository (it may be gone).
        `mkdir "$work/packages"`,
        `printf 'package\\tversion\\tfile\\n' >"$work/packages.tsv"`,
        `manifest_packages=""`,
        `for p in ${PACKAGE_NAMES.join(" ")}; do`,
        `  v=$(pm_installed "$p")`,
        `  [ -n "$v" ] || continue`,
        `  file=$(pm_keep "$p" "$v" "$work/packages") || die "could not keep the package file of $p $v (package cache and repository both tried): a restore needs it"`,
        `  printf '%s\\t%s\\t%s\\n' "$p" "$v" "packages/$file" >>"$work/packages.tsv"`,
        `  manifest_packages+="\${manifest_packages:+,}\\"$p\\":{\\"version\\":\\"$v\\",\\"file\\":\\"packages/$file\\"}"`,
        `done`,
        `distro=$(os_distro)`,
        // What each file holds, for whoever restores it (by hand or with a restore chain).
        `holds=""`,
        `for f in "$work"/*; do`,
        `  [ -f "$f" ] || continue`,
        `  name=$(basename "$f")`,
        `  case "$name" in`,
        `    audit-logs.tar.gz) what="audit logs as they were (/var/log/st2/*.audit.log*; a restore never writes them back)" ;;`,
        `    *.tar.gz) what=$(tar -tzf "$f" | sed -n 1p); what="/\${what%/}" ;;`,
        `    datastore-*.json) what="st2 key list -j of st2 ${plan.from} (secrets encrypted with /etc/st2/keys)" ;;`,
        `    mistral.pgdump) what="the Mistral database (pg_dump -Fc)" ;;`,
        `    mongodb.archive.gz) what="MongoDB (mongodump --gzip --archive)" ;;`,
        `    packages.tsv) what="package, version and file of every StackStorm package installed (packages/)" ;;`,
        `    *) what="" ;;`,
        `  esac`,
        `  holds+="\${holds:+,}\\"$(json_esc "$name")\\":\\"$(json_esc "$what")\\""`,
        `done`,
        `printf '{"format":1,"host":"%s","takenAt":"%s","version":"%s","upgradeTo":"%s","distro":"%s","packageManager":"%s","packages":{%s},"holds":{%s},"checksums":"SHA256SUMS"}\\n' \\`,
        `  "$ST2U_HOST" "$stamp" ${q(plan.from)} ${q(plan.to)} "$distro" ${q(pm(ctx).name)} "$manifest_packages" "$holds" >"$work/manifest.json"`,
        `sums=$(cd "$work" && find . -type f -printf '%P\\0' | sort -z | xargs -0 sha256sum --)`,
        `printf '%s\\n' "$sums" >"$work/SHA256SUMS"`,
        `mv "$work" "$dest"`,
        `rm -rf ${q(b.dir)}/*.partial`,
        `mapfile -t old < <(find ${q(b.dir)} -mindepth 1 -maxdepth 1 -type d -name '20*-to-*' | sort | head -n -${b.keep})`,
        `if [ "\${#old[@]}" -gt 0 ]; then rm -rf -- "\${old[@]}"; log "removed \${#old[@]} old backup(s), keeping ${b.keep}"; fi`,
        `log "backup complete: $(du -sh "$dest" | cut -f1)"`,
        `printf 'BACKUP_PATH=%s\\n' "$dest"`,
    ];
    const jsonEsc = `json_esc() { printf '%s' "$1" | sed 's/[\\\\"]/\\\\&/g'; }`;
    return makeStep(ctx, "backup", "back up data, configuration and the installed packages on the host", "prepare", settings.timeouts.packages, [pm(ctx).query, pm(ctx).keep, iniGet, mistralDbUrl, osDistro, jsonEsc], lines);
}

/**
 * Tools that planned migrations need but no package brings, and queues that must be empty before
 * the upgrade: either stops the upgrade before the outage.
 */
function toolChecks(ctx: StepContext): string[] {
    return ctx.plan.legs
        .flatMap((leg) => leg.migrations)
        .filter((m) => m.kind === "deleteQueue")
        .flatMap((m) => [
            `command -v rabbitmqadmin >/dev/null || command -v rabbitmqctl >/dev/null || die ${q(
                `migration ${m.id} needs rabbitmqadmin or rabbitmqctl on this host: install one, or delete the queue ${m.queue} by hand and add "${m.id}" to skipMigrations`,
            )}`,
            ...queueEmptyLines(m),
        ]);
}
