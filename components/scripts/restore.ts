/**
 * The undo of an upgrade: a host goes back to the pre-upgrade backup its upgrade took (prepare.ts
 * `backup`), as a chain like the upgrade's. StackStorm has no down-migrations (st2docs
 * install/upgrades.rst; 3.5's field-type migration: "there is no rollback"), so a restore puts back
 * everything the backup holds instead: the exact packages, /etc/st2, /etc/mistral, `backup.extraPaths`
 * and the databases. What the restore replaces is first kept beside the backup (`before-restore/`),
 * so even accepted loss can be recovered by hand; audit logs are append-only and never touched.
 */
import { datastoreEra } from "../catalog/datastore";
import type { RestoreSource } from "../plan";
import { makeStep, pm, type Step, type StepContext } from "./context";
import { iniGet, keyExportLines, mistralDbUrl, osDistro, psql } from "./library";
import { start, stop, verify } from "./outage";
import { q } from "./shell";

/** The restore chain, in execution order. */
export function restoreSteps(ctx: StepContext, source: RestoreSource): Step[] {
    return [
        restorePreflight(ctx, source),
        stop(ctx, "restore-stop"),
        restorePackages(ctx, source),
        restoreFiles(ctx, source),
        restoreDatabases(ctx, source),
        start(ctx, "restore-start"),
        restoreDatastore(ctx, source),
        verify(ctx, "restore-verify"),
    ];
}

/** Where the backup (`$b`) and, with `snap`, the copies of what the restore replaces (`$snap`) live on the host. */
function places(ctx: StepContext, source: RestoreSource, snap = true): string[] {
    const dir = ctx.settings.backup.dir;
    return [`b=${q(`${dir}/${source.backup}`)}`, ...(snap ? [`snap=${q(`${dir}/before-restore/${source.backup}`)}`] : [])];
}

/**
 * Bash + Python (StackStorm hosts always have a Python: the system's or st2's own) comparing the
 * datastore now with the backup's export, one `st2 key list -j` output per file. Keys are told
 * apart by name, scope (the 2.1 rename `system` -> `st2kv.system` aside) and user.
 *   datastore_diff count NOW... -- BACKUP...   prints "<added> <changed>" since the backup
 *   datastore_diff apply NOW... -- BACKUP...   prints "<scope>^_<user>^_<name>" of each key to delete
 *                                              (ASCII unit separators: not whitespace, so an empty
 *                                              user stays a field for \`read\`),
 *                                              and writes the backup's keys, still loadable, to $LOAD
 */
const datastoreDiff = `st2_python() {
  local p
  for p in python3 /opt/stackstorm/st2/bin/python3 /usr/libexec/platform-python /opt/stackstorm/st2/bin/python python; do
    if command -v "$p" >/dev/null; then command -v "$p"; return 0; fi
  done
  die "no Python on this host to compare datastore exports"
}
datastore_diff() {
  "$(st2_python)" - "$@" <<'PY'
import datetime, json, os, sys
mode, args = sys.argv[1], sys.argv[2:]
cut = args.index("--")
def items(files):
    out = {}
    for f in files:
        with open(f) as fh:
            text = fh.read().strip()
        for i in (json.loads(text) if text else []):
            scope = (i.get("scope") or "system").replace("st2kv.", "")
            out[(scope, i.get("user") or "", i["name"])] = i
    return out
now, then = items(args[:cut]), items(args[cut + 1:])
if mode == "count":
    added = sum(1 for k in now if k not in then)
    changed = sum(1 for k in now if k in then and (now[k].get("value"), bool(now[k].get("secret"))) != (then[k].get("value"), bool(then[k].get("secret"))))
    print(added, changed)
    sys.exit(0)
for k in sorted(now):
    if k not in then:
        print("\\x1f".join(k))
load, utc = [], datetime.datetime.utcnow()
for k, i in sorted(then.items()):
    item = {f: i[f] for f in ("name", "value", "scope", "user", "secret", "encrypted") if i.get(f) not in (None, "")}
    expire = i.get("expire_timestamp")
    if expire:
        left = (datetime.datetime.strptime(expire[:19], "%Y-%m-%dT%H:%M:%S") - utc).total_seconds()
        if left < 1:
            continue
        item["ttl"] = int(left)
    load.append(item)
with open(os.environ["LOAD"], "w") as fh:
    json.dump(load, fh)
PY
}`;

