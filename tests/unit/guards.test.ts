/**
 * The generated guards that read processes and `st2ctl status`, fed with what real StackStorm runs
 * and prints: the recorded service command lines and status outputs of real st2 3.8.1 and 3.9.0
 * (real-st2/<v>/20-*, 10-*, 11-*), and the command lines StackStorm's packages start where no
 * recording exists (cited per line).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { st2ctlDown, st2Processes } from "../../components/scripts/library";
import { stepScript } from "../../components/scripts/shell";
import { doubleInstall, runDouble } from "../support/double";
import { packaged, transcript } from "../support/reference";

/** Command lines from StackStorm's packaging, for services the recordings ran differently or not at all. */
const PACKAGED_LINES = [
    // st2-packages packages/st2/debian/st2api.service (ExecStart + DAEMON_ARGS); the interpreter is
    // the gunicorn script's virtualenv shebang, as for every script in 20-ps-args-st2-services.txt
    "/opt/stackstorm/st2/bin/python3 /opt/stackstorm/st2/bin/gunicorn st2api.wsgi:application -k eventlet -b 127.0.0.1:9101 --workers 1 --threads 1 --graceful-timeout 10 --timeout 30 --log-config /etc/st2/logging.api.gunicorn.conf --error-logfile /var/log/st2/st2api.log",
    // st2-packages 8c4b0be (last commit with Mistral) packages/st2mistral/debian/mistral-api.init:
    // DAEMON=/opt/stackstorm/mistral/bin/gunicorn, API_ARGS
    "/opt/stackstorm/mistral/bin/python /opt/stackstorm/mistral/bin/gunicorn --log-file /var/log/mistral/mistral-api.log -b 127.0.0.1:8989 -w 2 mistral.api.wsgi --graceful-timeout 10 --pid /var/run/mistral/mistral-api.pid",
    // same commit, packages/st2mistral/debian/mistral-server.init: --server $(enabled_list server) SERVER_ARGS
    "/opt/stackstorm/mistral/bin/python /opt/stackstorm/mistral/bin/mistral-server --server engine,executor --config-file /etc/mistral/mistral.conf --log-file /var/log/mistral/mistral-server.log",
];

/** Processes that name services without being one. */
const DECOYS = [
    "tail -f /var/log/st2/st2api.log",
    "less /var/log/mistral/mistral-api.log",
    "vim /opt/stackstorm/st2/bin/st2actionrunner",
    "grep -E mistral.api.wsgi|bin/st2api",
    "sudo bash -c st2_processes() { pgrep -af st2api; }",
    // real st2chatops (st2 PR #4248): not a service the stop step waits for
    "node /opt/stackstorm/chatops/node_modules/.bin/coffee /opt/stackstorm/chatops/node_modules/.bin/hubot  st2chatops",
];

function body(functions: string[], lines: string[]): string {
    return stepScript({ host: "h", step: "s", title: "test" }, functions, lines, 10).body;
}

describe("st2_processes finds what real StackStorm runs", () => {
    for (const version of ["3.8.1", "3.9.0"]) {
        it(`every recorded ${version} service process and the packaged gunicorn/Mistral ones, no decoy`, () => {
            const services = [...packaged(transcript(version, "20").output).split("\n").filter(Boolean), ...PACKAGED_LINES];
            // the script goes through a file: only the processes under test name a service
            const script = Buffer.from(body([st2Processes], ["st2_processes | cut -d' ' -f2-"])).toString("base64");
            const r = runDouble("", `echo ${script} | base64 -d >/var/log/guard.sh && bash /var/log/guard.sh`, [...services, ...DECOYS]);
            assert.equal(r.code, 0, r.stdout);
            assert.deepEqual(r.stdout.split("\n").filter(Boolean).map((l) => l.trimEnd()).sort(), [...services].sort());
        });
    }
});

/** Runs st2ctl_down on `status` with the packages `installed` (pm_installed stubbed). */
function down(status: string, installed: string[]): string[] {
    const stub = `pm_installed() { case " ${installed.join(" ")} " in *" $1 "*) echo 9.9.9-1 ;; esac; }`;
    const r = spawnSync("bash", ["-c", body([st2ctlDown, stub], ["st2ctl_down"])], { input: status, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split("\n").filter(Boolean);
}

describe("st2ctl_down judges only installed services", () => {
    for (const version of ["3.8.1", "3.9.0"]) {
        it(`${version}: all running, st2chatops listed but not installed -> nothing down`, () => {
            assert.deepEqual(down(transcript(version, "10").output, ["st2", "st2web"]), []);
        });
        it(`${version}: st2chatops installed and not running -> st2chatops down`, () => {
            assert.deepEqual(down(transcript(version, "10").output, ["st2", "st2web", "st2chatops"]), ["st2chatops"]);
        });
        it(`${version}: three stopped -> exactly those`, () => {
            assert.deepEqual(down(transcript(version, "11").output, ["st2"]), ["st2garbagecollector", "st2sensorcontainer", "st2timersengine"]);
        });
        it(`${version}: none running (st2ctl still exits 0) -> every st2 service`, () => {
            const t = transcript(version, "11b");
            assert.equal(t.exitCode, 0);
            assert.equal(down(t.output, ["st2"]).length, 11);
        });
    }
    it("3.0.1 (no recording: the double, calibrated to st2 v3.0.1:st2common/bin/st2ctl): Mistral lines count only with st2mistral", () => {
        const status = runDouble(doubleInstall("3.0.1", "2.7.12"), "st2ctl status").stdout;
        assert.match(status, /^mistral-server is not running\.$/m);
        assert.match(status, /^mistral\.api is not running\.$/m);
        assert.ok(!down(status, ["st2"]).some((s) => s.startsWith("mistral")));
        assert.deepEqual(down(status, ["st2", "st2mistral"]).filter((s) => s.startsWith("mistral")), ["mistral-server", "mistral.api"]);
    });
    it("no status line at all is reported, not taken for all running", () => {
        assert.deepEqual(down("st2ctl: command not found\n", ["st2"]), ["(st2ctl status printed no service line)"]);
    });
});
