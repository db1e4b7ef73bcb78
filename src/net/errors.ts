// The one error class of the network library: a failure already worded for the user.

/**
 * A bad network spec or a failed configuration step. `step` names what was being done
 * (e.g. the `ip` command line), `detail` is what the tool or kernel said; the message is
 * one line, so the CLI prints it as is.
 */
export class NetError extends Error {
  readonly step?: string;
  readonly detail?: string;
  constructor(message: string, options?: { step?: string; detail?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = 'NetError';
    this.step = options?.step;
    this.detail = options?.detail;
  }
}
