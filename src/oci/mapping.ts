// An OCI config.json (checked by config.ts) onto the Sandbox: a SandboxSpec for compile(),
// the cgroup limits, and the few steps the Sandbox has no field for (sysctl, oom_score_adj).
// A property tsns cannot honour is a ConfigError naming it and its value, never dropped.
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_DEVICES } from '../cgroup/devices.js';
import type { Limits } from '../cgroup/index.js';
import type { Step } from '../native/plan.js';
import type { MountOp, SandboxSpec } from '../sandbox/spec.js';
import { RLIMITS } from '../sandbox/spec.js';
import { ConfigError, shown, type OciConfig, type OciProcess } from './config.js';

export interface Mapped {
  sandbox: SandboxSpec;
  limits: Limits;
  /** linux.cgroupsPath, as given. */
  cgroupsPath?: string;
  /** Written right after the namespaces are made, before the root is built (/proc is the host's then). */
  preSteps: Step[];
  /** root.path made absolute. */
  rootfs: string;
  argv: string[];
  terminal: boolean;
  consoleSize?: { height: number; width: number };
}

const refuse = (property: string, value: unknown, why: string): never => {
  throw new ConfigError(property, `${shown(value)}: ${why}`);
};

const NAMESPACE: Record<string, NonNullable<keyof NonNullable<SandboxSpec['namespaces']>>> = {
  mount: 'mount', pid: 'pid', network: 'net', uts: 'uts', ipc: 'ipc', user: 'user', cgroup: 'cgroup', time: 'time',
};

/** mount(8) propagation options: tsns makes every mount private with the namespace (rootfsPropagation sets the root's). */
const PROPAGATION_OPTIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);

