/**
 * Pinned SSH host keys: which key each host must present before anything is sent to it (the fact
 * read, the steps, the roll-over's pipes, which carry decrypted datastore values). Pure functions:
 * key text in, parsed key or a problem out; known_hosts text in, the keys it pins for an address out.
 *
 * A key is pinned per host (`hosts[].hostKey`, `rollover.*Host.hostKey`, in authorized_keys form:
 * `ssh-ed25519 AAAA... comment`) or found in an OpenSSH known_hosts file (`ssh.knownHostsFile`):
 * plain, `[host]:port`, wildcard, negated and hashed (`|1|salt|hash`, HashKnownHosts) names.
 *
 * RSA host keys are refused: pulumi-command 1.2.1 verifies `connection.hostKey` with
 * `ssh.FixedHostKey` and offers only the key's own type as host key algorithm
 * (provider/pkg/provider/remote/connection.go, `hostKeyAlgorithms = []string{publicKey.Type()}`),
 * which for RSA is `ssh-rsa`: SHA-1 signatures, which OpenSSH 8.8 and later no longer offer by
 * default. Every step of such a host would fail to connect; its ed25519 or ECDSA key works.
 */
import { createHash, createHmac } from "node:crypto";

/** Host key types that can be pinned, by preference when a known_hosts file has several for a host. */
export const PINNABLE_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"] as const;
const RSA = "ssh-rsa";

/** How to get a key to pin, quoted in errors. */
export const HOW_TO_PIN = "ssh-keyscan -t ed25519 HOST, then compare its fingerprint (ssh-keygen -lf) with the one the host itself shows (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, on its console)";

/** A host key the program checks, with where it was pinned. */
export interface PinnedKey {
    /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, ... */
    type: string;
    /** The key blob, base64 as in authorized_keys. */
    blob: string;
    /** `type blob`: what `connection.hostKey` gets (no comment: a new comment is not a new key). */
    text: string;
    /** OpenSSH's SHA256 fingerprint, `SHA256:...` (what `ssh-keygen -lf` prints). */
    fingerprint: string;
    /** Where the pin comes from, for messages: `hosts[0].hostKey`, `ssh.knownHostsFile (~/.ssh/known_hosts:12)`. */
    source: string;
}

/** OpenSSH's SHA256 fingerprint of a key blob (base64). */
export function fingerprint(blob: string): string {
    return `SHA256:${createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64").replace(/=+$/, "")}`;
}

/** `ED25519`, `ECDSA`, `RSA`: the names OpenSSH uses in its messages. */
export function keyKind(type: string): string {
    if (type === "ssh-ed25519") return "ED25519";
    if (type.startsWith("ecdsa-")) return "ECDSA";
    if (type === RSA) return "RSA";
    return type;
}

/** The SSH strings (4-byte length, then the bytes) a key blob is made of, or undefined when it is not one. */
function sshStrings(blob: Buffer): Buffer[] | undefined {
    const out: Buffer[] = [];
    for (let at = 0; at < blob.length; ) {
        if (blob.length - at < 4) return undefined;
        const n = blob.readUInt32BE(at);
        if (n > blob.length - at - 4) return undefined;
        out.push(blob.subarray(at + 4, at + 4 + n));
        at += 4 + n;
    }
    return out;
}

/** Point sizes of the ECDSA curves (uncompressed: 0x04, then X and Y). */
const ECDSA_POINT: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** Whether a blob holds a whole key of `type` (RFC 8709 for ed25519, RFC 5656 for ECDSA). */
function wholeKey(type: string, blob: Buffer): boolean {
    const parts = sshStrings(blob);
    if (!parts || parts[0]?.toString("latin1") !== type) return false;
    if (type === "ssh-ed25519") return parts.length === 2 && parts[1].length === 32;
    const curve = type.slice("ecdsa-sha2-".length);
    return parts.length === 3 && parts[1].toString("latin1") === curve && parts[2].length === ECDSA_POINT[curve] && parts[2][0] === 4;
}

/**
 * Parses `type base64 [comment]` (one key, authorized_keys form without options). Returns the key or
 * the problem, worded to follow the config key ("... must be ..."); never throws.
 */
