/**
 * A static HTTP server whose downloads run at a set bandwidth, so that the bench's apt repository
 * behaves like a remote package mirror rather than a local disk: every connection is paced to
 * `--rate` bytes per second (a client's TCP stream to a far-away mirror), and, with `--aggregate`,
 * all connections together share that many bytes per second (an uplink). One request per line is
 * appended to `--log` as JSON (path, client, bytes, start and end times), so the bench can show what
 * was downloaded when.
 *
 *   node dist/bench/throttle-server.js --root DIR --bind 10.200.0.1 --port 8091 --rate 4194304 \
 *        [--aggregate BYTES_PER_S] [--log FILE]
 *
 * Prints `listening http://ADDR:PORT/` once it accepts connections. GET and HEAD only; no
 * directory listings, no ranges (apt restarts a partial download from the beginning on a 200).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

interface Options {
    root: string;
    bind: string;
    port: number;
    /** Bytes per second per connection. */
    rate: number;
    /** Bytes per second for all connections together; 0 = no shared limit. */
    aggregate: number;
    log?: string;
}

function parseArgs(argv: readonly string[]): Options {
    const get = (flag: string): string | undefined => {
        const i = argv.indexOf(flag);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const need = (flag: string): string => {
        const v = get(flag);
        if (v === undefined) throw new Error(`throttle-server: ${flag} is required`);
        return v;
    };
    const num = (flag: string, fallback?: number): number => {
        const v = get(flag);
        if (v === undefined && fallback !== undefined) return fallback;
        const n = Number(v ?? need(flag));
        if (!Number.isFinite(n) || n < 0) throw new Error(`throttle-server: ${flag} must be a number >= 0, got ${v}`);
        return n;
    };
    const rate = num("--rate");
    if (rate <= 0) throw new Error("throttle-server: --rate must be > 0");
    return { root: path.resolve(need("--root")), bind: need("--bind"), port: num("--port"), rate, aggregate: num("--aggregate", 0), log: get("--log") };
}

const CHUNK = 16 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A token bucket shared by every connection (the uplink), when an aggregate limit is set. */
class SharedBucket {
    private available = 0;
    private last = Date.now();
    constructor(private readonly rate: number) {}
    async take(bytes: number): Promise<void> {
        if (this.rate <= 0) return;
        for (;;) {
            const now = Date.now();
            this.available = Math.min(this.rate / 4, this.available + ((now - this.last) / 1000) * this.rate);
            this.last = now;
            if (this.available >= bytes) {
                this.available -= bytes;
                return;
            }
            await sleep(Math.max(1, ((bytes - this.available) / this.rate) * 1000));
        }
    }
}

function contentType(file: string): string {
    if (file.endsWith(".deb")) return "application/vnd.debian.binary-package";
    if (file.endsWith(".gz")) return "application/gzip";
    return "text/plain";
}

async function send(res: http.ServerResponse, file: string, size: number, opts: Options, bucket: SharedBucket): Promise<number> {
    const fd = await fs.promises.open(file, "r");
    const started = Date.now();
    let sent = 0;
    try {
        const buf = Buffer.alloc(CHUNK);
        while (sent < size && !res.destroyed) {
            const { bytesRead } = await fd.read(buf, 0, Math.min(CHUNK, size - sent), sent);
            if (bytesRead === 0) break;
            await bucket.take(bytesRead);
            res.write(Buffer.from(buf.subarray(0, bytesRead)));
            sent += bytesRead;
            // Per-connection pacing: never ahead of rate * elapsed.
            const due = started + (sent / opts.rate) * 1000;
            const wait = due - Date.now();
            if (wait > 0) await sleep(wait);
            // Backpressure, checked after the pause: a drain during the pause must not be waited for.
            if (res.writableNeedDrain && !res.destroyed) await new Promise<void>((r) => res.once("drain", () => r()).once("close", () => r()));
        }
    } finally {
        await fd.close();
    }
    res.end();
    return sent;
}

function main(): void {
    const opts = parseArgs(process.argv.slice(2));
    const bucket = new SharedBucket(opts.aggregate);
    const logLine = (entry: Record<string, unknown>): void => {
        if (opts.log) fs.appendFileSync(opts.log, `${JSON.stringify(entry)}\n`);
    };
    const server = http.createServer((req, res) => {
        const started = Date.now();
        const client = req.socket.remoteAddress ?? "?";
        const urlPath = decodeURIComponent((req.url ?? "/").split("?")[0]);
        const file = path.join(opts.root, path.normalize(urlPath));
        const finish = (status: number, bytes: number): void =>
            logLine({ path: urlPath, client, status, bytes, start: started / 1000, end: Date.now() / 1000 });
        if (req.method !== "GET" && req.method !== "HEAD") {
            res.writeHead(405).end();
            return finish(405, 0);
        }
        if (!file.startsWith(opts.root + path.sep)) {
            res.writeHead(403).end();
            return finish(403, 0);
        }
        fs.stat(file, (err, st) => {
            if (err || !st.isFile()) {
                res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
                return finish(404, 0);
            }
            res.writeHead(200, { "Content-Type": contentType(file), "Content-Length": st.size, "Last-Modified": st.mtime.toUTCString() });
            if (req.method === "HEAD") {
                res.end();
                return finish(200, 0);
            }
            send(res, file, st.size, opts, bucket).then(
                (bytes) => finish(200, bytes),
                (e: unknown) => {
                    res.destroy();
                    logLine({ path: urlPath, client, error: String(e) });
                },
            );
        });
    });
    server.keepAliveTimeout = 30_000;
    server.listen(opts.port, opts.bind, () => {
        process.stdout.write(`listening http://${opts.bind}:${opts.port}/ rate=${opts.rate} aggregate=${opts.aggregate}\n`);
    });
    const stop = (): void => {
        server.close();
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main();