/**
 * The backup is whole (every checksum), made for this host's distribution and package manager, its
 * packages are there; then what the restore would lose is counted, and refused without
 * `restore.acceptLoss`. Changes nothing.
 */
function restorePreflight(ctx: StepContext, source: RestoreSource): Step {
    const { plan, settings } = ctx;
    const strategy = pm(ctx);
    const lines = [
        ...places(ctx, source),
        `[ -d "$b" ] || die "the backup $b is not on the host any more: nothing to restore from"`,
        `for f in manifest.json SHA256SUMS packages.tsv; do`,
        `  [ -f "$b/$f" ] || die "$b has no $f: it cannot be restored safely"`,
        `done`,
        `(cd "$b" && sha256sum --quiet --strict -c SHA256SUMS) || die "$b does not match its checksums (SHA256SUMS, above): the backup is damaged; nothing was changed"`,
        `distro=$(os_distro)`,
        `grep -qF "\\"distro\\":\\"$distro\\"" "$b/manifest.json" || die "$b was taken on another distribution than this host's $distro (manifest.json): its packages do not fit"`,
        `grep -qF '"packageManager":"${strategy.name}"' "$b/manifest.json" || die "$b was taken with another package manager than ${strategy.name}"`,
        `grep -qF '"version":"${plan.to}"' "$b/manifest.json" || die "$b was not taken at ${plan.to} (manifest.json)"`,
        `n=0`,
        `while IFS=$'\\t' read -r p v file; do`,
        `  [ "$p" = package ] && continue`,
        `  [ "$(pm_file_id "$b/$file")" = "$p $v" ] || die "$b/$file is not $p $v"`,
        `  n=$((n + 1))`,
        `done <"$b/packages.tsv"`,
        `[ "$n" -gt 0 ] || die "$b keeps no package"`,
        `log "backup $b: whole (checksums), $n packages of ${plan.to}, for $distro"`,
        // What would be lost: keys written or changed since the backup (the datastore goes back to the
        // export), Mistral executions since (the database goes back to the dump).
        `work=$(mktemp -d)`,
        `trap 'rm -rf "$work"' EXIT`,
        `keys_added=0 keys_changed=0 mistral=0`,
        `if compgen -G "$b/datastore-*.json" >/dev/null; then`,
        ...keyExportLines(plan.from, "$work", "now-").map((l) => `  ${l}`),
        `  counts=$(datastore_diff count "$work"/now-*.json -- "$b"/datastore-*.json)`,
        `  read -r keys_added keys_changed <<<"$counts"`,
        `fi`,
        `if [ -f "$b/mistral.pgdump" ] && [ -r ${q(settings.mistral.configFile)} ]; then`,
        `  url=$(mistral_db_url ${q(settings.mistral.configFile)})`,
        `  stamp=${q(source.backup.slice(0, 16))}`,
        `  since="\${stamp:0:4}-\${stamp:4:2}-\${stamp:6:2} \${stamp:9:2}:\${stamp:11:2}:\${stamp:13:2}"`,
        `  for t in $(psql_q "$url" "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'created_at' AND table_name LIKE '%executions%' ORDER BY 1"); do`,
        `    mistral=$((mistral + $(psql_q "$url" "SELECT count(*) FROM \\"$t\\" WHERE created_at > '$since'::timestamp")))`,
        `  done`,
        `fi`,
        `printf 'RESTORE_LOSS {"keysAdded":%s,"keysChanged":%s,"mistralExecutions":%s}\\n' "$keys_added" "$keys_changed" "$mistral"`,
        `if [ "$keys_added" -gt 0 ] || [ "$keys_changed" -gt 0 ] || [ "$mistral" -gt 0 ]; then`,
        settings.restore.acceptLoss
            ? `  log "restore.acceptLoss is true: going back loses $keys_added key(s) written and $keys_changed changed since the backup, and $mistral Mistral execution(s); what is replaced is kept in $snap"`
            : `  die "the restore would lose work done since the backup $(basename "$b"): $keys_added key(s) written and $keys_changed changed since, $mistral Mistral execution(s) since. Nothing was changed. To go back anyway (what is replaced is kept in $snap): pulumi config set --path st2-upgrade:restore.acceptLoss true"`,
        `fi`,
        ...datastoreLoadCheck(plan.to),
    ];
    return makeStep(ctx, "restore-preflight", `check the backup ${source.backup} and what a restore would lose`, "prepare", settings.timeouts.step, [strategy.query, strategy.keep, iniGet, mistralDbUrl, psql, osDistro, datastoreDiff], lines);
}

