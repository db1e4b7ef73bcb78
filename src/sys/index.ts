// tsns/sys: the thin system call bindings, each throwing SysError.
export { SysError, errnoName } from './errors.js';
export { setExplain } from './explain.js';
export * from './ns.js';
export * from './mount.js';
export * from './caps.js';
export * from './prctl.js';
export * from './proc.js';
