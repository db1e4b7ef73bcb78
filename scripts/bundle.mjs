// Bundles each tool into one CommonJS file in dist/bin/: Node 20 starts a CommonJS file
// markedly faster than a graph of ES modules, and start-up is most of a short tool's run
// time. Dynamic imports are inlined (V8 compiles functions lazily, so unused code costs
// little). koffi stays outside: it is a native addon.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { Script } from 'node:vm';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const tools = Object.keys(pkg.bin).map((name) => name.replace(/^ts-/, ''));

// commander requires child_process (and with it net, dgram and streams) when it loads, for
// executable subcommands, which no tool here has. For commander alone, hand it a stand-in
// that loads the real module on first use: start-up is the run time of a short tool.
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes('/node_modules/commander/') ? { path: 'child_process', namespace: 'lazy' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get: (_, key) => (m ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

// zod re-exports every locale it ships (some 60) as `z.locales` (classic, mini and core
// alike), and a bundle that keeps that namespace evaluates them all when it loads; tsns words
// its messages in English only (src/sandbox/zod-english.ts sets it up).
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /\/node_modules\/zod\/v4\/(classic|mini|core)\//.test(args.importer) ? { path: args.importer.replace(/(classic|mini|core)\/[^/]*$/, 'locales/en.js'), namespace: 'zod-en' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'zod-en' }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(args.path)};`, loader: 'js', resolveDir: '/' }));
  },
};

await build({
  plugins: [lazyChildProcessForCommander, zodEnglishOnly],
  entryPoints: tools.map((t) => ({ in: `src/cli/${t}.ts`, out: `${t}.bundle` })),
  outdir: 'dist/bin',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['koffi'],
  // The sources locate native/build from import.meta.url, which CommonJS lacks.
  define: { 'import.meta.url': '__tsnsModuleUrl' },
  banner: { js: "const __tsnsModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Less to parse at every start; names stay, so stack traces still read.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

// V8's code cache for each bundle: compiling 100 KB of JavaScript is a good part of a
// short tool's start-up. dist/bin/TOOL.cjs loads the bundle with it; a cache that does not
// fit this Node is rejected by V8, and the bundle compiles as usual.
// Its first line: SIGUSR1 would open Node's inspector (code execution for whoever connects);
// a listener of our own keeps it shut (native/tool.c holds the port until then).
const loader = (t) => `'use strict';
process.on('SIGUSR1', () => {});
const { Script } = require('node:vm');
const { readFileSync } = require('node:fs');
const file = __dirname + '/${t}.bundle.cjs';
let cachedData;
try { cachedData = readFileSync(file + '.cache'); } catch {}
new Script(require('node:module').wrap(readFileSync(file, 'utf8')), { filename: file, cachedData })
  .runInThisContext()(exports, require, module, file, __dirname);
`;
for (const t of tools) {
  const file = new URL(`../dist/bin/${t}.bundle.cjs`, import.meta.url).pathname;
  // A script compiled by vm has no loader for import(): every module must be bundled or required.
  if (/\bimport\(/.test(readFileSync(file, 'utf8'))) throw new Error(`${file}: a dynamic import() of an external module; use require or bundle it`);
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file });
  writeFileSync(`${file}.cache`, script.createCachedData());
  writeFileSync(new URL(`../dist/bin/${t}.cjs`, import.meta.url), loader(t));
}

// ts-oci starts once per container call of an engine (Podman: create, start, delete), and
// its create loads zod and builds the runtime-spec's schemas: V8's start-up snapshot of its
// heap with all that done (src/cli/oci.ts prewarm) spares it. Node aborts on a snapshot
// another node binary built, so the stage (native/tool.c) takes it only where the stamp
// names the very binary it is about to run (device, inode, size and mtime) and the planner
// where it was built.
const SNAPSHOTS = ['oci'];
for (const t of SNAPSHOTS) {
  const bin = new URL('../dist/bin/', import.meta.url).pathname;
  rmSync(`${bin}${t}.blob.stamp`, { force: true });
  try {
    // The flags native/tool.c runs it with (V8 refuses a snapshot built under other flags):
    // no JIT, as the planner runs for milliseconds (2-4 ms less per create, measured).
    execFileSync(process.execPath, ['--jitless', '--no-expose-wasm', '--no-warnings', '--snapshot-blob', `${bin}${t}.blob`, '--build-snapshot', `${bin}${t}.bundle.cjs`], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch {
    // Without it the tool starts from its bundle, as the others do.
    console.warn(`bundle: no start-up snapshot for ts-${t} (this node cannot build one)`);
    continue;
  }
  const node = statSync(realpathSync(process.execPath), { bigint: true });
  // And the planner's own path: the snapshot holds this package's paths (koffi's, native/'s).
  writeFileSync(`${bin}${t}.blob.stamp`, `${node.dev} ${node.ino} ${node.size} ${node.mtimeNs / 1000000000n} ${node.mtimeNs % 1000000000n} ${realpathSync(`${bin}${t}.cjs`)}\n`);
}
