// Wall time of `ts-unshare --pid --fork --mount-proc true` against `node -e 0` and util-linux
// unshare with the same flags, measured in one run, alternating to share the machine's state.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tsUnshare = fileURLToPath(new URL('../bin/ts-unshare', import.meta.url));
const N = Number(process.env.N ?? 40);
const cases = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'ts-unshare --pid --fork --mount-proc true': [tsUnshare, ['--pid', '--fork', '--mount-proc', 'true']],
  'unshare --pid --fork --mount-proc true': ['unshare', ['--pid', '--fork', '--mount-proc', 'true']],
};
// Without NODE_EXTRA_CA_CERTS: node -e 0 would read that bundle (50 ms for the system's)
// and our planner does not (the stage keeps it from the planner), which flatters us.
const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
const totals = Object.fromEntries(Object.keys(cases).map((k) => [k, 0n]));
for (let i = 0; i < N; i++) {
  for (const [name, [file, args]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(file, args, { stdio: 'ignore', env });
    totals[name] += process.hrtime.bigint() - t0;
    if (r.status !== 0) throw new Error(`${name} failed`);
  }
}
const ms = (name) => Number(totals[name]) / 1e6 / N;
for (const name of Object.keys(cases)) console.log(`${name.padEnd(45)} ${ms(name).toFixed(2)} ms`);
const ours = ms('ts-unshare --pid --fork --mount-proc true');
console.log(`ratio to node -e 0: ${(ours / ms('node -e 0')).toFixed(2)} (goal <= 1.15)`);
console.log(`ratio to util-linux unshare: ${(ours / ms('unshare --pid --fork --mount-proc true')).toFixed(1)}`);
