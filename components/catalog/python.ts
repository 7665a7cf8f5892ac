/**
 * The Python a packaged st2 runs on, per release line and distribution: the interpreter st2-packages
 * builds st2's virtualenv with (`dh --with python-virtualenv --python …` in packages/st2/debian/rules,
 * PYTHON_BINARY in packages/st2/Makefile), on that branch of StackStorm/st2-packages. `st2 --version`
 * prints it from 2.7 on. A fact shown to operators and the calibration of the lab's double
 * (lab/double/src/st2double/common.py, compared in tests/unit/double-python.test.ts); the planner
 * does not read it (the re-created virtualenvs of 3.4 and 3.7 are `reloadFlags` in releases.ts).
 */
import type { OsKey, Source } from "./types";

export interface PackagedPython {
    /** First and last release line (inclusive). */
    lines: readonly [string, string];
    os: readonly OsKey[];
    /** MAJOR.MINOR */
    python: string;
    source: Source;
}

const pkgs = (branch: string, path: string, what: string): Source => `StackStorm/st2-packages@${branch}:${path} (${what})`;
const RULES = "packages/st2/debian/rules";
const MAKEFILE = "packages/st2/Makefile";

export const PACKAGED_PYTHON: readonly PackagedPython[] = [
    { lines: ["1.4", "3.3"], os: ["ubuntu-14.04", "ubuntu-16.04"], python: "2.7", source: `${pkgs("v2.2", RULES, "dh --with python-virtualenv: the distribution's python 2.7")}; ${pkgs("v3.3", RULES, "no --python but on bionic")}` },
    { lines: ["2.10", "3.3"], os: ["ubuntu-18.04"], python: "3.6", source: pkgs("v2.10", RULES, "bionic: --python /usr/bin/python3, bionic's 3.6") },
    { lines: ["3.4", "3.4"], os: ["ubuntu-16.04", "ubuntu-18.04"], python: "3.6", source: pkgs("v3.4", RULES, "--python /usr/bin/python3.6") },
    { lines: ["3.5", "3.8"], os: ["ubuntu-18.04"], python: "3.6", source: pkgs("v3.8", RULES, "bionic: --python /usr/bin/python3.6") },
    { lines: ["3.5", "3.9"], os: ["ubuntu-20.04"], python: "3.8", source: `${pkgs("v3.8", RULES, "focal: --python /usr/bin/python3.8")}; ${pkgs("v3.9", RULES, "--python /usr/bin/python3, focal's 3.8")}` },
    { lines: ["3.9", "3.9"], os: ["ubuntu-22.04"], python: "3.10", source: pkgs("v3.9", RULES, "--python /usr/bin/python3, jammy's 3.10") },
    { lines: ["1.4", "3.3"], os: ["el6", "el7"], python: "2.7", source: `${pkgs("v2.2", MAKEFILE, "PYTHON_BINARY: st2python's python 2.7 where installed (EL6), else python")}; ${pkgs("v3.3", MAKEFILE, "EL7: python")}` },
    { lines: ["3.4", "3.8"], os: ["el7"], python: "3.6", source: pkgs("v3.4", MAKEFILE, "EL7: PYTHON_BINARY /usr/bin/python3, EL7's 3.6") },
    { lines: ["3.2", "3.6"], os: ["el8"], python: "3.6", source: pkgs("v3.2", MAKEFILE, "EL8: PYTHON_BINARY /usr/bin/python3, EL8's 3.6") },
    { lines: ["3.7", "3.9"], os: ["el8"], python: "3.8", source: `${pkgs("v3.7", MAKEFILE, "EL8: PYTHON_BINARY /usr/bin/python3.8")}; ${pkgs("v3.9", MAKEFILE, "EL8: /usr/bin/python3.8")}` },
    { lines: ["3.9", "3.9"], os: ["el9"], python: "3.9", source: pkgs("v3.9", MAKEFILE, "else: PYTHON_BINARY /usr/bin/python3, EL9's 3.9") },
];
