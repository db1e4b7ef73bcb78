// cgroups from TypeScript: one API over cgroup2, hybrid and v1 hosts.
export { CgroupError } from './errors.js';
export { currentLayout, detectLayout, controllersByVersion, hierarchyFor, type Hierarchy, type Layout, type LayoutKind, type LayoutSources } from './layout.js';
export { Cgroup, createCgroup, openCgroup, listCgroups, GROUP_CONTROLLERS, type CgroupEvents, type CgroupStats, type GroupOptions, type WaitOptions } from './group.js';
export { startJoinGracePeriod } from './grace.js';
export { parseLimits, LIMIT_RULES, CPU_PERIOD_US, type Limits, type ParsedLimits, type LimitRule } from './limits.js';
export { parseSize, parseMemory, MIN_MEMORY, parseCpu, parseCount, parseWeight, parseIo, formatSize, type IoLimit, type Limit } from './parse.js';
export { DEFAULT_DEVICES, parseDevice, formatDevice, type DeviceRule } from './devices.js';
