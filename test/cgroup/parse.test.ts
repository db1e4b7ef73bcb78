// Human forms of limits and their error messages.
import t from 'tap';
import { CgroupError, formatSize, parseCount, parseCpu, parseIo, parseLimits, parseSize, parseWeight } from '../../src/cgroup/index.js';

t.test('parseSize', async (t) => {
  t.equal(parseSize('67108864'), 67108864);
  t.equal(parseSize('64M'), 64 * 2 ** 20);
  t.equal(parseSize('64MiB'), 64 * 2 ** 20);
  t.equal(parseSize('64mb'), 64 * 2 ** 20);
  t.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
  t.equal(parseSize('512k'), 512 * 1024);
  t.equal(parseSize('0'), 0);
  t.equal(parseSize('max'), 'max');
  t.equal(parseSize(4096), 4096);
  for (const bad of ['', '64Q', '-5M', 'abc', '1e3', '64 M B', '99999999P'])
    t.throws(() => parseSize(bad, 'memory limit'), CgroupError, `rejects ${JSON.stringify(bad)}`);
  t.throws(() => parseSize('64Q', 'memory limit'), { message: /^invalid memory limit '64Q': expected bytes/ });
});

t.test('parseCpu', async (t) => {
  t.equal(parseCpu('0.5'), 0.5);
  t.equal(parseCpu('2'), 2);
  t.equal(parseCpu('.25'), 0.25);
  t.equal(parseCpu('150%'), 1.5);
  t.equal(parseCpu('max'), 'max');
  t.equal(parseCpu(0.2), 0.2);
  for (const bad of ['0', '0.001', 'half', '-1', '1..2', ''])
    t.throws(() => parseCpu(bad), CgroupError, `rejects ${JSON.stringify(bad)}`);
  t.throws(() => parseCpu('half', 'cpu limit'), { message: /^invalid cpu limit 'half'/ });
});

t.test('counts, weights, io', async (t) => {
  t.equal(parseCount('16'), 16);
  t.equal(parseCount('max'), 'max');
  t.throws(() => parseCount('1.5'), CgroupError);
  t.throws(() => parseCount('-1'), CgroupError);
  t.equal(parseWeight('100'), 100);
  t.throws(() => parseWeight('0'), { message: /1 to 10000/ });
  t.throws(() => parseWeight(10001), CgroupError);
  t.same(parseIo('8:0 rbps=1M wiops=100'), { device: '8:0', rbps: 2 ** 20, wiops: 100 });
  t.same(parseIo('8:0 wbps=max'), { device: '8:0', wbps: 'max' });
  t.throws(() => parseIo('8:0'), CgroupError);
  t.throws(() => parseIo('8:0 speed=3'), { message: /unknown setting 'speed=3'/ });
});

t.test('parseLimits validates everything up front', async (t) => {
  t.same(parseLimits({ memory: '64M', pids: '16', cpu: '0.5', cpuWeight: '200', memorySwap: '0' }),
    { memory: 64 * 2 ** 20, pids: 16, cpu: 0.5, cpuWeight: 200, memorySwap: 0 });
  t.same(parseLimits({ memory: undefined }), {});
  t.same(parseLimits({ io: ['254:0 rbps=1K'] }), { io: [{ device: '254:0', rbps: 1024 }] });
  t.throws(() => parseLimits({ io: '/nonexistent/dev wbps=1' }), { message: /invalid io device/ });
  t.throws(() => parseLimits({ io: '/etc/passwd wbps=1' }), { message: /invalid io device/ });
  t.throws(() => parseLimits({ bogus: 1 } as never), { message: /unknown limit 'bogus'/ });
});

t.test('formatSize', async (t) => {
  t.equal(formatSize(64 * 2 ** 20), '64M');
  t.equal(formatSize(1.5 * 2 ** 30), '1.5G');
  t.equal(formatSize(100), '100');
  t.equal(formatSize('max'), 'max');
  t.equal(formatSize(undefined), '-');
});
