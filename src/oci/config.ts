// config.json checked against the OCI runtime-spec's JSON Schema (schema/config-schema.json,
// config-linux.json and defs*.json of opencontainers/runtime-spec), expressed in zod: the
// types, patterns and ranges of the properties tsns reads. Unknown properties are ignored
// (z.object strips them), as the spec requires ("MUST otherwise ignore"); mapping.ts then
// refuses a known property whose value tsns cannot honour.
import { readFileSync } from 'node:fs';
// zod/mini, as src/sandbox/spec.ts says why.
import * as z from 'zod/mini';
import '../sandbox/zod-english.js';

// Each ts-oci process parses one document once: zod's JIT (a parser compiled with
// new Function on first use) costs more than it saves then (tens of ms of a create).
z.config({ jitless: true });

const uint32 = z.int().check(z.minimum(0), z.maximum(4294967295));
const int64 = z.int();
const uint64 = z.int().check(z.minimum(0));
const strings = z.array(z.string());
/** defs.json's Env: "NAME=VALUE" strings. */
const env = z.array(z.string().check(z.regex(/^[^=]*=/, 'NAME=VALUE')));
const unknowns = z.optional(z.array(z.unknown()));
const optionalStrings = z.optional(strings);
const optionalString = z.optional(z.string());
const optionalBoolean = z.optional(z.boolean());
const optionalInt64 = z.optional(int64);
const optionalUint32 = z.optional(uint32);
const optionalUint64 = z.optional(uint64);

const mount = z.object({
  destination: z.string(),
  source: optionalString,
  type: optionalString,
  options: optionalStrings,
  uidMappings: unknowns,
  gidMappings: unknowns,
});

const hook = z.object({ path: z.string(), args: optionalStrings, env: z.optional(env), timeout: z.optional(z.int().check(z.minimum(1))) });
const hooks = z.optional(z.array(hook));

const idMapping = z.object({ containerID: uint32, hostID: uint32, size: uint32 });

const namespaceType = z.enum(['mount', 'pid', 'network', 'uts', 'ipc', 'user', 'cgroup', 'time']);

const deviceCgroup = z.object({
  allow: z.boolean(),
  type: z.optional(z.enum(['a', 'b', 'c'])),
  major: optionalInt64,
  minor: optionalInt64,
  access: z.optional(z.string().check(z.regex(/^[rwm]*$/))),
});

const throttle = z.optional(z.array(z.object({ major: int64, minor: int64, rate: uint64 })));
const blkioWeight = z.optional(z.int().check(z.minimum(10), z.maximum(1000)));

/** linux.resources (also `update --resources`'s document). */
export const resources = z.object({
  devices: z.optional(z.array(deviceCgroup)),
  memory: z.optional(z.object({
    limit: optionalInt64, reservation: optionalInt64, swap: optionalInt64, kernel: optionalInt64,
    kernelTCP: optionalInt64, swappiness: optionalUint64, disableOOMKiller: optionalBoolean,
    useHierarchy: optionalBoolean, checkBeforeUpdate: optionalBoolean,
  })),
  cpu: z.optional(z.object({
    shares: optionalUint64, quota: optionalInt64, burst: optionalUint64, period: optionalUint64,
    realtimeRuntime: optionalInt64, realtimePeriod: optionalUint64, cpus: optionalString, mems: optionalString,
    idle: optionalInt64,
  })),
  pids: z.optional(z.object({ limit: int64 })),
  blockIO: z.optional(z.object({
    weight: blkioWeight, leafWeight: blkioWeight,
    weightDevice: unknowns,
    throttleReadBpsDevice: throttle, throttleWriteBpsDevice: throttle,
    throttleReadIOPSDevice: throttle, throttleWriteIOPSDevice: throttle,
  })),
  hugepageLimits: unknowns,
  network: z.optional(z.object({ classID: optionalUint32, priorities: unknowns })),
  rdma: z.optional(z.record(z.string(), z.unknown())),
  unified: z.optional(z.record(z.string(), z.string())),
});

