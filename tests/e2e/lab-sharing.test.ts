// The lab on a machine that other labs used before it (the CI failure of 2026-11-28): a dead host
// (a killed run's network namespace, still holding its address and MAC on the bridge) and another
// lab folder's repository server. Two throwaway lab folders on a bridge of their own (st2br9,
// 10.209.0.0/24), one of them also on a second bridge (st2br8, 10.208.0.0/24), sharing the main
// lab's image. Prefixes `lsa`, `lsb`, `lsc`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { LAB_DIR, LAB_PROJECT_ROOT } from "../../lab/support/lab";

const MINUTES = 60_000;
const folders = [0, 1].map(() => fs.mkdtempSync(path.join(os.tmpdir(), "lab-sharing-")));
const [A, B] = folders;

function lab(folder: string, script: string, args: string[], bridge = { LAB_BRIDGE: "st2br9", LAB_NET: "10.209.0" }) {
    const r = spawnSync("bash", [path.join(LAB_PROJECT_ROOT, "lab", "bin", script), ...args], {
        cwd: LAB_PROJECT_ROOT,
        encoding: "utf8",
        env: { ...process.env, LAB_DIR: folder, ...bridge, LAB_IMAGE_DIR: path.join(LAB_DIR, "image") },
    });
    if (r.error) throw r.error;
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

const sh = (cmd: string) => spawnSync("bash", ["-c", cmd], { encoding: "utf8" });
const SECOND_BRIDGE = { LAB_BRIDGE: "st2br8", LAB_NET: "10.208.0" };

describe("a lab on a bridge that another run left things on", { timeout: 15 * MINUTES }, () => {
    after(() => {
        lab(B, "down.sh", [], SECOND_BRIDGE);
        for (const f of folders) lab(f, "down.sh", []);
        sh("ip link del st2br9 2>/dev/null || true; ip link del st2br8 2>/dev/null || true");
        for (const f of folders) fs.rmSync(f, { recursive: true, force: true });
    });

    it("removes a dead host holding the first address, takes over an idle folder's server, and its host answers", () => {
        const first = lab(A, "up.sh", ["--hosts", "1", "--name-prefix", "lsa"]);
        assert.equal(first.code, 0, first.out);
        assert.match(first.out, /lsa1: up at 10\.209\.0\.11/);
        // A killed run: the host's processes gone and its folder's records lost, its netns left behind.
        const killed = sh(
            `ip netns pids st2-lsa1 | xargs -r kill -KILL; sleep 0.5; umount -R '${A}/hosts/lsa1/root' && rm -rf '${A}/hosts' && ip -n st2-lsa1 -br addr show eth0`,
        );
        assert.equal(killed.status, 0, killed.stderr);
        assert.match(killed.stdout, /10\.209\.0\.11\/24/, "the dead netns still holds the address");

        const second = lab(B, "up.sh", ["--hosts", "1", "--name-prefix", "lsb"]);
        assert.equal(second.code, 0, second.out);
        assert.match(second.out, /lsa1: removing a dead host on st2br9/);
        assert.match(second.out, /stopping the repository server of an idle lab folder/);
        assert.match(second.out, /lsb1: up at 10\.209\.0\.11/);
        assert.equal(sh("ip netns list | grep -c '^st2-lsa1' || true").stdout.trim(), "0");
        const login = lab(B, "ssh.sh", ["lsb1", "hostname"]);
        assert.equal(login.code, 0, login.out);
        assert.equal(login.out.trim(), "lsb1", "the address reaches the new host, not the dead one");
    });

    it("refuses to share the bridge with a folder whose hosts run, naming it", () => {
        const r = lab(A, "up.sh", ["--hosts", "1", "--name-prefix", "lsa"]);
        assert.notEqual(r.code, 0, r.out);
        assert.match(r.out, new RegExp(`10\\.209\\.0\\.1:8080 is served by pid \\d+ \\(${B.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/repo\\), not this lab's .*another lab folder uses bridge st2br9`));
        assert.equal(lab(B, "ssh.sh", ["lsb1", "true"]).code, 0, "the running lab is untouched");
    });

    it("serves a folder's hosts on a second bridge from a server of its own there", () => {
        // Folder B's server runs on st2br9 for lsb1; its next host goes on st2br8.
        const r = lab(B, "up.sh", ["--hosts", "1", "--version", "2.0.1", "--name-prefix", "lsc"], SECOND_BRIDGE);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /apt repository served at http:\/\/10\.208\.0\.1:8080\//);
        assert.match(r.out, /lsc1: st2 2\.0\.1 installed/);
        const listening = (ip: string) => sh(`ss -ltnH 'sport = :8080' | grep -c '${ip}:8080' || true`).stdout.trim();
        assert.equal(listening("10.208.0.1"), "1");
        assert.equal(listening("10.209.0.1"), "1", "the first bridge's server runs on");
        assert.equal(lab(B, "ssh.sh", ["lsb1", "true"]).code, 0, "the first bridge's host is untouched");
        const down = lab(B, "down.sh", ["lsc1"], SECOND_BRIDGE);
        assert.equal(down.code, 0, down.out);
    });
});
