/**
 * The Mistral database step: `upgrade head`, then `populate`, with Mistral stopped.
 *
 * If Mistral ran before its database was upgraded, its start-up created the new tables itself and
 * `upgrade head` fails with `relation "event_triggers_v2" already exists`. The runbook's recovery
 * drops a fixed list of tables; on newer Mistral that list is wrong and, sent as one batch, rolls
 * back. So the recovery is computed: a scratch database upgraded to the recorded revision shows
 * which tables that revision owns; the others were created early. They are dropped together (no
 * CASCADE, so nothing the revision owns can go with them), and never when they hold rows.
 */
import type { PackageLeg } from "../plan";
import { makeStep, pm, type Step, type StepContext } from "./context";
import { iniGet, mistralDbUrl, psql, serviceExists, st2Processes } from "./library";
import { q } from "./shell";

const recoverEarlyStart = `scratch_db="" scratch_dir=""
drop_scratch() {
  if [ -n "$scratch_db" ]; then runuser -u postgres -- dropdb --if-exists "$scratch_db" >/dev/null 2>&1 || true; fi
  if [ -n "$scratch_dir" ]; then rm -rf "$scratch_dir"; fi
}
recover_early_start() {
  local url=$1 rev tables owned extra t n quoted tables_ahead
  rev=$(psql_q "$url" "SELECT version_num FROM alembic_version" 2>/dev/null || true)
  tables=$(psql_q "$url" "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1")
  if [ -z "$tables" ]; then return 0; fi
  if [[ ! "$url" =~ ^postgresql://([^:@/]+)(:[^@/]*)?@(localhost|127\\.0\\.0\\.1)?(:[0-9]+)?/ ]]; then
    log "the Mistral database is not on this host: cannot check for tables created early"
    return 0
  fi
  scratch_db="st2_upgrade_scratch_$$"
  scratch_dir=$(mktemp -d)
  trap drop_scratch EXIT
  runuser -u postgres -- createdb -O "\${BASH_REMATCH[1]}" "$scratch_db"
  awk -v url="\${url%/*}/$scratch_db" '/^[[:space:]]*connection[[:space:]]*=/ { print "connection = " url; next } { print }' "$MISTRAL_CONF" >"$scratch_dir/mistral.conf"
  if [ -n "$rev" ]; then
    "$MISTRAL_DB_MANAGE" --config-file "$scratch_dir/mistral.conf" upgrade "$rev" >/dev/null 2>&1 || die "could not rebuild revision $rev in a scratch database"
  fi
  owned=$(psql_q "\${url%/*}/$scratch_db" "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY 1")
  extra=$(comm -23 <(printf '%s\\n' "$tables" | sort) <(printf '%s\\n' "$owned" | sort) | paste -sd ' ')
  if [ -z "$extra" ]; then return 0; fi
  log "Mistral started before its database upgrade: tables [$extra] exist ahead of revision \${rev:-none}"
  for t in $extra; do
    n=$(psql_q "$url" "SELECT count(*) FROM \\"$t\\"")
    [ "$n" -eq 0 ] || die "table $t holds $n rows, refusing to drop it: recover by hand (the backup folder has a pg_dump)"
  done
  # One statement for all of them: the new tables reference each other (workflow and task executions
  # both ways), and without CASCADE any table of the recorded revision that refers to them stops it.
  read -r -a tables_ahead <<<"$extra"
  quoted=$(printf '"%s", ' "\${tables_ahead[@]}")
  psql_q "$url" "DROP TABLE \${quoted%, }" >/dev/null || die "could not drop [$extra] (see the error above)"
  log "dropped [$extra]"
}`;

export function mistralDb(ctx: StepContext, leg: PackageLeg): Step {
    const m = ctx.settings.mistral;
    const lines = [
        `readonly MISTRAL_CONF=${q(m.configFile)} MISTRAL_DB_MANAGE=${q(m.dbManage)}`,
        `if [ -z "$(pm_installed st2mistral)" ]; then log "st2mistral is not installed: no Mistral database to upgrade"; exit 0; fi`,
        `[ -x "$MISTRAL_DB_MANAGE" ] || die "$MISTRAL_DB_MANAGE not found (mistral.dbManage)"`,
        `[ -r "$MISTRAL_CONF" ] || die "$MISTRAL_CONF not found (mistral.configFile)"`,
        `for svc in ${m.services.map(q).join(" ")}; do`,
        `  if service_exists "$svc"; then service "$svc" stop >/dev/null 2>&1 || true; fi`,
        `done`,
        `if st2_processes | grep -q mistral; then die "Mistral is running; it must be stopped during its database upgrade"; fi`,
        `url=$(mistral_db_url "$MISTRAL_CONF")`,
        `recover_early_start "$url"`,
        `"$MISTRAL_DB_MANAGE" --config-file "$MISTRAL_CONF" upgrade head || die "mistral-db-manage upgrade head failed (see above)"`,
        // Never piped through grep as the docs do: that would hide populate's exit code.
        `out=$("$MISTRAL_DB_MANAGE" --config-file "$MISTRAL_CONF" populate 2>&1) || { printf '%s\\n' "$out" | tail -n 20 >&2; die "mistral-db-manage populate failed"; }`,
        `log "Mistral database at revision $(psql_q "$url" "SELECT version_num FROM alembic_version")"`,
    ];
    return makeStep(
        ctx,
        `mistral-db-${leg.version}`,
        `upgrade the Mistral database for ${leg.version}`,
        "outage",
        ctx.settings.timeouts.mistralDb,
        [pm(ctx).query, iniGet, mistralDbUrl, psql, serviceExists, st2Processes, recoverEarlyStart],
        lines,
    );
}