const seccompArg = z.object({
  index: z.int().check(z.minimum(0), z.maximum(5)),
  value: uint64,
  valueTwo: optionalUint64,
  op: z.enum(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']),
});
const seccompAction = z.enum([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
]);
const seccomp = z.object({
  defaultAction: seccompAction,
  defaultErrnoRet: optionalUint32,
  flags: optionalStrings,
  listenerPath: optionalString,
  listenerMetadata: optionalString,
  architectures: z.optional(z.array(z.string().check(z.regex(/^SCMP_ARCH_[A-Z0-9_]+$/)))),
  syscalls: z.optional(z.array(z.object({
    names: z.array(z.string()).check(z.minLength(1)),
    action: seccompAction,
    errnoRet: optionalUint32,
    args: z.optional(z.array(seccompArg)),
  }))),
});

const idMappings = z.optional(z.array(idMapping));

const linux = z.object({
  devices: z.optional(z.array(z.object({
    type: z.enum(['c', 'b', 'u', 'p']), path: z.string(), major: optionalInt64, minor: optionalInt64,
    fileMode: z.optional(z.int().check(z.minimum(0), z.maximum(0o7777))), uid: optionalUint32, gid: optionalUint32,
  }))),
  uidMappings: idMappings,
  gidMappings: idMappings,
  namespaces: z.optional(z.array(z.object({ type: namespaceType, path: optionalString }))),
  resources: z.optional(resources),
  cgroupsPath: optionalString,
  rootfsPropagation: z.optional(z.enum(['private', 'shared', 'slave', 'unbindable'])),
  seccomp: z.optional(seccomp),
  sysctl: z.optional(z.record(z.string(), z.string())),
  maskedPaths: optionalStrings,
  readonlyPaths: optionalStrings,
  mountLabel: optionalString,
  intelRdt: z.optional(z.record(z.string(), z.unknown())),
  personality: z.optional(z.object({ domain: z.enum(['LINUX', 'LINUX32']), flags: optionalStrings })),
  timeOffsets: z.optional(z.record(z.string(), z.unknown())),
});

const ociConfig = z.object({
  ociVersion: z.string(),
  hooks: z.optional(z.object({
    prestart: hooks, createRuntime: hooks, createContainer: hooks,
    startContainer: hooks, poststart: hooks, poststop: hooks,
  })),
  annotations: z.optional(z.record(z.string(), z.string())),
  hostname: optionalString,
  domainname: optionalString,
  mounts: z.optional(z.array(mount)),
  root: z.optional(z.object({ path: z.string().check(z.minLength(1)), readonly: optionalBoolean })),
  process: z.optional(z.object({
    args: optionalStrings,
    commandLine: optionalString,
    consoleSize: z.optional(z.object({ height: uint64, width: uint64 })),
    cwd: z.string(),
    env: z.optional(env),
    terminal: optionalBoolean,
    user: z.optional(z.object({
      uid: optionalUint32, gid: optionalUint32, umask: optionalUint32,
      additionalGids: z.optional(z.array(uint32)), username: optionalString,
    })),
    capabilities: z.optional(z.object({
      bounding: optionalStrings, permitted: optionalStrings, effective: optionalStrings,
      inheritable: optionalStrings, ambient: optionalStrings,
    })),
    apparmorProfile: optionalString,
    oomScoreAdj: z.optional(z.int()),
    selinuxLabel: optionalString,
    ioPriority: z.optional(z.object({ class: z.string(), priority: z.optional(z.int()) })),
    noNewPrivileges: optionalBoolean,
    scheduler: z.optional(z.object({ policy: z.string() })),
    rlimits: z.optional(z.array(z.object({ type: z.string().check(z.regex(/^RLIMIT_[A-Z]+$/)), soft: uint64, hard: uint64 }))),
    execCPUAffinity: z.optional(z.object({ initial: optionalString, final: optionalString })),
  })),
  linux: z.optional(linux),
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

/** Check `input` (parsed JSON) against the schema: the config, or a ConfigError (worded for `source`) for the first problem. */
export function parseConfig(input: unknown, source = 'config.json'): OciConfig {
  const r = ociConfig.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
  let value: unknown = input;
  for (const k of issue.path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[k] : undefined;
  throw new ConfigError(path, `${issue.message} (got ${shown(value)})`, source);
}
