// Bundles each tool into one CommonJS file in dist/bin/: Node 20 starts a CommonJS file
// markedly faster than a graph of ES modules, and start-up is most of a short tool's run
// time. Dynamic imports are inlined (V8 compiles functions lazily, so unused code costs
// little). koffi stays outside: it is a native addon.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const tools = Object.keys(pkg.bin).map((name) => name.replace(/^ts-/, ''));

// Node modules that cost start-up time (child_process, net, and the streams under them)
// but are used by few runs: commander requires child_process at load for a feature we do
// not use, and pipes to a sandbox need net. They load on first use instead.
const LAZY = ['child_process', 'net'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY.join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `let m; module.exports = new Proxy({}, { get: (_, key) => (m ??= require('node:${args.path}'))[key] });`,
      loader: 'js',
    }));
  },
};

await build({
  plugins: [lazyBuiltins],
  entryPoints: tools.map((t) => ({ in: `src/cli/${t}.ts`, out: t })),
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
  logLevel: 'warning',
});