export function parseHostKey(text: string, source: string): PinnedKey | { problem: string } {
    const fields = text.trim().split(/\s+/);
    if (fields.length < 2 || fields[0] === "") return { problem: `must be a public key in authorized_keys form, "ssh-ed25519 <base64 key>" (${HOW_TO_PIN})` };
    const [type, blob] = fields;
    if (type === RSA) {
        return {
            problem:
                "is an RSA key, which pulumi-command 1.2.1 can only verify with SHA-1 signatures (ssh-rsa) that OpenSSH 8.8 and later refuse: " +
                "every step would fail to connect. Pin the host's ed25519 (or ECDSA) key instead",
        };
    }
    if (!(PINNABLE_TYPES as readonly string[]).includes(type)) {
        return { problem: `has key type ${JSON.stringify(type.slice(0, 40))}: pin one of ${PINNABLE_TYPES.join(", ")}` };
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) return { problem: `has a key that is not base64 (after "${type} ")` };
    const decoded = Buffer.from(blob, "base64");
    if (!wholeKey(type, decoded)) return { problem: `is not a ${type} key: the base64 part does not hold one (a truncated or mixed-up copy?)` };
    return { type, blob, text: `${type} ${blob}`, fingerprint: fingerprint(blob), source };
}

/** The name OpenSSH looks a host up by in known_hosts: the address (ssh lowercases it), or `[address]:port` off port 22. */
export function knownHostsName(address: string, port: number): string {
    const host = address.toLowerCase();
    return port === 22 ? host : `[${host}]:${port}`;
}

/** One line for a known_hosts file that pins `key` for the host. */
export function knownHostsLine(address: string, port: number, key: Pick<PinnedKey, "text">): string {
    return `${knownHostsName(address, port)} ${key.text}`;
}

/** One usable line of a known_hosts file. */
export interface KnownHostsEntry {
    line: number;
    marker?: "@revoked" | "@cert-authority";
    patterns: string[];
    type: string;
    blob: string;
}

/** A known_hosts file: its entries, and the lines it could not read (with why). */
export interface KnownHosts {
    file: string;
    entries: KnownHostsEntry[];
    problems: string[];
}

/** Reads known_hosts text (OpenSSH's format, sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"). */
export function parseKnownHosts(text: string, file: string): KnownHosts {
    const entries: KnownHostsEntry[] = [];
    const problems: string[] = [];
    text.split("\n").forEach((raw, i) => {
        const line = raw.trim();
        if (line === "" || line.startsWith("#")) return;
        const fields = line.split(/\s+/);
        let marker: KnownHostsEntry["marker"];
        if (fields[0].startsWith("@")) {
            if (fields[0] !== "@revoked" && fields[0] !== "@cert-authority") {
                problems.push(`${file}:${i + 1}: unknown marker ${JSON.stringify(fields[0].slice(0, 40))}`);
                return;
            }
            marker = fields.shift() as KnownHostsEntry["marker"];
        }
        if (fields.length < 3) {
            problems.push(`${file}:${i + 1}: not "hostnames keytype base64-key"`);
            return;
        }
        entries.push({ line: i + 1, ...(marker ? { marker } : {}), patterns: fields[0].split(","), type: fields[1], blob: fields[2] });
    });
    return { file, entries, problems };
}

/** OpenSSH's pattern match: `*` any run, `?` one character, the rest literal (case-insensitive for host names). */
function wildcard(pattern: string, name: string): boolean {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i");
    return re.test(name);
}

/** `|1|salt|hash`: HMAC-SHA1 of the name keyed with the salt (ssh-keygen -H). */
function hashedMatch(pattern: string, name: string): boolean {
    const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(pattern);
    if (!m) return false;
    const mac = createHmac("sha1", Buffer.from(m[1], "base64")).update(name).digest("base64");
    return mac === m[2];
}

/** Whether an entry's host patterns name `name`: one positive pattern matches and no negated one does. */
export function entryMatches(patterns: readonly string[], name: string): boolean {
    let matched = false;
    for (const p of patterns) {
        const negated = p.startsWith("!");
        const pattern = negated ? p.slice(1) : p;
        const hit = pattern.startsWith("|") ? hashedMatch(pattern, name) : wildcard(pattern, name);
        if (hit && negated) return false;
        if (hit) matched = true;
    }
    return matched;
}