function mountOf(m: NonNullable<OciConfig['mounts']>[number], k: number, rootfs: string, bindCgroup: boolean): MountOp {
  const field = `mounts[${k}]`;
  if (!m.destination.startsWith('/')) refuse(`${field}.destination`, m.destination, 'must be an absolute path');
  if (m.uidMappings?.length || m.gidMappings?.length) refuse(`${field}.uidMappings`, m.uidMappings ?? m.gidMappings, 'id-mapped mounts are not supported');
  const options = (m.options ?? []).filter((o) => !PROPAGATION_OPTIONS.has(o));
  const isBind = m.type === 'bind' || options.includes('bind') || options.includes('rbind');
  if (isBind) {
    if (!m.source) refuse(`${field}.source`, m.source, 'a bind mount needs a source');
    const rest = options.filter((o) => !['bind', 'rbind', 'ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'relatime', 'norelatime', 'strictatime', 'noatime', 'nodiratime'].includes(o));
    if (rest.length) refuse(`${field}.options`, rest, 'not supported on a bind mount');
    const last = (on: string, off: string) => (options.lastIndexOf(on) > options.lastIndexOf(off) ? true : options.includes(off) ? false : undefined);
    return {
      type: 'bind', source: m.source!, dest: m.destination, readOnly: last('ro', 'rw'),
      nosuid: last('nosuid', 'suid') ?? false, nodev: last('nodev', 'dev') ?? false, noexec: last('noexec', 'exec') ?? false,
      devices: true,
    };
  }
  const type = m.type ?? refuse(`${field}.type`, m.type, 'a mount that is no bind needs a type');
  if (options.includes('tmpcopyup')) {
    // runc's (and Podman's) copy of what the image has there into the new tmpfs: nothing to copy is honoured as is.
    if (type !== 'tmpfs') refuse(`${field}.options`, 'tmpcopyup', 'only for a tmpfs');
    if (!emptyOrMissing(join(rootfs, m.destination))) refuse(`${field}.options`, 'tmpcopyup', `${m.destination} of the image is not empty, and ts-oci does not copy it up`);
    options.splice(options.indexOf('tmpcopyup'), 1);
  }
  switch (type) {
    case 'proc': return { type: 'proc', dest: m.destination };
    case 'mqueue': return { type: 'mqueue', dest: m.destination };
    // runc fills a tmpfs /dev with the default devices; the Sandbox's minimal /dev is that.
    case 'tmpfs': if (m.destination === '/dev') return { type: 'dev', dest: '/dev' }; break;
    // The unified hierarchy, read through the container's cgroup namespace where it has one.
    case 'cgroup':
      // In a user namespace without a cgroup namespace of its own no cgroupfs can be
      // mounted: the host's tree is bound instead, read-only where asked (runc's rootless way).
      if (bindCgroup) return { type: 'bind', source: '/sys/fs/cgroup', dest: m.destination, readOnly: options.includes('ro'), nosuid: true, nodev: true, noexec: true };
      return { type: 'mount', fstype: 'cgroup2', source: 'cgroup2', dest: m.destination, options };
    case 'sysfs': case 'devpts': case 'cgroup2': case 'overlay': case 'ramfs': break;
    default: refuse(`${field}.type`, type, 'not supported (bind, tmpfs, proc, sysfs, devpts, mqueue, cgroup, cgroup2)');
  }
  return { type: 'mount', fstype: type, source: m.source ?? type, dest: m.destination, options };
}

function emptyOrMissing(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch {
    return true;
  }
}

/** linux.devices: the host's node of the same path, bound in (it must be that device). */
function devicesOf(devices: NonNullable<NonNullable<OciConfig['linux']>['devices']>): MountOp[] {
  return devices.map((d, k) => {
    let st;
    try {
      st = statSync(d.path);
    } catch {
      return refuse(`linux.devices[${k}]`, d, 'only devices the host has at the same path are supported');
    }
    const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
    const major = Math.floor(st.rdev / 256) & 0xfff, minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    if (type !== (d.type === 'u' ? 'c' : d.type) || (d.major !== undefined && d.major !== major) || (d.minor !== undefined && d.minor !== minor))
      return refuse(`linux.devices[${k}]`, d, `the host's ${d.path} is another device`);
    return { type: 'bind', source: d.path, dest: d.path, devices: true } as MountOp;
  });
}

/**
 * The five sets; an ambient capability that is not both permitted and inheritable cannot
 * be raised, and runc only warns about it: it is left out here.
 */
function capabilitiesOf(c: NonNullable<OciConfig['process']>['capabilities'] & object) {
  const upper = (l: string[] | undefined) => new Set((l ?? []).map((n) => n.toUpperCase()));
  const permitted = upper(c.permitted), inheritable = upper(c.inheritable);
  return { ...c, ambient: c.ambient?.filter((n) => permitted.has(n.toUpperCase()) && inheritable.has(n.toUpperCase())) };
}

/** "NAME=VALUE" strings as a record (the last of a name wins, as execve's getenv would not: runc's way). */
function envOf(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of list) {
    const eq = e.indexOf('=');
    out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/** Sysctls a container may set: those of a namespace it has of its own (runc's list). */
function sysctlSteps(sysctl: Record<string, string>, own: Set<string>): Step[] {
  return Object.entries(sysctl).map(([key, value]) => {
    const ns = /^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$|^fs\.mqueue\./.test(key) ? 'ipc'
      : key.startsWith('net.') ? 'net'
      : key === 'kernel.hostname' || key === 'kernel.domainname' ? 'uts' : undefined;
    if (!ns) refuse(`linux.sysctl.${key}`, value, 'not a namespaced sysctl: it would change the host');
    if (!own.has(ns!)) refuse(`linux.sysctl.${key}`, value, `needs a ${ns} namespace of the container's own`);
    if (!/^[a-z0-9_.-]+$/.test(key)) refuse(`linux.sysctl.${key}`, value, 'not a sysctl name');
    return { op: 'writeFile', path: `/proc/sys/${key.replace(/\./g, '/')}`, data: value } as Step;
  });
}

const SECCOMP_ACTION: Record<string, 'allow' | 'errno' | 'kill' | 'kill-process' | 'trap' | 'log' | 'trace'> = {
  SCMP_ACT_ALLOW: 'allow', SCMP_ACT_ERRNO: 'errno', SCMP_ACT_KILL: 'kill', SCMP_ACT_KILL_THREAD: 'kill',
  SCMP_ACT_KILL_PROCESS: 'kill-process', SCMP_ACT_TRAP: 'trap', SCMP_ACT_LOG: 'log', SCMP_ACT_TRACE: 'trace',
};

function seccompOf(s: NonNullable<NonNullable<OciConfig['linux']>['seccomp']>): NonNullable<NonNullable<SandboxSpec['security']>['seccomp']> {
  const action = (a: string, field: string) => SECCOMP_ACTION[a] ?? refuse(field, a, 'not supported (no seccomp agent listens)');
  if (s.listenerPath) refuse('linux.seccomp.listenerPath', s.listenerPath, 'seccomp notify is not supported');
  return {
    profile: 'none',
    defaultAction: action(s.defaultAction, 'linux.seccomp.defaultAction'),
    defaultErrno: s.defaultErrnoRet || undefined,
    architectures: s.architectures?.map((a) => a.replace(/^SCMP_ARCH_/, '').toLowerCase()),
    flags: s.flags,
    unknownSyscalls: 'ignore',
    rules: (s.syscalls ?? []).map((r, k) => ({
      names: r.names,
      action: action(r.action, `linux.seccomp.syscalls[${k}].action`),
      errno: r.errnoRet || undefined,
      args: r.args?.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo, op: a.op.replace('SCMP_CMP_', '') as 'EQ' })),
    })),
  };
}

