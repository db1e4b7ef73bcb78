// tsns: the public API.
export { spawn, enter, subidRange, mapLines, signalNumber, type Spawned } from './spawn/index.js';
export type * from './spawn/spec.js';
export { SysError, errnoName } from './sys/errors.js';
export { setExplain } from './sys/explain.js';
export * from './sys/ns.js';
export * from './sys/mount.js';
export * from './sys/caps.js';
export * from './sys/prctl.js';
export * from './sys/proc.js';
export { NativeMissingError, StepError } from './native/stage.js';
export type { Step } from './native/plan.js';
export { listNamespaces, scanNamespaces, type NamespaceRecord, type ListOptions } from './ns/list.js';
export * as cgroup from './cgroup/index.js';
export * as net from './net/index.js';
export { SECURE_DROP, resolveCapDrop } from './sandbox/caps.js';
export { Sandbox, type SandboxEvent, type SandboxMetrics, type SandboxStatus, type SandboxExit, type ExitReason, type SandboxLimits, type SandboxStdio, type CreateOptions, type ExecOptions } from './sandbox/sandbox.js';
export { parseSpec, loadSpecFile, SpecError, type SandboxSpec } from './sandbox/spec.js';
export { hostReadOnly } from './sandbox/filesystem.js';