/**
 * Without a MongoDB dump, the datastore comes back through `st2 key load` of the backup's export,
 * which keeps secrets encrypted only where the target's key load reads `encrypted` (3.0+, catalog
 * datastore.ts); older releases would store a secret's ciphertext as plain text.
 */
function datastoreLoadCheck(version: string): string[] {
    if (datastoreEra(version).loadFields.includes("encrypted")) return [];
    return [
        `if [ ! -f "$b/mongodb.archive.gz" ] && compgen -G "$b/datastore-*.json" >/dev/null; then`,
        `  die ${q(`the backup keeps the datastore as an export, and st2 ${version}'s key load cannot load it back faithfully (it stores secrets' ciphertext as plain text, catalog datastore.ts); restoring it needs the backup's own MongoDB dump (mongodb.archive.gz, taken when mongod runs on the host); restore MongoDB by hand from your own dump instead: nothing was changed`)}`,
        `fi`,
    ];
}

/** The backup's package files, downgrades allowed; no repository needed. */
function restorePackages(ctx: StepContext, source: RestoreSource): Step {
    const lines = [
        ...places(ctx, source, false),
        `pm_repair`,
        `files=()`,
        `while IFS=$'\\t' read -r p v file; do`,
        `  [ "$p" = package ] && continue`,
        `  if [ "$(pm_installed "$p")" = "$v" ]; then log "$p is at $v already"; else files+=("$b/$file"); fi`,
        `done <"$b/packages.tsv"`,
        `if [ "\${#files[@]}" -gt 0 ]; then`,
        `  log "installing \${files[*]##*/}"`,
        `  pm_restore "\${files[@]}" || die "installing the backup's packages failed (see above); nothing else was changed yet: fix the cause and run pulumi up again"`,
        `fi`,
        `while IFS=$'\\t' read -r p v file; do`,
        `  [ "$p" = package ] && continue`,
        `  [ "$(pm_installed "$p")" = "$v" ] || die "$p is at $(pm_installed "$p") after the restore, expected $v"`,
        `done <"$b/packages.tsv"`,
        `log "st2 is now $(pm_installed st2)"`,
    ];
    return makeStep(ctx, "restore-packages", `install the packages of ${source.takenAt} the backup keeps`, "outage", ctx.settings.timeouts.packages, [pm(ctx).query, pm(ctx).install, pm(ctx).keep], lines);
}

/** /etc/st2, /etc/mistral and `backup.extraPaths` as the backup has them; what they were is kept in $snap. */
function restoreFiles(ctx: StepContext, source: RestoreSource): Step {
    const lines = [
        ...places(ctx, source),
        `umask 077`,
        `install -d -m 700 "$snap"`,
        `shopt -s nullglob`,
        `for archive in "$b"/*.tar.gz; do`,
        `  name=$(basename "$archive" .tar.gz)`,
        `  [ "$name" = audit-logs ] && continue`,
        `  # the path the backup archived (etc/st2, var/lib/x): the archive's first entry`,
        `  top=$(tar -tzf "$archive" | sed -n 1p)`,
        `  top=\${top%/}`,
        `  case "$top" in "" | . | /* | *..*) die "$archive starts with '$top', not a path to restore" ;; esac`,
        `  if [ -e "/$top" ] && [ ! -e "$snap/$name.tar.gz" ]; then tar -C / -czf "$snap/$name.tar.gz.partial" "$top" && mv "$snap/$name.tar.gz.partial" "$snap/$name.tar.gz"; fi`,
        `  rm -rf -- "/\${top:?}"`,
        `  tar -C / -xzf "$archive"`,
        `  log "/$top is as the backup has it (what it was: $snap/$name.tar.gz)"`,
        `done`,
    ];
    return makeStep(ctx, "restore-files", "restore /etc/st2, /etc/mistral and backup.extraPaths", "outage", ctx.settings.timeouts.step, [], lines);
}

/**
 * Mistral's database from the dump, in one transaction (a failure leaves it as it was), after the
 * current one is dumped beside; MongoDB with `mongorestore --drop` when the backup has its dump.
 */