/** linux.resources as the cgroup library's limits (`field`: where they came from, for messages). */
export function limitsOf(r: NonNullable<NonNullable<OciConfig['linux']>['resources']>, f = 'linux.resources'): Limits {
  const out: Limits = {};
  const m = r.memory;
  if (m) {
    if (m.limit !== undefined && m.limit > 0) out.memory = m.limit;
    if (m.swap !== undefined && m.swap > 0) {
      // OCI's swap is memory plus swap (v1's memsw); tsns's is the swap on top.
      if (m.limit === undefined || m.limit <= 0) refuse(`${f}.memory.swap`, m.swap, 'needs memory.limit');
      if (m.swap < m.limit!) refuse(`${f}.memory.swap`, m.swap, 'is memory plus swap: at least memory.limit');
      out.memorySwap = m.swap - m.limit!;
    }
    for (const key of ['reservation', 'kernel', 'kernelTCP'] as const) if (m[key] !== undefined && m[key]! > 0) refuse(`${f}.memory.${key}`, m[key], 'not supported');
    if (m.disableOOMKiller) refuse(`${f}.memory.disableOOMKiller`, true, 'not supported');
    if (m.swappiness !== undefined && m.swappiness <= 100) refuse(`${f}.memory.swappiness`, m.swappiness, 'not supported');
  }
  const c = r.cpu;
  if (c) {
    if (c.shares) out.cpuWeight = Math.min(10000, Math.max(1, Math.round((c.shares * 100) / 1024)));
    if (c.quota !== undefined && c.quota > 0) out.cpu = c.quota / (c.period || 100000);
    for (const key of ['cpus', 'mems'] as const) if (c[key]) refuse(`${f}.cpu.${key}`, c[key], 'cpusets are not supported');
    for (const key of ['realtimeRuntime', 'realtimePeriod', 'burst', 'idle'] as const) if (c[key]) refuse(`${f}.cpu.${key}`, c[key], 'not supported');
  }
  if (r.pids && r.pids.limit > 0) out.pids = r.pids.limit;
  const b = r.blockIO;
  if (b) {
    if (b.weight !== undefined) out.ioWeight = b.weight * 10;
    for (const key of ['leafWeight', 'weightDevice', 'throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice'] as const) {
      const v = b[key];
      if (v !== undefined && (!Array.isArray(v) || v.length)) refuse(`${f}.blockIO.${key}`, v, 'not supported');
    }
  }
  for (const key of ['hugepageLimits', 'rdma', 'unified'] as const) {
    const v = r[key];
    if (v && (Array.isArray(v) ? v.length : Object.keys(v).length)) refuse(`${f}.${key}`, v, 'not supported');
  }
  if (r.network && (r.network.classID !== undefined || r.network.priorities?.length)) refuse(`${f}.network`, r.network, 'not supported');
  if (r.devices?.length) {
    // runc allows its default devices (null, zero, full, random, urandom, tty, ptmx and
    // the ptys...) after the spec's rules, whatever they are: a /dev of the container's own needs them.
    out.devices = [...r.devices.flatMap((d, k) => {
      if (!d.allow) {
        // Everything is denied first (the cgroup library's way): only a deny of all fits that.
        if ((d.type ?? 'a') === 'a' && d.major === undefined && d.minor === undefined) return [];
        return refuse(`${f}.devices[${k}]`, d, 'a deny rule other than all devices is not supported');
      }
      const num = (v: number | undefined) => (v === undefined || v < 0 ? '*' : v);
      return [{ type: d.type ?? 'a', major: num(d.major), minor: num(d.minor), access: d.access || 'rwm' } as const];
    }), ...DEFAULT_DEVICES];
  }
  return out;
}

