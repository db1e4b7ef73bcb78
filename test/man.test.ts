// Man pages: one per tool (section 1, or 8 as util-linux's lsns), generated at build time
// from the tools' option definitions and docs/man/ts-NAME.md, rendered by man -l.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { bin: Record<string, string>; man: string[] };
const env = { PATH: `${root}bin:${process.env.PATH}`, LC_ALL: 'C', MANWIDTH: '200', MAN_DISABLE_SECCOMP: '1' };

/** The long options a tool's --help shows (the man page must show each). */
function helpOptions(argv: string[]): string[] {
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8' });
  return [...new Set([...r.stdout.matchAll(/^ {2,}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]))];
}

const haveMan = spawnSync('man', ['--version']).status === 0 && spawnSync('groff', ['--version']).status === 0;

t.test('every tool has a man page in package.json man', async (t) => {
  for (const tool of Object.keys(pkg.bin)) {
    const page = pkg.man.find((m) => m.endsWith(`/${tool}.1`) || m.endsWith(`/${tool}.8`));
    t.ok(page, `${tool} listed`);
    t.ok(page && existsSync(`${root}${page}`), `${page} built`);
  }
  t.ok(pkg.man.some((m) => m.endsWith('/ts-lsns.8')), 'ts-lsns in section 8, as lsns');
  t.ok(pkg.man.some((m) => m.endsWith('/ts-unshare.1')), 'ts-unshare in section 1, as unshare');
});

for (const tool of Object.keys(pkg.bin)) {
  t.test(`man -l ${tool}`, { skip: haveMan ? false : 'man-db and groff are not installed' }, async (t) => {
    const page = `${root}${pkg.man.find((m) => /\/(ts-[\w-]+)\.\d$/.exec(m)?.[1] === tool)}`;
    const r = spawnSync('man', ['-l', page], { env, encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    const lint = spawnSync('groff', ['-man', '-ww', '-z', page], { env, encoding: 'utf8' });
    t.equal(lint.stderr, '', 'groff has no warnings');
    const out = r.stdout;
    for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXAMPLES', 'EXIT STATUS', 'SEE ALSO']) {
      t.match(out, new RegExp(`^${s}$`, 'm'), `section ${s}`);
    }
    t.match(out, new RegExp(`^NAME\\n\\s+${tool} - \\S`, 'm'), 'NAME line: tool - summary');
    const missing = helpOptions([tool, '--help']).filter((o) => !out.includes(o));
    t.same(missing, [], 'every option of --help appears');
    if (tool === 'ts-cgroup') {
      for (const sub of ['run', 'create', 'set', 'rm', 'stats']) {
        const subMissing = helpOptions([tool, sub, '--help']).filter((o) => !out.includes(o));
        t.same(subMissing, [], `every option of ${sub} --help appears`);
        t.match(out, new RegExp(`^ {3}${sub}\\b`, 'm'), `${sub} has a subsection`);
      }
    }
    if (tool === 'ts-vserver') {
      for (const sub of ['build', 'start', 'exec', 'status']) {
        t.match(out, new RegExp(`^ {3}<name> ${sub}\\b`, 'm'), `${sub} has a subsection`);
        const subMissing = helpOptions([tool, 'x', sub, '--help']).filter((o) => !out.includes(o));
        t.same(subMissing, [], `every option of NAME ${sub} --help appears`);
      }
    }
  });
}
