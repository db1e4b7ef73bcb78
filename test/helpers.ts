// Shared by the tests: run a command and capture everything, never throwing.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Run { stdout: string; stderr: string; exitCode: number | undefined; signal?: string }

export async function run(file: string, args: string[], options: { input?: string; env?: Record<string, string>; timeout?: number } = {}): Promise<Run> {
  const r = await execa(file, args, { reject: false, timeout: options.timeout ?? 30_000, input: options.input, env: options.env, cwd: ROOT });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode, signal: r.signal };
}

/** Run one of our tools (built into dist/ by npm install). */
export function tool(name: string, args: string[], options?: Parameters<typeof run>[2]): Promise<Run> {
  return run(process.execPath, [`${ROOT}bin/${name}.js`, ...args], options);
}