/**
 * A process object (config.json's, or exec's --process) as the Sandbox's process,
 * security and rlimits, with oom_score_adj as a step (the Sandbox has no field for it);
 * what tsns cannot honour is refused.
 */
export function processParts(p: OciProcess, seccomp: NonNullable<OciConfig['linux']>['seccomp'], field = 'process') {
  if (!p.args?.length) refuse(`${field}.args`, p.args, 'a container needs a program');
  if (!p.cwd.startsWith('/')) refuse(`${field}.cwd`, p.cwd, 'must be an absolute path');
  if (p.apparmorProfile) refuse(`${field}.apparmorProfile`, p.apparmorProfile, 'tsns runs no AppArmor profile');
  if (p.selinuxLabel) refuse(`${field}.selinuxLabel`, p.selinuxLabel, 'tsns runs no SELinux label');
  for (const key of ['ioPriority', 'scheduler', 'execCPUAffinity'] as const) if (p[key]) refuse(`${field}.${key}`, p[key], 'not supported');
  if (p.user?.username) refuse(`${field}.user.username`, p.user.username, 'a Windows property');
  const rlimits: Record<string, { soft: number; hard: number }> = {};
  (p.rlimits ?? []).forEach((r, k) => {
    const name = r.type.slice('RLIMIT_'.length).toLowerCase();
    if (!(RLIMITS as readonly string[]).includes(name)) refuse(`${field}.rlimits[${k}].type`, r.type, 'unknown resource');
    rlimits[name] = { soft: r.soft, hard: r.hard };
  });
  const preSteps: Step[] = p.oomScoreAdj === undefined ? [] : [{ op: 'writeFile', path: '/proc/self/oom_score_adj', data: String(p.oomScoreAdj) }];
  const user = p.user ?? {};
  return {
    preSteps,
    /** A pty through --console-socket (create and exec add its steps). */
    terminal: p.terminal ?? false,
    consoleSize: p.consoleSize,
    limits: Object.keys(rlimits).length ? { rlimits } : undefined,
    security: {
      noNewPrivs: p.noNewPrivileges ?? false,
      capabilities: capabilitiesOf(p.capabilities ?? {}),
      seccomp: seccomp ? seccompOf(seccomp) : { profile: 'none' as const },
    },
    process: {
      args: p.args,
      clearEnv: true,
      env: envOf(p.env ?? []),
      cwd: p.cwd,
      uid: user.uid ?? 0,
      gid: user.gid ?? 0,
      groups: user.additionalGids ?? [],
      umask: user.umask,
      // runc makes the container's process a session leader.
      newSession: true,
    },
  } satisfies Pick<SandboxSpec, 'limits' | 'security' | 'process'> & { preSteps: Step[]; terminal: boolean; consoleSize: OciProcess['consoleSize'] };
}

