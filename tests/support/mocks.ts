// Pulumi's mocks report a new resource's inputs but not its dependsOn, parent or secret outputs:
// this recorder takes those from a `transformations` option (which children inherit) and merges
// both views by resource name.
import * as pulumi from "@pulumi/pulumi";

export interface Recorded {
    type: string;
    inputs: Record<string, unknown>;
    dependsOn: string[];
    parent?: string;
    secretOutputs?: string[];
}

/** Pulumi's marker of a secret value on the wire, as mocks receive it. */
export const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

/** Resolves an output in mock mode, where every value is known. */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) =>
        o.apply((v) => {
            resolve(v);
            return v;
        }),
    );
}

const nameOfUrn = (urn: string) => urn.split("::").pop()!;

async function namesOf(deps: unknown): Promise<string[]> {
    if (deps === undefined) return [];
    const list = pulumi.Output.isInstance(deps) ? await valueOf(deps as pulumi.Output<unknown>) : deps;
    const items = Array.isArray(list) ? list : [list];
    // Elements may be promises of resources (the fleet's batch gate); the engine counts each once.
    const names = await Promise.all(items.map(async (r) => nameOfUrn(await valueOf((await r as pulumi.Resource).urn))));
    return [...new Set(names)];
}

export class ResourceRecorder {
    readonly resources = new Map<string, Recorded>();
    private readonly pending: Promise<void>[] = [];

    /** Give as `{ transformations: [recorder.transformation] }` to the component under test. */
    readonly transformation: pulumi.ResourceTransformation = (args) => {
        this.pending.push(
            (async () => {
                const parent = args.opts.parent ? nameOfUrn(await valueOf(args.opts.parent.urn)) : undefined;
                const dependsOn = await namesOf(args.opts.dependsOn);
                const secretOutputs = (args.opts as pulumi.CustomResourceOptions).additionalSecretOutputs;
                this.resources.set(args.name, { ...this.entry(args.name, args.type), type: args.type, dependsOn, parent, ...(secretOutputs ? { secretOutputs } : {}) });
            })(),
        );
        return undefined;
    };

    /** Call from the mocks' `newResource`. */
    recordInputs(name: string, type: string, inputs: Record<string, unknown>): void {
        this.resources.set(name, { ...this.entry(name, type), inputs });
    }

    /** Waits until every registration and transformation seen so far has been recorded. */
    async settle(): Promise<void> {
        for (let i = 0; i < 5; i++) {
            await Promise.all(this.pending);
            await new Promise((r) => setTimeout(r, 20));
        }
    }

    get(name: string): Recorded {
        const r = this.resources.get(name);
        if (!r) throw new Error(`no resource named ${name}; recorded: ${[...this.resources.keys()].join(", ")}`);
        return r;
    }

    private entry(name: string, type: string): Recorded {
        return this.resources.get(name) ?? { type, inputs: {}, dependsOn: [] };
    }
}
