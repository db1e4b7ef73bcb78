// config.json checked against the OCI runtime-spec's JSON Schema (schema/config-schema.json,
// config-linux.json and defs*.json of opencontainers/runtime-spec), expressed in zod: the
// types, patterns and ranges of the properties tsns reads. Unknown properties are ignored
// (z.object strips them), as the spec requires ("MUST otherwise ignore"); mapping.ts then
// refuses a known property whose value tsns cannot honour.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

// Each ts-oci process parses one document once: zod's JIT (a parser compiled with
// new Function on first use) costs more than it saves then (tens of ms of a create).
z.config({ jitless: true });

const uint32 = z.int().min(0).max(4294967295);
const int64 = z.int();
const uint64 = z.int().min(0);
const strings = z.array(z.string());
/** defs.json's Env: "NAME=VALUE" strings. */
const env = z.array(z.string().regex(/^[^=]*=/, 'NAME=VALUE'));

const mount = z.object({
  destination: z.string(),
  source: z.string().optional(),
  type: z.string().optional(),
  options: strings.optional(),
  uidMappings: z.array(z.unknown()).optional(),
  gidMappings: z.array(z.unknown()).optional(),
});

const hook = z.object({ path: z.string(), args: strings.optional(), env: env.optional(), timeout: z.int().min(1).optional() });
const hooks = z.array(hook);

const idMapping = z.object({ containerID: uint32, hostID: uint32, size: uint32 });

const namespaceType = z.enum(['mount', 'pid', 'network', 'uts', 'ipc', 'user', 'cgroup', 'time']);

const deviceCgroup = z.object({
  allow: z.boolean(),
  type: z.enum(['a', 'b', 'c']).optional(),
  major: int64.optional(),
  minor: int64.optional(),
  access: z.string().regex(/^[rwm]*$/).optional(),
});

const throttle = z.array(z.object({ major: int64, minor: int64, rate: uint64 }));

/** linux.resources (also `update --resources`'s document). */
export const resources = z.object({
  devices: z.array(deviceCgroup).optional(),
  memory: z.object({
    limit: int64.optional(), reservation: int64.optional(), swap: int64.optional(), kernel: int64.optional(),
    kernelTCP: int64.optional(), swappiness: uint64.optional(), disableOOMKiller: z.boolean().optional(),
    useHierarchy: z.boolean().optional(), checkBeforeUpdate: z.boolean().optional(),
  }).optional(),
  cpu: z.object({
    shares: uint64.optional(), quota: int64.optional(), burst: uint64.optional(), period: uint64.optional(),
    realtimeRuntime: int64.optional(), realtimePeriod: uint64.optional(), cpus: z.string().optional(), mems: z.string().optional(),
    idle: int64.optional(),
  }).optional(),
  pids: z.object({ limit: int64 }).optional(),
  blockIO: z.object({
    weight: z.int().min(10).max(1000).optional(), leafWeight: z.int().min(10).max(1000).optional(),
    weightDevice: z.array(z.unknown()).optional(),
    throttleReadBpsDevice: throttle.optional(), throttleWriteBpsDevice: throttle.optional(),
    throttleReadIOPSDevice: throttle.optional(), throttleWriteIOPSDevice: throttle.optional(),
  }).optional(),
  hugepageLimits: z.array(z.unknown()).optional(),
  network: z.object({ classID: uint32.optional(), priorities: z.array(z.unknown()).optional() }).optional(),
  rdma: z.record(z.string(), z.unknown()).optional(),
  unified: z.record(z.string(), z.string()).optional(),
});

