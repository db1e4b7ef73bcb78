// errno symbols: a complete Linux table, not only the names Node's os.constants.errno knows.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { errnoName, errnoNumber, SysError } from '../src/sys/errors.js';

const ALIASES: Record<string, string> = { EWOULDBLOCK: 'EAGAIN', EDEADLOCK: 'EDEADLK', ENOTSUP: 'EOPNOTSUPP' };

t.test('errnos Node does not know have their names', async (t) => {
  t.equal(errnoName(87), 'EUSERS');
  t.equal(errnoName(126), 'ENOKEY');
  t.equal(errnoName(133), 'EHWPOISON');
  t.equal(errnoName(85), 'ERESTART');
  t.equal(errnoName(1), 'EPERM');
  t.equal(errnoName(95), 'EOPNOTSUPP', 'the kernel\'s name, not glibc\'s ENOTSUP alias');
  t.equal(errnoName(11), 'EAGAIN');
  t.equal(errnoName(35), 'EDEADLK');
});

t.test('numbers Linux does not define keep a numeric name', async (t) => {
  for (const n of [0, 41, 58, 134, 512, -1, 1.5]) t.equal(errnoName(n), `E${n}`);
});

t.test('every generic errno 1..133 has a name, and names map back', async (t) => {
  for (let n = 1; n <= 133; n++) {
    if (n === 41 || n === 58) continue;
    const name = errnoName(n);
    t.match(name, /^E[A-Z0-9]+$/, `${n} -> ${name}`);
    t.equal(errnoNumber(name), n, `${name} -> ${n}`);
  }
  t.equal(errnoNumber('EWOULDBLOCK'), 11);
  t.equal(errnoNumber('ENOTSUP'), 95);
  t.equal(errnoNumber('ENOSUCHTHING'), undefined);
});

t.test('agrees with every name in os.constants.errno', async (t) => {
  for (const [name, n] of Object.entries(constants.errno)) t.equal(errnoName(n), ALIASES[name] ?? name, name);
});

const headers = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];
t.test('agrees with the kernel headers', { skip: headers.every(existsSync) ? false : 'no asm-generic errno headers here (linux-libc-dev)' }, async (t) => {
  let seen = 0;
  for (const file of headers) {
    for (const m of readFileSync(file, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\d+)\b/gm)) {
      t.equal(errnoName(Number(m[2])), m[1], `${file}: ${m[1]}`);
      seen++;
    }
  }
  t.equal(seen, 131, 'all numbered defines were compared');
});

t.test('a SysError for errno 87 names EUSERS and its hint', async (t) => {
  const err = new SysError('unshare', 'CLONE_NEWUSER', 87);
  t.equal(err.code, 'EUSERS');
  t.match(err.message, /^unshare\(CLONE_NEWUSER\): EUSERS \(Too many users\): user namespace nesting limit/);
  t.notMatch(err.message, /E87/);
});

t.test('strerror texts are libc\'s, without loading libc through koffi', async (t) => {
  // A child of its own: this test process may have loaded koffi already.
  const script = `
    import { strerror } from './src/sys/libc.ts';
    import { reasonOf } from './src/sys/errors.ts';
    import { createRequire } from 'node:module';
    const texts = [strerror(17), strerror(1), strerror(133), reasonOf(Object.assign(new Error('x'), { errno: -2 }))];
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('koffi'));
    console.log(JSON.stringify({ texts, loaded }));`;
  const { execFileSync } = await import('node:child_process');
  const out = JSON.parse(execFileSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' }));
  t.same(out.texts, ['File exists', 'Operation not permitted', 'Memory page has hardware error', 'No such file or directory']);
  t.equal(out.loaded, false, 'koffi not loaded');
  const { strerror } = await import('../src/sys/libc.js');
  t.equal(strerror(4095), 'Unknown error 4095', 'a number beyond the table: libc\'s own words');
});
