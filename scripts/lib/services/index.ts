export {
  Stack,
  startServices,
  trackedProcesses,
  readManifest,
  type ManifestEntry,
  type StackOptions,
  type StartOptions,
  type ServiceStatus,
} from './runner.js';
export { serviceKinds, serviceSpec, registerService } from './registry.js';
export { freePort, freePorts, isPortFree, portOwner, listeningPorts } from './ports.js';
export { httpProbe, tcpProbe } from './probes.js';
export type { ServiceContext, ServiceSpec } from './types.js';
export type { PostgresInfo } from './postgres.js';
export type { RedisInfo } from './redis.js';
export type { S3Info } from './s3.js';
