// The one error class of the cgroup library: a message worded for the user, plus
// (when a file operation failed) the operation, the path and errno's symbol.

export class CgroupError extends Error {
  override name = 'CgroupError';
  /** errno's symbol when a file operation failed, e.g. "EBUSY". */
  readonly code?: string;
  /** The file or directory the failed operation was on. */
  readonly path?: string;

  constructor(message: string, options?: { code?: string; path?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code;
    this.path = options?.path;
  }
}
