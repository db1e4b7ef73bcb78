// Attacks on vservers from inside and by a hostile or unlucky admin: a root filesystem
// changed from inside that makes `build --force` write on the host, a joiner stopped and
// traced between its fork into the vserver and its exec (while it still holds every
// capability and the admin's environment), and kills and races around start/stop.
import t from 'tap';
import { execa } from 'execa';
import { scratch } from './fixture.js';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const { base, env, tag, tool, vserver, config: writeConfig } = scratch('tsns-attack-', 'a', { worldReadable: true });

function config(name: string, extra = ''): string {
  return writeConfig(name, `S_HOSTNAME=${name}\n${extra}`);
}

t.test('build --force over a root changed from inside writes nothing outside ROOTDIR', async (t) => {
  const name = `${tag}b`;
  const root = config(name);
  t.equal((await vserver([name, 'build', '--busybox'])).exitCode, 0);
  // What root inside could do: its /etc and /tmp become symlinks to host directories
  // (absolute targets, which the host resolves against its own /).
  const victim = join(base, 'victim');
  mkdirSync(victim);
  writeFileSync(join(victim, 'passwd'), 'host\n');
  chmodSync(victim, 0o755);
  t.equal((await vserver([name, 'start'])).exitCode, 0);
  const r = await vserver([name, 'exec', 'sh', '-c', `rm -rf /etc /tmp && ln -s ${victim} /etc && ln -s ${victim} /tmp`]);
  t.equal(r.exitCode, 0, r.stderr as string);
  t.equal((await vserver([name, 'stop'])).exitCode, 0);
  const b = await vserver([name, 'build', '--busybox', '--force']);
  t.equal(readFileSync(join(victim, 'passwd'), 'utf8'), 'host\n', 'the host file is not overwritten');
  t.notOk(existsSync(join(victim, 'hosts')), 'no file created on the host');
  t.equal(statSync(victim).mode & 0o7777, 0o755, 'the host directory keeps its mode (no chmod 1777 through ROOT/tmp)');
  t.equal(b.exitCode, 1, 'the build fails');
  t.match(b.stderr, /symbolic link/, 'and says why');
  t.notMatch(b.stderr, /\n\s+at /, 'no stack trace');
});

