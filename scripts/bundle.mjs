// Bundles each tool into one CommonJS file in dist/bin/: Node 20 starts a CommonJS file
// markedly faster than a graph of ES modules, and start-up is most of a short tool's run
// time. Dynamic imports are inlined (V8 compiles functions lazily, so unused code costs
// little). koffi stays outside: it is a native addon.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const tools = Object.keys(pkg.bin).map((name) => name.replace(/^ts-/, ''));

await build({
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
