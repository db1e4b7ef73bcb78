// ts-vserver build --debootstrap: a Debian root, started and entered. It downloads about
// 100 MB from the Debian mirror and takes minutes, so it runs only when asked for.
import t from 'tap';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const skip = process.env.TSNS_TEST_DEBOOTSTRAP !== '1'
  ? 'downloads ~100 MB from the Debian mirror: run with TSNS_TEST_DEBOOTSTRAP=1 (and debootstrap installed)'
  : undefined;

t.test('a bookworm vserver builds, starts, runs a command and stops', { skip, timeout: 900_000 }, async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'tsns-vs-deb-'));
  const conf = join(base, 'conf');
  mkdirSync(conf);
  const env = { TSNS_VSERVER_CONFDIR: conf, TSNS_VSERVER_ROOT: join(base, 'root'), TSNS_RUN_DIR: join(base, 'run') };
  const vserver = (args: string[]) =>
    execa('env', ['-u', 'NODE_OPTIONS', new URL('../../bin/ts-vserver', import.meta.url).pathname, ...args], { env, reject: false, timeout: 900_000 });
  const name = `deb${process.pid}`;
  writeFileSync(join(conf, `${name}.conf`), 'S_HOSTNAME=vs-debian\n');
  t.teardown(async () => {
    await vserver([name, 'stop']);
    rmSync(base, { recursive: true, force: true });
  });
  const b = await vserver([name, 'build', '--debootstrap', 'bookworm']);
  t.equal(b.exitCode, 0, b.stderr);
  t.equal((await vserver([name, 'start', '--', '/bin/sleep', 'infinity'])).exitCode, 0);
  const r = await vserver([name, 'exec', 'sh', '-c', 'cat /etc/debian_version; hostname']);
  t.match(r.stdout, /^12\.\d+\nvs-debian$/);
  t.equal((await vserver([name, 'stop'])).exitCode, 0);
});
