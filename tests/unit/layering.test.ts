// Imports among components/** run one way: no module reaches itself through its imports, and no
// folder imports a folder that imports it back (rollover/ may use aws/, never the reverse). Read from
// the sources, so a new import that closes a loop fails here before anything runs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

const ROOT = (() => {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "package.json"))) dir = path.dirname(dir);
    return dir;
})();

/** Every .ts file under components/, relative to the root, with the relative modules it imports. */
export function importGraph(root: string, top = "components"): Map<string, string[]> {
    const graph = new Map<string, string[]>();
    const walk = (dir: string): void => {
        for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
            const rel = path.join(dir, e.name);
            if (e.isDirectory()) walk(rel);
            else if (e.name.endsWith(".ts")) graph.set(rel, importsOf(root, rel));
        }
    };
    walk(top);
    return graph;
}

function importsOf(root: string, file: string): string[] {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    // Static imports and re-exports, and `await import(...)`; type-only imports count too: a type
    // cycle is still two modules that cannot be understood apart.
    const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1] ?? m[2]);
    return specs
        .filter((s) => s.startsWith("."))
        .map((s) => {
            const base = path.join(path.dirname(file), s);
            return fs.existsSync(path.join(root, `${base}.ts`)) ? `${base}.ts` : path.join(base, "index.ts");
        });
}

/** The first cycle found, as the list of files around it, or undefined. */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (n: string): string[] | undefined => {
        if (state.get(n) === "done") return undefined;
        if (state.get(n) === "open") return [...stack.slice(stack.indexOf(n)), n];
        state.set(n, "open");
        stack.push(n);
        for (const m of graph.get(n) ?? []) {
            const c = visit(m);
            if (c) return c;
        }
        stack.pop();
        state.set(n, "done");
        return undefined;
    };
    for (const n of graph.keys()) {
        const c = visit(n);
        if (c) return c;
    }
    return undefined;
}

/**
 * The graph of parts: a folder of components/ (rollover, aws, scripts, catalog) is one node, a file at
 * the top (config.ts, plan.ts, host.ts) is its own: components/rollover -> components/aws when a file
 * of one imports the other.
 */
function partGraph(graph: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
    const top = path.dirname([...graph.keys()].sort((a, b) => a.length - b.length)[0]);
    const part = (file: string) => (path.dirname(file) === top ? file : path.dirname(file));
    const folders = new Map<string, Set<string>>();
    for (const [file, deps] of graph) {
        const from = part(file);
        const set = folders.get(from) ?? new Set<string>();
        for (const d of deps) if (part(d) !== from) set.add(part(d));
        folders.set(from, set);
    }
    return new Map([...folders].map(([k, v]) => [k, [...v]]));
}

describe("layering of components/", () => {
    const graph = importGraph(ROOT);

    it("reads every module and its imports", () => {
        assert.ok(graph.size > 20, `only ${graph.size} modules found under components/`);
        assert.ok(graph.get(path.join("components", "rollover", "stack.ts"))?.includes(path.join("components", "aws", "config.ts")));
    });

    it("has no import cycle between modules", () => {
        const cycle = findCycle(graph);
        assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
    });

    it("has no import cycle between folders", () => {
        const cycle = findCycle(partGraph(graph));
        assert.equal(cycle, undefined, `folders import each other: ${cycle?.join(" -> ")}`);
    });

    it("keeps bench/ and lab/ off the tests' helpers: what both use lives in lab/support", () => {
        for (const dir of ["bench", "lab"]) {
            for (const [file, deps] of importGraph(ROOT, dir)) {
                for (const d of deps) assert.ok(!d.startsWith(`tests${path.sep}`), `${file} imports ${d}`);
            }
        }
    });

    it("keeps components/ off lab/ and tests/: the program never imports its test machinery", () => {
        for (const [file, deps] of graph) {
            for (const d of deps) assert.ok(!d.startsWith(`lab${path.sep}`) && !d.startsWith(`tests${path.sep}`), `${file} imports ${d}`);
        }
    });

    it("finds a cycle when there is one", () => {
        assert.deepEqual(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), ["a", "b", "c", "a"]);
        assert.equal(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]])), undefined);
    });
});