// Inside a vserver: stop the next process of the pid namespace as soon as it exists (a
// joiner between its fork and its exec), then report its capabilities, whether
// PTRACE_SEIZE works on it and whether its environment (the admin's) can be read.
const STOPPER = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <time.h>
#include <unistd.h>
static int last(void) {
  char b[32] = { 0 };
  int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY);
  if (fd < 0 || read(fd, b, 31) < 0) return 0;
  close(fd);
  return atoi(b);
}
int main(int argc, char **argv) {
  time_t end = time(NULL) + atoi(argv[2]);
  while (time(NULL) < end) {
    int p = last() + 1;
    for (int i = 0; i < 200000; i++) {
      if (kill(p, SIGSTOP) == 0) {
        char path[64], buf[16384];
        int fd, n;
        FILE *out = fopen(argv[1], "w");
        snprintf(path, sizeof(path), "/proc/%d/status", p);
        fd = open(path, O_RDONLY);
        n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);
        buf[n < 0 ? 0 : n] = 0;
        if (fd >= 0) close(fd);
        char *c = strstr(buf, "CapEff:");
        if (c && strchr(c, '\\n')) *strchr(c, '\\n') = 0;
        fprintf(out, "caught=%d\\ncapeff=%s\\n", p, c ? c + 8 : "?");
        long a = ptrace(PTRACE_SEIZE, p, 0, 0);
        fprintf(out, "seize=%s\\n", a == 0 ? "ok" : "refused");
        snprintf(path, sizeof(path), "/proc/%d/environ", p);
        fd = open(path, O_RDONLY);
        n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (fd >= 0) close(fd);
        for (int k = 0; k < n; k++) if (!buf[k]) buf[k] = ' ';
        if (n >= 0) buf[n] = 0;
        fprintf(out, "environ=%s\\n", n > 0 ? buf : "refused");
        if (a == 0) ptrace(PTRACE_DETACH, p, 0, 0);
        kill(p, SIGCONT);
        fclose(out);
        return 0;
      }
    }
  }
  return 1;
}
`;

t.test('a joiner cannot be stopped and traced from inside before its exec', async (t) => {
  const name = `${tag}p`;
  const root = config(name);
  t.equal((await vserver([name, 'build', '--busybox'])).exitCode, 0);
  const source = join(base, 'stopper.c');
  writeFileSync(source, STOPPER);
  await execa('gcc', ['-static', '-O1', '-o', join(root, 'bin/stopper'), source]);
  // An init that forks nothing: the next pid of the namespace is the joiner's.
  t.equal((await vserver([name, 'start', '--', '/bin/sleep', '100000'])).exitCode, 0);
  const spy = await vserver([name, 'exec', 'sh', '-c', 'stopper /tmp/caught 30 </dev/null >/dev/null 2>&1 &']);
  t.equal(spy.exitCode, 0, spy.stderr as string);
  const caught = join(root, 'tmp/caught');
  for (let i = 0; i < 20 && !existsSync(caught); i++) {
    // The joiner may be left stopped by the spy; its waiter then stops too: bounded.
    await vserver([name, 'exec', '/bin/true'], { env: { ...env, TSNS_ATTACK_SECRET: 'hunter2' }, timeout: 10_000 });
  }
  if (!existsSync(caught)) {
    t.comment('the spy caught no joiner on this machine: nothing to check');
    return;
  }
  const out = readFileSync(caught, 'utf8');
  t.comment(out.replace(/environ=.*/, 'environ=...'));
  t.match(out, /^seize=refused$/m, 'PTRACE_SEIZE of the joiner is refused');
  t.match(out, /^environ=refused$/m, 'its environment cannot be read');
  t.notMatch(out, /hunter2/, 'the admin\'s environment does not leak');
});

// ts-chcontext takes no root (docs/ts-chcontext.md): its mount namespace is a copy of the
// host's, cgroupfs included. Were it writable, root inside would write its own pid into the
// root group's cgroup.procs, out of the context's group: out of its device allow-list and
// its --nproc limit. The cgroup mounts are read-only for the context alone (a mount
// namespace below the waiter's, whose parent steps write there).
t.test('a --secure context cannot leave its cgroup through the host\'s cgroupfs', async (t) => {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '));
  const pids = mounts.find((f) => f[f.indexOf('-') + 1] === 'cgroup' && f[f.length - 1]?.split(',').includes('pids'))?.[4]
    ?? mounts.find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  if (!pids) return t.skip('no pids controller');
  const r = await tool('ts-chcontext', ['--secure', '--nproc', '50', '--', 'sh', '-c', `echo $$ > ${pids}/cgroup.procs; cat /proc/self/cgroup`]);
  const line = (r.stdout as string).split('\n').find((l) => /(:pids:|^0::)/.test(l)) ?? '';
  t.match(line, /tsns-ctx-/, `still in the context's group: ${line}`);
});

t.test('bad input: a signal number kill(2) does not take, `exec --` without a command', async (t) => {
  const name = `${tag}i`;
  config(name);
  t.equal((await vserver([name, 'build', '--busybox'])).exitCode, 0);
  t.equal((await vserver([name, 'start'])).exitCode, 0);
  const k = await vserver([name, 'kill', '1', '99999']);
  t.equal(k.exitCode, 1, 'kill with signal 99999 fails');
  t.match(k.stderr, /^ts-vserver: unknown signal: 99999$/m, 'in one line');
  t.notMatch(k.stderr, /node:internal|\n\s+at /, 'no stack trace');
  const e = await vserver([name, 'exec', '--'], { input: 'echo entered\n' });
  t.equal(e.exitCode, 1, '`exec --` is refused');
  t.match(e.stderr, /exec needs a command/);
  t.notMatch(e.stdout, /entered/, 'no shell ran');
  t.equal((await vserver([name, 'stop'])).exitCode, 0);
});
