// Bash completion, generated from the tools' option tables: sourced in bash, driven through
// COMP_WORDS/COMP_CWORD as bash's programmable completion calls it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = `${root}completions/tsns.bash`;
const tools = Object.keys((JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { bin: Record<string, string> }).bin);

/** COMPREPLY for the command line `words`, the last being the word under the cursor. */
function complete(words: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const quoted = words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('bash', ['--norc', '-c', `source '${script}' && COMP_WORDS=(${quoted}) && COMP_CWORD=${words.length - 1} && COMP_LINE="\${COMP_WORDS[*]}" && _tsns_complete && printf '%s\\n' "\${COMPREPLY[@]}"`], {
    encoding: 'utf8', env: { PATH: process.env.PATH, ...env },
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

t.test('complete -p names every tool', async (t) => {
  for (const tool of tools) {
    const r = spawnSync('bash', ['--norc', '-c', `source '${script}' && complete -p ${tool}`], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout.trim(), `complete -F _tsns_complete ${tool}`);
  }
});

t.test('ts-unshare --mo<TAB>', async (t) => {
  t.same(complete(['ts-unshare', '--mo']), ['--monotonic', '--mount', '--mount-binfmt', '--mount-proc']);
  t.same(complete(['ts-unshare', '--map-r']), ['--map-root-user']);
  t.ok(complete(['ts-unshare', '-']).includes('-U'), 'short options too');
});

t.test('the program operand completes as a command, its arguments as files', async (t) => {
  t.ok(complete(['ts-unshare', '-f', 'bas']).includes('bash'));
  t.same(complete(['ts-unshare', '-R', '/et']), ['/etc'], 'an option value is a file');
  t.same(complete(['ts-unshare', 'ls', '--mo']), [], "after the program, its own arguments (not ts-unshare's options)");
});

t.test('subcommands and their options', async (t) => {
  t.ok(complete(['ts-cgroup', '']).includes('run'));
  t.same(complete(['ts-cgroup', 'run', '--mem']), ['--memory', '--memory-swap']);
  t.same(complete(['ts-cgroup', 'rm', '--f']), ['--force']);
  t.same(complete(['ts-vserver', 'web', 'build', '--deb']), ['--debootstrap']);
  t.same(complete(['ts-vserver', 'web', 'st']), ['start', 'status', 'stop']);
  t.same(complete(['ts-vserver', 'li'], { TSNS_VSERVER_CONFDIR: '/nonexistent' }), ['list']);
  t.same(complete(['ts-sandbox', '--ro-b']), ['--ro-bind', '--ro-bind-data', '--ro-bind-fd', '--ro-bind-try']);
});
