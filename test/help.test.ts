// --help wraps to COLUMNS (else the terminal, else 80); subcommands have their own help.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tools = Object.keys((JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { bin: Record<string, string> }).bin)
  .filter((tool) => tool !== 'ts-sandbox'); // bwrap's own fixed layout, byte for byte

function help(argv: string[], columns?: number): { out: string; status: number | null; widest: number } {
  const env: NodeJS.ProcessEnv = { PATH: `${root}bin:${process.env.PATH}` };
  if (columns) env.COLUMNS = String(columns);
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8' });
  // The usage line is not wrapped (util-linux's neither), nor ts-lsns's column list (lsns's bytes).
  const lines = r.stdout.split('\n').filter((l) => !l.startsWith('Usage:'));
  const end = lines.indexOf('Available output columns:');
  return { out: r.stdout, status: r.status, widest: Math.max(...lines.slice(0, end < 0 ? undefined : end).map((l) => l.length)) };
}

for (const tool of tools) {
  t.test(`${tool} --help fits`, async (t) => {
    const plain = help([tool, '--help']);
    t.equal(plain.status, 0);
    t.ok(plain.widest <= 80, `80 columns by default (widest ${plain.widest})`);
    const narrow = help([tool, '--help'], 60);
    t.ok(narrow.widest <= 60, `COLUMNS=60 (widest ${narrow.widest})`);
  });
}

t.test('ts-unshare follows COLUMNS both ways', async (t) => {
  const wide = help(['ts-unshare', '--help'], 160);
  t.ok(wide.widest > 80 && wide.widest <= 160, `wider with COLUMNS=160 (${wide.widest})`);
  t.match(help(['ts-unshare', '--help'], 60).out, /^ {2}--map-users <inneruid:outeruid:count>\n {10,}map count users/m, 'a long option has its description below');
});

t.test('ts-cgroup run --help', async (t) => {
  const r = help(['ts-cgroup', 'run', '--help'], 70);
  t.equal(r.status, 0);
  t.match(r.out, /^Usage: ts-cgroup run \[options\] <command\.\.\.>/);
  t.match(r.out, /--memory <size>/);
  t.ok(r.widest <= 70);
});

t.test('ts-vserver NAME COMMAND --help', async (t) => {
  const build = help(['ts-vserver', 'web', 'build', '--help']);
  t.equal(build.status, 0);
  t.match(build.out, /^Usage: ts-vserver <name> build \[--busybox \| --debootstrap <suite>\] \[--force\]/);
  t.match(build.out, /--debootstrap <suite>/);
  t.match(help(['ts-vserver', 'build', '--help']).out, /^Usage: ts-vserver <name> build/, 'without a name too');
  const start = help(['ts-vserver', 'web', 'start', '--help']);
  t.match(start.out, /^Usage: ts-vserver <name> start/);
  t.match(help(['ts-vserver', 'list', '--help']).out, /^Usage: ts-vserver list/);
  // After the command's own operands, --help belongs to the program.
  const exec = spawnSync(`${root}bin/ts-vserver`, ['no-such-vserver', 'exec', 'ls', '--help'], { encoding: 'utf8' });
  t.not(exec.stdout.startsWith('Usage:'), true, 'exec NAME ls --help is not ts-vserver help');
});
