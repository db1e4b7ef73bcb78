// A minimal busybox root filesystem for tests, removed when the test ends.
import { mkdtempSync, mkdirSync, copyFileSync, symlinkSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));

export function buildBusyboxRoot(t: Tap.Test): string {
  if (!BUSYBOX) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  const root = mkdtempSync(join(tmpdir(), 'tsns-root-'));
  chmodSync(root, 0o755);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ['bin', 'etc', 'proc', 'tmp', 'dev']) mkdirSync(join(root, d));
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'ls', 'cat', 'pwd', 'id', 'hostname', 'ps', 'echo', 'sleep']) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return root;
}
