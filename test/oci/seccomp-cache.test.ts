// ts-oci's cache of compiled seccomp filters: what it gives back, and that it stays bounded.
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = mkdtempSync(join(tmpdir(), 'tsns-seccomp-cache-'));
process.env.TSNS_RUN_DIR = run;
t.teardown(() => rmSync(run, { recursive: true, force: true }));
const { cachedFilter, filterKey, keepFilter, KEPT_FILTERS } = await import('../../src/oci/seccomp-cache.js');

const step = (k: number) => ({ op: 'seccomp' as const, flags: 0, filter: Buffer.alloc(8, k) });

t.test('a kept filter comes back as it was; another profile has another key', async (t) => {
  const key = filterKey({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
  t.not(key, filterKey({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['write'], action: 'SCMP_ACT_ALLOW' }] }));
  t.equal(cachedFilter(key), undefined, 'nothing before');
  keepFilter(key, step(7));
  t.same(cachedFilter(key), step(7));
});

t.test(`at most ${KEPT_FILTERS} filters are kept, the oldest go`, async (t) => {
  const dir = join(run, 'oci-seccomp');
  const keys = Array.from({ length: KEPT_FILTERS + 6 }, (_, k) => filterKey({ profile: k }));
  keys.forEach((key, k) => {
    keepFilter(key, step(k));
    // Ages a second apart, whatever the file system's timestamp resolution.
    utimesSync(join(dir, key), 1000 + k, 1000 + k);
  });
  const left = readdirSync(dir);
  t.equal(left.length, KEPT_FILTERS, 'bounded');
  t.equal(cachedFilter(keys.at(-1)!)?.filter[0], KEPT_FILTERS + 5, 'the newest is kept');
  t.equal(cachedFilter(keys[0]), undefined, 'the oldest went');
});
