/** AWS, opt-in by `st2-upgrade:aws`: a fresh instance to roll over to, an archive bucket, fleet discovery by tags. */
export { ArchiveBucket, tlsOnlyPolicy, type ArchiveBucketArgs } from "./bucket";
export { parseAwsConfig, type AwsBucketConfig, type AwsConfig, type AwsDiscoveryConfig, type AwsInstanceConfig } from "./config";
export { discoverHosts, hostName, toHostConfigs, type DiscoveredInstance } from "./discovery";
export { BOOTSTRAP_USER, CANONICAL_OWNER, readyScript, St2Instance, ubuntuAmi, userDataScript, type St2InstanceArgs } from "./instance";