/** Map `config` of the bundle in `bundle` (absolute). */
export function mapConfig(config: OciConfig, bundle: string): Mapped {
  const p = config.process ?? refuse('process', undefined, 'a container needs a process');
  const linux = config.linux ?? {};
  if (!config.root) refuse('root', undefined, 'a container needs a root');
  if (linux.mountLabel) refuse('linux.mountLabel', linux.mountLabel, 'tsns sets no SELinux labels');
  for (const key of ['intelRdt', 'timeOffsets'] as const) if (linux[key]) refuse(`linux.${key}`, linux[key], 'not supported');
  if (linux.personality && (linux.personality.domain !== 'LINUX' || linux.personality.flags?.length)) refuse('linux.personality', linux.personality, 'only LINUX without flags');
  for (const [name, list] of Object.entries(config.hooks ?? {})) {
    list?.forEach((h, k) => { if (!isAbsolute(h.path)) refuse(`hooks.${name}[${k}].path`, h.path, 'must be an absolute path'); });
  }

  const namespaces: NonNullable<SandboxSpec['namespaces']> = {};
  for (const kind of Object.values(NAMESPACE)) namespaces[kind] = 'host';
  const own = new Set<string>();
  (linux.namespaces ?? []).forEach((ns, k) => {
    const kind = NAMESPACE[ns.type];
    if (ns.path !== undefined && !isAbsolute(ns.path)) refuse(`linux.namespaces[${k}].path`, ns.path, 'must be an absolute path');
    namespaces[kind] = ns.path ? { path: ns.path } : 'new';
    if (!ns.path) own.add(kind);
  });
  if (!own.has('mount')) refuse('linux.namespaces', linux.namespaces, 'a container needs a mount namespace of its own');
  // The caller's own id alone (runc spec --rootless) is a map the process writes itself,
  // with setgroups denied, as an unprivileged caller must; ranges need the planner's help.
  const idMap = (list: NonNullable<typeof linux.uidMappings>, own: number) =>
    list.length === 1 && list[0].size === 1 && list[0].hostID === own ? list[0].containerID
      : list.map((m) => ({ inside: m.containerID, outside: m.hostID, count: m.size }));
  if ((linux.uidMappings?.length || linux.gidMappings?.length) && !own.has('user')) refuse('linux.uidMappings', linux.uidMappings, 'needs a new user namespace');

  const parts = processParts(p, linux.seccomp);
  const preSteps: Step[] = [...parts.preSteps, ...sysctlSteps(linux.sysctl ?? {}, own)];

  const rootfs = isAbsolute(config.root!.path) ? config.root!.path : join(bundle, config.root!.path);
  const sandbox: SandboxSpec = {
    namespaces,
    uidMap: linux.uidMappings?.length ? idMap(linux.uidMappings, process.geteuid!()) : undefined,
    gidMap: linux.gidMappings?.length ? idMap(linux.gidMappings, process.getegid!()) : undefined,
    hostname: config.hostname || undefined,
    domainname: config.domainname || undefined,
    filesystem: {
      root: { path: rootfs, readOnly: config.root!.readonly },
      mounts: [...(config.mounts ?? []).map((m, k) => mountOf(m, k, rootfs, own.has('user') && !own.has('cgroup'))), ...devicesOf(linux.devices ?? [])],
      maskedPaths: linux.maskedPaths,
      readonlyPaths: linux.readonlyPaths,
      // OCI lists the paths to protect itself.
      protectProc: false,
      propagation: linux.rootfsPropagation,
    },
    limits: parts.limits,
    security: parts.security,
    process: parts.process,
    annotations: config.annotations,
  };
  return {
    sandbox, limits: linux.resources ? limitsOf(linux.resources) : {}, cgroupsPath: linux.cgroupsPath,
    preSteps, rootfs, argv: p.args!, terminal: parts.terminal, consoleSize: parts.consoleSize,
  };
}
