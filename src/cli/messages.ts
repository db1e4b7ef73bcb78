// Failures of the native stage worded the way util-linux words them.
import { NS_GET_USERNS } from '../native/plan.js';
import { StepError } from '../native/stage.js';
import { reasonOf, SysError } from '../sys/errors.js';
import { ToolError } from './common.js';

function withHint(err: SysError): string {
  return err.hint ? `${err.reason} (${err.hint})` : err.reason;
}

/** The one line (and exit code) for a failed set-up step or exec. */
export function stepFailure(err: StepError): ToolError {
  const s = err.step;
  const why = withHint(err);
  switch (s.op) {
    case 'exec': return new ToolError(`failed to execute ${s.file}: ${err.reason}`, err.code === 'ENOENT' ? 127 : 126);
    case 'chroot': return new ToolError(`cannot change root directory to '${s.path}': ${why}`);
    case 'chdir': return new ToolError(`cannot chdir to '${s.path}': ${why}`);
    case 'fchdir': return new ToolError(`cannot chdir to '${s.path ?? s.fd}': ${why}`);
    case 'mount':
      if (s.fstype === 'proc') return new ToolError(`mount ${s.target} failed: ${why}`);
      if (s.source === 'none') return new ToolError(`cannot change ${s.target === '/' ? 'root filesystem' : s.target} propagation: ${why}`);
      return new ToolError(`mount ${s.source} on ${s.target} failed: ${why}`);
    case 'open': return new ToolError(`cannot open ${s.path}: ${err.reason}`);
    case 'writeFile': return new ToolError(`write failed ${s.path}: ${why}`);
    case 'unshare': return new ToolError(`unshare failed: ${why}`);
    case 'setns': return new ToolError(`reassociate to namespace '${s.path}' failed: ${why}`);
    case 'setgid': return new ToolError(`setgid failed: ${why}`);
    case 'setuid': return new ToolError(`setuid failed: ${why}`);
    case 'setgroups': return new ToolError(`setgroups failed: ${why}`);
    // nsenter --net-socket and --user-parent, in util-linux's words
    case 'pidfdOpen': return new ToolError(`failed to pidfd_open() for ${s.pid}: ${err.reason}`);
    case 'pidfdGetfd': return new ToolError(`pidfd_getfd(pidfd of ${s.pid ?? s.pidfd}, ${s.targetFd}): ${err.reason}`);
    case 'nsIoctl':
      if (s.request === NS_GET_USERNS) return new ToolError(`failed to open parent namespace: ${why}`);
      return new ToolError(`ioctl(${s.path ?? s.fd}, SIOCGSKNS): ${err.reason}${err.code === 'ENOTTY' ? ' (the descriptor is no socket)' : ''}`);
    default: return new ToolError(`${err.syscall} failed: ${why}`);
  }
}

/** Any error of a spawn in util-linux wording; other errors pass through. */
export function spawnFailure(err: unknown, cloneVerb = 'unshare'): unknown {
  if (err instanceof StepError) return stepFailure(err);
  if (err instanceof SysError && err.syscall === 'clone') return new ToolError(`${cloneVerb} failed: ${withHint(err)}`);
  if (err instanceof SysError && err.syscall === 'mount') {
    const [source, target] = err.args.split(', ').map((a) => a.replace(/^"|"$/g, ''));
    return new ToolError(`mount ${source} on ${target} failed: ${withHint(err)}`);
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall === 'open' && e.path && e.errno) return new ToolError(`cannot open ${e.path}: ${reasonOf(e)}`);
  return err;
}
