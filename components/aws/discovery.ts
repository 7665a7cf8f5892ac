/**
 * Fleet hosts from EC2 tags: running instances carrying every configured tag become `hosts` entries,
 * their StackStorm release read from a tag. Only reads AWS (invokes); creates nothing.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { knownReleases } from "../catalog";
import { CONFIG_NAMESPACE, ConfigError, type HostConfig } from "../config";
import type { AwsDiscoveryConfig } from "./config";

/** What discovery needs to know of one instance. */
export interface DiscoveredInstance {
    id: string;
    tags: Record<string, string>;
    privateIp: string;
    publicIp: string;
}

/** A tag value made into a host name (letters, digits, dashes; it names Pulumi resources). */
export function hostName(tag: string | undefined, instanceId: string): string {
    const cleaned = (tag ?? "")
        .replace(/[^a-zA-Z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 63)
        .replace(/-+$/, "");
    return cleaned || instanceId;
}

/** Turns instances into hosts; one error lists every instance that cannot be one. */
export function toHostConfigs(instances: readonly DiscoveredInstance[], d: AwsDiscoveryConfig): HostConfig[] {
    const releases = new Set(knownReleases());
    const problems: string[] = [];
    const hosts: HostConfig[] = [];
    const byName = new Map<string, string>();
    for (const i of [...instances].sort((a, b) => a.id.localeCompare(b.id))) {
        const where = `${CONFIG_NAMESPACE}:aws.discovery found instance ${i.id}`;
        const version = i.tags[d.versionTag];
        const address = d.addressType === "public" ? i.publicIp : i.privateIp;
        const name = hostName(i.tags[d.nameTag], i.id);
        if (version === undefined) problems.push(`${where} without a tag ${d.versionTag}: tag it with the StackStorm release it runs, e.g. 3.8.1`);
        else if (!releases.has(version)) problems.push(`${where} with ${d.versionTag}=${JSON.stringify(version)}, which is not a StackStorm release the catalog knows`);
        if (!address) problems.push(`${where} with no ${d.addressType} IP address: set aws.discovery.addressType to "${d.addressType === "public" ? "private" : "public"}"?`);
        const other = byName.get(name);
        if (other) problems.push(`${where} named ${name}, like instance ${other}: give them distinct ${d.nameTag} tags`);
        byName.set(name, i.id);
        if (version !== undefined && releases.has(version) && address) {
            hosts.push({ name, address, port: d.port, user: d.user, packageManager: d.packageManager, currentVersion: version });
        }
    }
    if (problems.length) throw new ConfigError(problems);
    return hosts;
}

/** Running instances with every tag of `d.tags`, as fleet hosts (sorted by instance id). */
export async function discoverHosts(d: AwsDiscoveryConfig, opts?: pulumi.InvokeOptions): Promise<HostConfig[]> {
    const found = await aws.ec2.getInstances({ instanceTags: d.tags, instanceStateNames: ["running"] }, opts);
    const instances = await Promise.all(
        found.ids.map(async (id) => {
            const i = await aws.ec2.getInstance({ instanceId: id }, opts);
            return { id, tags: i.tags ?? {}, privateIp: i.privateIp ?? "", publicIp: i.publicIp ?? "" };
        }),
    );
    return toHostConfigs(instances, d);
}
