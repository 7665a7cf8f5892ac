/**
 * The double's st2ctl against real st2ctl's transcripts (real-st2/3.8.1, real-st2/3.9.0): usage,
 * component list, invalid component, and `status` with the recorded service processes running.
 * The processes are the recorded `ps -eo args` lines (placeholders replaced by the packaged paths)
 * under their own names, so status is judged on what real StackStorm runs; the double's own service
 * command lines are compared with the same recording.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { doubleInstall, runDouble } from "../support/double";
import { packaged, transcript } from "../support/reference";

/** The Python each double version claims (versions.tsv); the transcripts ran on Debian 12's 3.11.2. */
const VERSIONS: [string, string][] = [["3.8.1", "3.8.10"], ["3.9.0", "3.8.10"]];

/** PIDs differ from run to run; everything else must be byte for byte. */
const pids = (s: string) => s.replace(/ PID: \d+$/gm, " PID: <pid>");

/** The recorded service processes by name (20-ps-args-st2-services.txt). */
function recordedProcesses(version: string): string[] {
    return packaged(transcript(version, "20").output).split("\n").filter(Boolean);
}

function without(lines: string[], ...names: string[]): string[] {
    // a stopped st2sensorcontainer takes its sensor_wrapper children with it
    const gone = names.includes("st2sensorcontainer") ? [...names, "sensor_wrapper.py"] : names;
    return lines.filter((l) => !gone.some((n) => l.includes(`/${n} `)));
}

for (const [version, python] of VERSIONS) {
    describe(`double st2ctl ${version} = real st2ctl ${version}`, () => {
        let install = "";
        before(() => {
            install = doubleInstall(version, python);
        });

        it("01: st2 --version (the Python is the double's, the transcript ran on Debian 12's 3.11.2)", () => {
            const t = transcript(version, "01");
            const r = runDouble(install, t.command);
            assert.equal(r.stdout, t.output.replace(/on Python [0-9.]+/, `on Python ${python}`), t.file);
            assert.equal(r.code, t.exitCode, t.file);
        });

        for (const name of ["12", "12b", "13", "14"]) {
            it(`${name}: ${transcript(version, name).command}`, () => {
                const t = transcript(version, name);
                const r = runDouble(install, t.command);
                assert.equal(r.stdout, t.output, t.file);
                assert.equal(r.code, t.exitCode, t.file);
            });
        }

        it("20: the double starts its services with the recorded command lines", () => {
            // Deviations, on purpose: ps lists processes by start order (systemd's), compared here as
            // a set; the recorded sensor_wrapper.py child of st2sensorcontainer (the linux pack's
            // FileWatchSensor) is not imitated: sensors are not emulated, and no guard looks for it.
            const r = runDouble(install, `python3 -c 'import sys; sys.path.insert(0, "${install}"); from st2double import ctl; print("\\n".join(" ".join(ctl.service_argv(s)) for s in ctl.components() if s != "st2chatops"))'`);
            const recorded = recordedProcesses(version).filter((l) => !l.includes("sensor_wrapper.py"));
            assert.deepEqual(r.stdout.split("\n").filter(Boolean).sort(), recorded.sort());
        });

        it("40: st2ctl reload --register-all", () => {
            // Same lines in the same order; what differs on purpose: times, the counts (the double
            // ships core, packs and linux with fewer actions and no sensors, rules or aliases), and
            // the port (the recording's FerretDB listened on 27117, a packaged MongoDB on 27017) and
            // 3.8.1's database name (st2tx381 there, packaged st2.conf has st2).
            const t = transcript(version, "40");
            const norm = (s: string) => pids(s)
                .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} /gm, "<time> ")
                .replace(/^(<time> INFO \[-\] (Registered|)\s*)\d+ /gm, "$1<n> ")
                .replaceAll("127.0.0.1:27117", "127.0.0.1:27017")
                .replaceAll('database "st2tx381"', 'database "st2"');
            const r = runDouble(install, t.command, recordedProcesses(version));
            assert.equal(norm(r.stdout), norm(packaged(t.output)), t.file);
            assert.equal(r.code, t.exitCode, t.file);
        });

        // Each scenario: which recorded processes run (from the transcript's own comment). 10b has
        // none: 3.8.1's was recorded after three services were stopped for 11, 3.9.0's before.
        const threeStopped = (all: string[]) => without(all, "st2garbagecollector", "st2timersengine", "st2sensorcontainer");
        const scenarios: [string, (all: string[]) => string[], Record<string, string>?][] = [
            ["10", (all) => all],
            ["10b", version === "3.8.1" ? threeStopped : (all) => all, { COMPONENTS: "st2api st2auth" }],
            ["11", threeStopped],
            ["11b", () => []],
        ];
        if (version === "3.8.1") {
            // a second st2api+st2auth pair with another config file
            scenarios.push(["11c", (all) => [
                ...threeStopped(all),
                ...all.filter((l) => /bin\/st2(api|auth) /.test(l)).map((l) => l.replace("/etc/st2/st2.conf", "/etc/st2/st2-second.conf")),
            ]]);
        }
        for (const [name, running, env] of scenarios) {
            it(`${name}: st2ctl status (${transcript(version, name).comment || "all services running"})`, () => {
                const t = transcript(version, name);
                const r = runDouble(install, "st2ctl status", running(recordedProcesses(version)), env);
                assert.equal(pids(r.stdout), pids(t.output), t.file);
                assert.equal(r.code, t.exitCode, t.file);
            });
        }
    });
}
