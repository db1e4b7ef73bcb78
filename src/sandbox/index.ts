// tsns/sandbox: sandboxes with a lifecycle, spec files, capability lists.
export { Sandbox, type SandboxEvent, type SandboxMetrics, type SandboxStatus, type SandboxExit, type ExitReason, type SandboxLimits, type SandboxStdio, type CreateOptions, type ExecOptions } from './sandbox.js';
export { parseSpec, SpecError, type SandboxSpec } from './spec.js';
export { loadSpecFile } from './spec-file.js';
export { SECURE_DROP, resolveCapDrop } from './caps.js';