const seccompArg = z.object({
  index: z.int().min(0).max(5),
  value: uint64,
  valueTwo: uint64.optional(),
  op: z.enum(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']),
});
const seccompAction = z.enum([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
]);
const seccomp = z.object({
  defaultAction: seccompAction,
  defaultErrnoRet: uint32.optional(),
  flags: strings.optional(),
  listenerPath: z.string().optional(),
  listenerMetadata: z.string().optional(),
  architectures: z.array(z.string().regex(/^SCMP_ARCH_[A-Z0-9_]+$/)).optional(),
  syscalls: z.array(z.object({
    names: z.array(z.string()).min(1),
    action: seccompAction,
    errnoRet: uint32.optional(),
    args: z.array(seccompArg).optional(),
  })).optional(),
});

const linux = z.object({
  devices: z.array(z.object({
    type: z.enum(['c', 'b', 'u', 'p']), path: z.string(), major: int64.optional(), minor: int64.optional(),
    fileMode: z.int().min(0).max(0o7777).optional(), uid: uint32.optional(), gid: uint32.optional(),
  })).optional(),
  uidMappings: z.array(idMapping).optional(),
  gidMappings: z.array(idMapping).optional(),
  namespaces: z.array(z.object({ type: namespaceType, path: z.string().optional() })).optional(),
  resources: resources.optional(),
  cgroupsPath: z.string().optional(),
  rootfsPropagation: z.enum(['private', 'shared', 'slave', 'unbindable']).optional(),
  seccomp: seccomp.optional(),
  sysctl: z.record(z.string(), z.string()).optional(),
  maskedPaths: strings.optional(),
  readonlyPaths: strings.optional(),
  mountLabel: z.string().optional(),
  intelRdt: z.record(z.string(), z.unknown()).optional(),
  personality: z.object({ domain: z.enum(['LINUX', 'LINUX32']), flags: strings.optional() }).optional(),
  timeOffsets: z.record(z.string(), z.unknown()).optional(),
});

export const ociConfig = z.object({
  ociVersion: z.string(),
  hooks: z.object({
    prestart: hooks.optional(), createRuntime: hooks.optional(), createContainer: hooks.optional(),
    startContainer: hooks.optional(), poststart: hooks.optional(), poststop: hooks.optional(),
  }).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  hostname: z.string().optional(),
  domainname: z.string().optional(),
  mounts: z.array(mount).optional(),
  root: z.object({ path: z.string().min(1), readonly: z.boolean().optional() }).optional(),
  process: z.object({
    args: strings.optional(),
    commandLine: z.string().optional(),
    consoleSize: z.object({ height: uint64, width: uint64 }).optional(),
    cwd: z.string(),
    env: env.optional(),
    terminal: z.boolean().optional(),
    user: z.object({
      uid: uint32.optional(), gid: uint32.optional(), umask: uint32.optional(),
      additionalGids: z.array(uint32).optional(), username: z.string().optional(),
    }).optional(),
    capabilities: z.object({
      bounding: strings.optional(), permitted: strings.optional(), effective: strings.optional(),
      inheritable: strings.optional(), ambient: strings.optional(),
    }).optional(),
    apparmorProfile: z.string().optional(),
    oomScoreAdj: z.int().optional(),
    selinuxLabel: z.string().optional(),
    ioPriority: z.object({ class: z.string(), priority: z.int().optional() }).optional(),
    noNewPrivileges: z.boolean().optional(),
    scheduler: z.object({ policy: z.string() }).optional(),
    rlimits: z.array(z.object({ type: z.string().regex(/^RLIMIT_[A-Z]+$/), soft: uint64, hard: uint64 })).optional(),
    execCPUAffinity: z.object({ initial: z.string().optional(), final: z.string().optional() }).optional(),
  }).optional(),
  linux: linux.optional(),
});

export type OciConfig = z.infer<typeof ociConfig>;
export type OciProcess = NonNullable<OciConfig['process']>;

/** A config.json that does not fit the schema, or asks what tsns cannot do: names the property and its value. */
export class ConfigError extends Error {
  constructor(readonly property: string, message: string, source = 'config.json') {
    super(property ? `${source}: ${property}: ${message}` : `${source}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** A value as a message shows it: JSON, shortened. */
export function shown(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The JSON document in `file` ('-': stdin); a ConfigError, worded for `source`, when it cannot be read or parsed. */
export function readJson(file: string, source: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, source);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('', `${file}: ${(err as Error).message}`, source);
  }
}

/** Check `input` (parsed JSON) against the schema: the config, or a ConfigError for the first problem. */
export function parseConfig(input: unknown): OciConfig {
  const r = ociConfig.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
  let value: unknown = input;
  for (const k of issue.path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[k] : undefined;
  throw new ConfigError(path, `${issue.message} (got ${shown(value)})`);
}
