// Signals by number and by name, as node:os knows them (exit statuses, monitors' records,
// hooks; kill's and spawn's arguments).
import { constants } from 'node:os';

const names = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** The name of signal `n` (SIGKILL for 9), or undefined for a number no signal has. */
export function signalName(n: number): NodeJS.Signals | undefined {
  return names.get(n);
}

/** The number of signal `name`: "SIGTERM" or "TERM", in any case; undefined for no signal. */
export function signalByName(name: string): number | undefined {
  const upper = name.toUpperCase();
  return (constants.signals as Record<string, number>)[upper.startsWith('SIG') ? upper : `SIG${upper}`];
}
