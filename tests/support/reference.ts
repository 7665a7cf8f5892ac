/**
 * Transcripts of real StackStorm (../shared/reference/real-st2/<version>/NN-*.txt): what the double
 * and the guards are compared with. Format (real-st2/README.md): line 1 `$ <command>` (a `#` starts
 * a comment), then stdout+stderr, last line `[exit code: N]`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";

export const REFERENCE_DIR: string = process.env.ST2_REFERENCE_DIR ?? path.join(LAB_PROJECT_ROOT, "..", "shared", "reference");

/** Placeholders of the transcripts and what a packaged install has there (real-st2/README.md). */
export const PACKAGED_PATHS: Readonly<Record<string, string>> = {
    "<venv>": "/opt/stackstorm/st2",
    "<install>": "/opt/stackstorm",
    "<workdir>": "/etc/st2",
};

export interface Transcript {
    file: string;
    /** The command as recorded, without its comment. */
    command: string;
    comment: string;
    output: string;
    exitCode: number;
}

/** Reads one transcript; a missing reference folder is a failure that says where it looked. */
export function transcript(version: string, name: string): Transcript {
    const dir = path.join(REFERENCE_DIR, "real-st2", version);
    if (!fs.existsSync(dir)) {
        throw new Error(`recordings of real StackStorm ${version} not found in ${dir}: set ST2_REFERENCE_DIR to the folder holding real-st2/ (the shared reference beside the clone)`);
    }
    const file = fs.readdirSync(dir).find((f) => f === name || f.startsWith(`${name}-`));
    if (!file) throw new Error(`no transcript ${name}* in ${dir}`);
    const lines = fs.readFileSync(path.join(dir, file), "utf8").replace(/\n$/, "").split("\n");
    const first = lines[0].replace(/^\$ /, "");
    const hash = first.search(/\s+#\s/);
    const last = lines[lines.length - 1].match(/^\[exit code: (\d+)\]$/);
    if (!last) throw new Error(`${file}: last line is not "[exit code: N]"`);
    return {
        file,
        command: hash < 0 ? first : first.slice(0, hash),
        comment: hash < 0 ? "" : first.slice(hash).replace(/^\s+#\s*/, ""),
        output: lines.slice(1, -1).map((l) => `${l}\n`).join(""),
        exitCode: Number(last[1]),
    };
}

/** A transcript's text with the placeholders replaced by the packaged install's paths. */
export function packaged(text: string): string {
    return Object.entries(PACKAGED_PATHS).reduce((t, [k, v]) => t.split(k).join(v), text);
}
