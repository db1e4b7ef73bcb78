// Writes schema/sandbox.schema.json from the SandboxSpec schema (src/sandbox/spec.ts), for editors.
import { writeFileSync } from 'node:fs';
import { toJSONSchema } from 'zod/mini';
import { sandboxSpec } from '../dist/sandbox/spec.js';

const schema = { ...toJSONSchema(sandboxSpec, { io: 'input' }), $id: 'https://github.com/tsns/tsns/schema/sandbox.schema.json', title: 'tsns SandboxSpec' };
writeFileSync(new URL('../schema/sandbox.schema.json', import.meta.url), JSON.stringify(schema, null, 2) + '\n');