/**
 * The key a known_hosts file pins for (address, port), or why it pins none usable. Several keys for
 * the host: the first of PINNABLE_TYPES's order (ed25519 first). Revoked keys are never chosen;
 * certificate authorities cannot be pinned (`connection.hostKey` takes one plain key).
 */
export function lookupKnownHosts(known: KnownHosts, address: string, port: number): PinnedKey | { problem: string } | undefined {
    const name = knownHostsName(address, port);
    const matching = known.entries.filter((e) => entryMatches(e.patterns, name));
    if (matching.length === 0) return undefined;
    const revoked = new Set(matching.filter((e) => e.marker === "@revoked").map((e) => e.blob));
    const plain = matching.filter((e) => e.marker === undefined && !revoked.has(e.blob));
    const parsed = plain.map((e) => ({ e, key: parseHostKey(`${e.type} ${e.blob}`, `ssh.knownHostsFile (${known.file}:${e.line})`) }));
    for (const type of PINNABLE_TYPES) {
        const found = parsed.find((p) => p.e.type === type && !("problem" in p.key));
        if (found) return found.key;
    }
    const lines = matching.map((e) => e.line).join(", ");
    if (matching.every((e) => e.marker === "@cert-authority")) {
        return { problem: `${known.file} only has a @cert-authority for ${name} (lines ${lines}): host certificates cannot be pinned; add the host's own ed25519 key` };
    }
    const bad = parsed.find((p) => "problem" in p.key);
    if (bad && "problem" in bad.key) return { problem: `${known.file}:${bad.e.line} pins ${name} with a key that ${bad.key.problem}` };
    return { problem: `${known.file} has no usable key for ${name} (lines ${lines}: revoked or certificate authorities only)` };
}

/** What the OpenSSH client said when it refused a host's key, read from its stderr. */
export interface KeyRefusal {
    /** The key the host presented, when ssh printed its fingerprint. */
    actual?: { kind: string; fingerprint: string };
    /** The host has no key of the pinned type at all (ssh: "no matching host key type found. Their offer: ..."). */
    offered?: string;
}

/**
 * Reads ssh's refusal of a host key: "REMOTE HOST IDENTIFICATION HAS CHANGED" with "The fingerprint
 * for the ED25519 key sent by the remote host is\nSHA256:...", "Host key verification failed", or
 * "no matching host key type found. Their offer: ...". Undefined when ssh failed for another reason.
 */
export function keyRefusal(stderr: string): KeyRefusal | undefined {
    const offer = /no matching host key type found\. Their offer: (\S+)/.exec(stderr);
    if (offer) return { offered: offer[1] };
    if (!/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed/i.test(stderr)) return undefined;
    const fp = /fingerprint for the (\S+) key sent by the remote host is\s*\n?\s*(SHA256:[A-Za-z0-9+/]+)/.exec(stderr);
    return fp ? { actual: { kind: fp[1], fingerprint: fp[2] } } : {};
}

/** The operator's message for a refused key: host, both fingerprints, what to do. */
export function refusalMessage(where: string, pinned: PinnedKey, refusal: KeyRefusal): string {
    const expected = `${keyKind(pinned.type)} ${pinned.fingerprint} (${pinned.source})`;
    const presented = refusal.offered
        ? `the host offers no ${pinned.type} key (its key types: ${refusal.offered.slice(0, 200)})`
        : refusal.actual
          ? `the host presented ${refusal.actual.kind} ${refusal.actual.fingerprint}`
          : "the host presented another key (ssh printed no fingerprint)";
    return (
        `${where}: host key mismatch: expected ${expected}, but ${presented}. Refused before logging in: nothing was sent to the host and no step ran. ` +
        `If the host was reinstalled, get its new key (${HOW_TO_PIN}) and pin it; otherwise something else answers at this address`
    );
}

/** A host to pin: where it is, its own `hostKey` if any, and its config key for messages (`hosts[0]`). */
export interface PinTarget {
    name: string;
    /** Undefined while unknown (a new instance AWS has yet to create): only its own `hostKey` can pin it. */
    address?: string;
    port: number;
    hostKey?: string;
    key: string;
}

