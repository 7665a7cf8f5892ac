/**
 * What the program reads of the stack configuration. The keys it knows are the schemas' own (the
 * upgrade's keys, the `rollover` and `aws` sections): no second list to forget a key in. Every key of
 * the `st2-upgrade` namespace is read, so a misspelt one (`st2-upgrade:rolout`) is refused with the
 * closest known key instead of being ignored while defaults apply. A key whose schema holds a secret
 * (an SSH key, an st2 password) is read with `requireSecret`.
 */
import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { AWS_SCHEMA } from "./aws/config";
import { CONFIG_NAMESPACE, ConfigError, holdsSecret, takesText, unknownKeyProblem, UPGRADE_SHAPE } from "./config";
import { ROLLOVER_SCHEMA } from "./rollover/config";

/** Every top-level key of the namespace, with its schema. */
export const STACK_KEYS: Readonly<Record<string, z.ZodType>> = { ...UPGRADE_SHAPE, rollover: ROLLOVER_SCHEMA, aws: AWS_SCHEMA };

/** The stack configuration, decoded but not yet validated: each part goes to its own parser. */
export interface RawStackConfig {
    /** The in-place upgrade's keys, for `parseConfig`. */
    upgrade: Record<string, unknown>;
    /** `st2-upgrade:rollover`, for `parseRolloverConfig` (undefined when not set). */
    rollover?: unknown;
    /** `st2-upgrade:aws`, for `parseAwsConfig` (undefined when not set). */
    aws?: unknown;
}

/**
 * Decodes the namespace's values (key without the namespace → text as Pulumi stores it): text for keys
 * whose schema takes text, JSON for the others (a value that is not JSON stays text, for the schema to
 * name). Throws ConfigError naming every unknown key.
 */
export function decodeStackConfig(texts: Readonly<Record<string, string>>): RawStackConfig {
    const known = Object.keys(STACK_KEYS);
    const unknown = Object.keys(texts).filter((k) => !Object.hasOwn(STACK_KEYS, k));
    if (unknown.length) throw new ConfigError(unknown.map((k) => unknownKeyProblem([k], known)));
    const raw: RawStackConfig = { upgrade: {} };
    for (const [key, text] of Object.entries(texts)) {
        const value = takesText(STACK_KEYS[key]) ? text : parseJson(text);
        if (key === "rollover" || key === "aws") raw[key] = value;
        else raw.upgrade[key] = value;
    }
    return raw;
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

/** The keys of the namespace set on this stack. */
export function namespaceKeys(): string[] {
    const prefix = `${CONFIG_NAMESPACE}:`;
    return Object.keys(pulumi.runtime.allConfig())
        .filter((k) => k.startsWith(prefix))
        .map((k) => k.slice(prefix.length));
}

/**
 * Reads every key of the namespace. Secret ones are revealed here only to be validated: the program
 * passes key material and passwords on wrapped in `pulumi.secret`, never as plain inputs.
 */
export async function readStackConfig(config: pulumi.Config = new pulumi.Config(CONFIG_NAMESPACE)): Promise<RawStackConfig> {
    const texts: Record<string, string> = {};
    for (const key of namespaceKeys()) {
        const schema = STACK_KEYS[key];
        texts[key] = schema && holdsSecret(schema) ? await reveal(config.requireSecret(key)) : config.require(key);
    }
    return decodeStackConfig(texts);
}

/** The value of a secret config output: config values are known, in preview too. */
function reveal(value: pulumi.Output<string>): Promise<string> {
    return new Promise((resolve) =>
        value.apply((v) => {
            resolve(v);
            return v;
        }),
    );
}
