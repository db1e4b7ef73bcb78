// spawn() with pivotRoot and protectProc: the root is the whole mount namespace (nothing of
// the host's tree is left in it), and /proc is read-only and masked where runc's is.
import t from 'tap';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from '../src/spawn/index.js';
import type { Spawned } from '../src/spawn/index.js';
import { buildBusyboxRoot } from './rootfs.js';

function output(s: Spawned): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.stdout!.on('data', (d) => (out += d)).on('end', () => resolve(out));
  });
}

const SCRIPT = 'cat /proc/self/mountinfo; echo ---; pwd; echo x > /proc/sys/kernel/hostname || echo sys-ro; wc -c < /proc/timer_list';

t.test('pivotRoot: only the root and what is mounted on it; protectProc: /proc/sys read-only, timer_list masked', async (t) => {
  const root = buildBusyboxRoot(t);
  copyFileSync('/bin/busybox', join(root, 'bin/wc'));
  chmodSync(join(root, 'bin/wc'), 0o755);
  const box = spawn({ namespaces: ['mount', 'pid', 'uts'], mountProc: true, root, pivotRoot: true, protectProc: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/bin' } }, ['/bin/sh', '-c', SCRIPT]);
  const [out, status] = await Promise.all([output(box), box.exited]);
  t.same(status, { code: 0, signal: null });
  const [mountinfo, rest] = out.split('---\n');
  const points = mountinfo.trim().split('\n').map((l) => l.split(' ')[4]);
  t.equal(points[0], '/', 'the root mount is /');
  t.same(points.filter((p) => p !== '/' && !p.startsWith('/proc')), [], `no mount of the host's tree: ${points.join(' ')}`);
  t.ok(points.includes('/proc/sys'), '/proc/sys is a mount of its own');
  t.match(mountinfo, / \/proc\/sys ro,/, '...read-only');
  const [cwd, ro, timers] = rest.trim().split('\n');
  t.equal(cwd, '/');
  t.equal(ro, 'sys-ro', 'a write to /proc/sys fails');
  if (readFileSync('/proc/timer_list', 'utf8').length) t.equal(timers.trim(), '0', '/proc/timer_list reads empty');
});

t.test('protectProc without a root: the same /proc, in a copy of the host\'s tree', async (t) => {
  const box = spawn({ namespaces: ['mount', 'pid'], mountProc: true, protectProc: true, stdio: ['ignore', 'pipe', 'pipe'] }, ['/bin/sh', '-c', SCRIPT]);
  const [out, status] = await Promise.all([output(box), box.exited]);
  t.same(status, { code: 0, signal: null });
  t.match(out, /^sys-ro$/m);
});