function restoreDatabases(ctx: StepContext, source: RestoreSource): Step {
    const conf = q(ctx.settings.mistral.configFile);
    const lines = [
        ...places(ctx, source),
        `umask 077`,
        `install -d -m 700 "$snap"`,
        `restored=""`,
        `if [ -f "$b/mistral.pgdump" ]; then`,
        `  [ -r ${conf} ] || die "the backup has a Mistral database dump but ${conf} is missing"`,
        `  url=$(mistral_db_url ${conf})`,
        `  if [ ! -s "$snap/mistral.pgdump" ]; then pg_dump -Fc -f "$snap/mistral.pgdump" "$url" || die "could not dump the Mistral database before replacing it"; fi`,
        // The schema's objects go and the dump's come back in one transaction: tables a newer
        // release added (and its alembic revision) cannot survive next to the old ones.
        `  { printf 'DROP SCHEMA public CASCADE;\\nCREATE SCHEMA public;\\n'; pg_restore --no-owner --no-privileges -f - "$b/mistral.pgdump"; } |`,
        `    psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$url" >/dev/null || die "restoring the Mistral database failed; it is unchanged (one transaction)"`,
        `  restored+=" Mistral (alembic $(psql_q "$url" 'SELECT version_num FROM alembic_version'))"`,
        `fi`,
        `if [ -f "$b/mongodb.archive.gz" ]; then`,
        `  command -v mongorestore >/dev/null || die "the backup has a MongoDB dump but mongorestore is not installed"`,
        `  if [ ! -s "$snap/mongodb.archive.gz" ]; then mongodump --quiet --gzip --archive="$snap/mongodb.archive.gz" || die "could not dump MongoDB before replacing it"; fi`,
        `  mongorestore --quiet --drop --gzip --archive="$b/mongodb.archive.gz" || die "mongorestore failed"`,
        `  restored+=" MongoDB"`,
        `fi`,
        `log "databases restored:\${restored:- none in the backup}"`,
    ];
    return makeStep(ctx, "restore-databases", "restore the databases the backup holds", "outage", ctx.settings.timeouts.mistralDb, [iniGet, mistralDbUrl, psql], lines);
}

/**
 * With StackStorm running again at the old release: the datastore as the backup's export has it
 * (keys written since deleted, every other loaded back, secrets as their ciphertext), unless MongoDB
 * itself was restored. Before: the keys as they are, beside the backup.
 */
function restoreDatastore(ctx: StepContext, source: RestoreSource): Step {
    const { plan, settings } = ctx;
    const lines = [
        ...places(ctx, source),
        `if [ -f "$b/mongodb.archive.gz" ] || ! compgen -G "$b/datastore-*.json" >/dev/null; then log "no datastore export to load (MongoDB restored, or nothing exported)"; exit 0; fi`,
        `umask 077`,
        `work=$(mktemp -d)`,
        `trap 'rm -rf "$work"' EXIT`,
        `deadline=$((SECONDS + ${settings.verify.settleSeconds}))`,
        `until st2 key list -j -n 1 >/dev/null 2>&1 || st2 key list -j >/dev/null 2>&1; do`,
        `  [ "$SECONDS" -lt "$deadline" ] || die "st2 key list still fails ${settings.verify.settleSeconds} s after start: is st2api up and root's st2 CLI authenticated?"`,
        `  sleep 2`,
        `done`,
        ...keyExportLines(plan.to, "$work", "now-"),
        `if ! compgen -G "$snap/datastore-now-*.json" >/dev/null; then for f in "$work"/now-*.json; do cp "$f" "$snap/datastore-$(basename "$f")"; done; fi`,
        `export LOAD="$work/load.json"`,
        `gone=$(datastore_diff apply "$work"/now-*.json -- "$b"/datastore-*.json)`,
        `deleted=0`,
        `while IFS=$'\\x1f' read -r scope user name; do`,
        `  [ -n "$name" ] || continue`,
        `  if [ -n "$user" ] && [ "$scope" = user ]; then`,
        `    st2 key delete "$name" --scope user --user "$user" >/dev/null 2>&1 || st2 key delete "$name" --scope user >/dev/null || die "could not delete the user key $name (of $user) written since the backup"`,
        `  else`,
        `    st2 key delete "$name" --scope "$scope" >/dev/null || die "could not delete the key $name written since the backup"`,
        `  fi`,
        `  deleted=$((deleted + 1))`,
        `done <<<"$gone"`,
        `st2 key load "$LOAD" >/dev/null || die "st2 key load of the backup's keys failed (see above)"`,
        `log "datastore as the backup has it: $(grep -o '"name"' "$LOAD" | wc -l) key(s) loaded, $deleted written since deleted (before: $snap)"`,
    ];
    return makeStep(ctx, "restore-datastore", "load the datastore as the backup has it", "outage", settings.timeouts.step, [datastoreDiff], lines);
}
