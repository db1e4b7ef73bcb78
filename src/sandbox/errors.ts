// The Sandbox's one error for a spec that does not fit, apart from the schema: the code
// that compiles a spec (and the tools that share it, ts-chcontext's seccomp among them)
// must not load zod to say what is wrong.

/** A spec that does not fit: one line naming the field path and the value. */
export class SpecError extends TypeError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'SpecError';
    this.path = path;
  }
}
