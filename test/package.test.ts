// What `npm pack` puts in the tarball, and the package.json fields npm users rely on.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  bin: Record<string, string>; man: string[]; os: string[]; engines: { node: string };
  exports: Record<string, string | { types: string; default: string }>;
  dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

t.test('npm pack --dry-run', async (t) => {
  // --ignore-scripts: the file list of the tree as built (prepare would rebuild dist/ under other running tests).
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
  const want = [
    'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'completions/tsns.bash', 'native/Makefile',
    'dist/index.js', 'dist/index.d.ts', 'schema/sandbox.schema.json',
    ...readdirSync(`${root}native`).filter((f) => /\.[ch]$/.test(f)).map((f) => `native/${f}`),
    ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
    ...Object.keys(pkg.bin).flatMap((tool) => [`bin/${tool}`, `dist/bin/${tool.slice(3)}.cjs`, `dist/bin/${tool.slice(3)}.bundle.cjs`, `docs/man/${tool}.md`]),
    ...pkg.man.map((m) => m.replace(/^\.\//, '')),
  ];
  t.same(want.filter((f) => !files.has(f)), [], 'bundles, native sources, man pages, docs, completion');
  const unwanted = [...files].filter((f) => /^(test|src|bench|\.ci|tmp|native\/build|node_modules|dist\/cli)\//.test(f) || f.endsWith('.test.ts'));
  t.same(unwanted, [], 'no tests, sources, build outputs or the unused dist/cli');
});

t.test('package.json', async (t) => {
  t.same(pkg.os, ['linux']);
  t.equal(pkg.engines.node, '>=20');
  t.notOk(pkg.dependencies.execa, 'execa only for the tests');
  t.ok(pkg.devDependencies.execa);
  for (const [sub, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string' || sub.includes('*')) continue;
    t.ok(existsSync(`${root}${target.default}`) && existsSync(`${root}${target.types}`), `${sub}: ${target.default} and its types`);
  }
  for (const sub of ['./cgroup', './sys', './net', './sandbox', './vserver', './spawn', './ns']) t.ok(pkg.exports[sub], `tsns/${sub.slice(2)}`);
  // No runtime module imports what only the tests have.
  const r = spawnSync('grep', ['-rlE', "from 'execa'|require\\('execa'\\)", `${root}src`, `${root}scripts`], { encoding: 'utf8' });
  t.equal(r.stdout, '');
});

t.test('subpath imports resolve by package name', async (t) => {
  const code = `import('tsns/cgroup').then(async (c) => { const s = await import('tsns/sys'); const sb = await import('tsns/sandbox');
    const d = await import('tsns/dist/spawn/index.js'); console.log(typeof c.openCgroup, typeof s.unshare, typeof sb.Sandbox, typeof d.spawn); })`;
  // A package imports itself by its name (self-reference through "exports").
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  t.equal(r.stderr, '');
  t.equal(r.stdout.trim(), 'function function function function');
  const req = spawnSync(process.execPath, ['-e', "console.log(typeof require('tsns').spawn)"], { cwd: root, encoding: 'utf8' });
  t.equal(req.stdout.trim(), 'function', 'require() of the ESM package (Node >= 20.19)');
});
