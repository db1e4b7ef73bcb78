// Signal names by number, as node:os knows them (exit statuses, monitors' records, hooks).
import { constants } from 'node:os';

const names = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** The name of signal `n` (SIGKILL for 9), or undefined for a number no signal has. */
export function signalName(n: number): NodeJS.Signals | undefined {
  return names.get(n);
}
