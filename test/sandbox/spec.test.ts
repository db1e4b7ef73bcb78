// SandboxSpec: one message per bad spec, naming the field path and the value; the JSON
// Schema file for editors is the one the schema makes.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toJSONSchema } from 'zod/mini';
import { parseSpec, sandboxSpec, SpecError } from '../../src/sandbox/spec.js';
import { loadSpecFile } from '../../src/sandbox/spec-file.js';

t.test('bad specs: one line naming the field and the value', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ namespaces: { network: 'new' } }, /^namespaces: unknown field 'network'$/],
    [{ process: { uid: 4294967295 } }, /^process\.uid: .*4294967294.*\(got 4294967295\)$/],
    [{ process: { uid: -1 } }, /^process\.uid: .*\(got -1\)$/],
    [{ process: { gid: 1.5 } }, /^process\.gid: .*\(got 1\.5\)$/],
    [{ filesystem: { mounts: [{ type: 'bind', source: '/usr', dest: 'usr' }] } }, /^filesystem\.mounts\[0\]\.dest: an absolute path.*\(got "usr"\)$/],
    [{ filesystem: { mounts: [{ type: 'bindd', dest: '/x' }] } }, /^filesystem\.mounts\[0\]\.type: /],
    [{ limits: { memory: '12Q' } }, /^limits\.memory: a size such as 512M.*\(got "12Q"\)$/],
    [{ limits: { pids: 0 } }, /^limits\.pids: .*\(got 0\)$/],
    [{ hostname: '' }, /^hostname: .*\(got ""\)$/],
    [{ hostname: 'a b' }, /^hostname: no "\/" or white space \(got "a b"\)$/],
    [{ bogus: 1 }, /^unknown field 'bogus'$/],
    [{ process: { args: ['a\0b'] } }, /^process\.args\[0\]: no NUL bytes/],
    [{ security: { seccomp: { rules: [{ names: ['read'], action: 'explode' }] } } }, /^security\.seccomp\.rules\[0\]\.action: /],
    ['not an object', /expected object/],
  ];
  for (const [spec, message] of cases) {
    const err = t.throws(() => parseSpec(spec)) as unknown as Error;
    t.ok(err instanceof SpecError && err instanceof TypeError, `${JSON.stringify(spec)}: a SpecError, a TypeError`);
    t.match(err.message, message);
    t.notOk(err.message.includes('\n'), 'one line');
  }
});

t.test('zod\'s own words are English (zod/mini sets no locale by itself: src/sandbox/zod-english.ts does)', async (t) => {
  const cases: [unknown, string][] = [
    [{ limits: { pids: 0 } }, 'limits.pids: Too small: expected number to be >=1 (got 0)'],
    [{ hostname: 'a'.repeat(65) }, `hostname: Too big: expected string to have <=64 characters (got "${'a'.repeat(56)}...)`],
    [{ process: { cwd: 3 } }, 'process.cwd: Invalid input: expected string, received number (got 3)'],
    [{ filesystem: { propagation: 'none' } }, 'filesystem.propagation: Invalid option: expected one of "private"|"slave"|"shared"|"unbindable" (got "none")'],
    [{ filesystem: { mounts: [{ type: 'bindd', dest: '/x' }] } }, 'filesystem.mounts[0].type: Invalid discriminator value. Expected \'bind\' | \'remount-ro\' | \'tmpfs\' | \'proc\' | \'dev\' | \'mqueue\' | \'dir\' | \'symlink\' | \'chmod\' | \'file\' | \'overlay\' | \'mount\' (got "bindd")'],
  ];
  for (const [spec, message] of cases) t.equal(t.throws(() => parseSpec(spec)).message, message);
});

t.test('good specs pass through unchanged', async (t) => {
  const spec = {
    namespaces: { user: 'new', net: { path: '/run/netns/x' }, pid: 'new' },
    uidMap: 'root',
    filesystem: { root: 'tmpfs', mounts: [{ type: 'bind', source: '/usr', dest: '/usr', readOnly: true }, { type: 'tmpfs', dest: '/tmp', size: '64M' }] },
    limits: { memory: '512M', pids: 100, timeoutMs: 60_000, rlimits: { nofile: { soft: 1024, hard: 'unlimited' } } },
    security: { seccomp: { profile: 'default', deny: ['ptrace'] }, landlock: { ro: ['/usr'], rw: ['/tmp'] } },
    process: { args: ['true'], cwd: '/', uid: 0 },
  };
  t.same(parseSpec(spec), spec);
});

t.test('spec files: YAML and JSON; a bad file is one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsns-spec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.yaml'), 'hostname: box\nlimits:\n  memory: 64M\n');
  t.same(await loadSpecFile(join(dir, 'a.yaml')), { hostname: 'box', limits: { memory: '64M' } });
  writeFileSync(join(dir, 'b.json'), '{"hostname": "box", "limits": {"pids": 5}}');
  t.same(await loadSpecFile(join(dir, 'b.json')), { hostname: 'box', limits: { pids: 5 } });
  writeFileSync(join(dir, 'c.yaml'), 'hostname: [\n');
  await t.rejects(loadSpecFile(join(dir, 'c.yaml')), SpecError);
  writeFileSync(join(dir, 'd.yaml'), 'hostname: a\nhostname: b\n');
  await t.rejects(loadSpecFile(join(dir, 'd.yaml')), /Map keys must be unique/);
  writeFileSync(join(dir, 'e.yaml'), 'limits:\n  pids: -3\n');
  await t.rejects(loadSpecFile(join(dir, 'e.yaml')), /^limits\.pids: .*\(got -3\)$/);
  await t.rejects(loadSpecFile(join(dir, 'missing.yaml')), /cannot read .*missing\.yaml: ENOENT/);
});

t.test('schema/sandbox.schema.json is the schema\'s (npm run build writes it)', async (t) => {
  const file = JSON.parse(readFileSync(new URL('../../schema/sandbox.schema.json', import.meta.url), 'utf8'));
  const { $id: _id, title: _title, ...rest } = file;
  t.same(rest, toJSONSchema(sandboxSpec, { io: 'input' }));
});