/** Each host's pinned key (its own `hostKey`, else the known_hosts file's), the hosts left unpinned, and problems. */
export interface Pins {
    pinned: Map<string, PinnedKey>;
    unpinned: PinTarget[];
    problems: string[];
}

export function pinHostKeys(targets: readonly PinTarget[], known: KnownHosts | undefined): Pins {
    const pinned = new Map<string, PinnedKey>();
    const unpinned: PinTarget[] = [];
    const problems: string[] = [];
    for (const t of targets) {
        if (t.hostKey !== undefined) {
            const key = parseHostKey(t.hostKey, `${t.key}.hostKey`);
            if ("problem" in key) problems.push(`st2-upgrade:${t.key}.hostKey ${key.problem}`);
            else pinned.set(t.name, key);
            continue;
        }
        const found = known && t.address !== undefined ? lookupKnownHosts(known, t.address, t.port) : undefined;
        if (found === undefined) unpinned.push(t);
        else if ("problem" in found) problems.push(`st2-upgrade:ssh.knownHostsFile: host ${t.name} (${t.key}): ${found.problem}`);
        else pinned.set(t.name, found);
    }
    return { pinned, unpinned, problems };
}

/** At most this many host names in one message line (project rule: no output line over 4 KiB). */
const NAMES_SHOWN = 20;

/** What to say about hosts without a pinned key: a warning, or with `ssh.requireHostKey` the error. */
export function unpinnedMessage(unpinned: readonly PinTarget[], required: boolean): string | undefined {
    if (unpinned.length === 0) return undefined;
    const names = unpinned.slice(0, NAMES_SHOWN).map((t) => `${t.name} (${t.key})`);
    const more = unpinned.length > NAMES_SHOWN ? ` and ${unpinned.length - NAMES_SHOWN} more` : "";
    const what =
        `${unpinned.length === 1 ? "host" : `${unpinned.length} hosts`} without a pinned SSH host key: ${names.join(", ")}${more}. ` +
        `Their fact read, steps and pipes accept whatever key answers at their address, and send it the SSH login and ` +
        `(in a roll-over) decrypted datastore values. Pin each with hostKey ("ssh-ed25519 <base64 key>") or ssh.knownHostsFile (${HOW_TO_PIN})`;
    return required ? `st2-upgrade:ssh.requireHostKey is true and there ${unpinned.length === 1 ? "is one" : "are"} ${what}` : `${what}; st2-upgrade:ssh.requireHostKey: true makes this an error`;
}

/**
 * The OpenSSH client options that check a host's key: with a pin, a known_hosts file holding only the
 * pinned key (`knownHostsFile`, written by the caller with `knownHostsLine`), StrictHostKeyChecking=yes
 * and the pinned key's type as the only host key algorithm, so the host must prove that very key
 * (as `connection.hostKey` makes the steps do). Without a pin, no check: the steps' provider checks
 * none either, so a host the steps can reach is one the fact read can read.
 * LogLevel too (ssh takes an option's first value, so callers must not set it): INFO with a pin,
 * because at ERROR ssh says nothing when the host has no key of the pinned type ("Unable to
 * negotiate ... no matching host key type found" is an INFO line).
 */
export function sshHostKeyOptions(pinned: Pick<PinnedKey, "type"> | undefined, knownHostsFile: string): string[] {
    if (!pinned) return ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"];
    return [
        "StrictHostKeyChecking=yes",
        `UserKnownHostsFile=${knownHostsFile}`,
        "GlobalKnownHostsFile=/dev/null",
        `HostKeyAlgorithms=${pinned.type}`,
        "CheckHostIP=no",
        "UpdateHostKeys=no",
        "LogLevel=INFO",
    ];
}

/** What the stack must do about its pins: errors stop it (bad pins; unpinned hosts when required), a warning is only said. */
export function pinVerdict(pins: Pins, required: boolean): { errors: string[]; warning?: string } {
    const unpinned = unpinnedMessage(pins.unpinned, required);
    if (required) return { errors: [...pins.problems, ...(unpinned ? [unpinned] : [])] };
    return { errors: pins.problems, ...(unpinned ? { warning: unpinned } : {}) };
}
