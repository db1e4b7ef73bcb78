// A SandboxSpec file, YAML or JSON: its own module, so that only the bundles that read
// spec files (ts-sandbox's) carry the yaml package (ts-oci's start-up snapshot does not).
import { readFileSync } from 'node:fs';
import { SpecError } from './errors.js';
import { parseSpec, type SandboxSpec } from './spec.js';

/** A spec file: YAML (JSON is YAML too), checked. */
export async function loadSpecFile(file: string): Promise<SandboxSpec> {
  // Loaded on first use: ts-sandbox starts without evaluating it where no file is given.
  const { parse } = await import('yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpecError('', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new SpecError('', `${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseSpec(data);
}
