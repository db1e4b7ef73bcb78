// The spec's seccomp section compiled to BPF with libseccomp, in the parent: the plan's
// last step installs it (after no_new_privs), or, without no_new_privs, a step before the
// ids and capabilities change (it needs CAP_SYS_ADMIN then: policy.ts).
// Precedence is the order rules are added in: the spec's own deny list, then its OCI
// rules, then the allow list, then the default profile; the first rule without conditions
// for a call decides it (libseccomp would drop a conditional rule behind it anyway).
import type { Step } from '../native/plan.js';
import { archToken, SCMP_ACT, SeccompFilter, syscallNumber, type ArgCmp } from '../sys/seccomp.js';
import { CREDENTIAL_SYSCALLS, DEFAULT_ARCHES, DEFAULT_PROFILE, EPERM, STARTUP_SYSCALLS } from './profile.js';
import { SpecError } from './errors.js';
import type { SandboxSpec } from './spec.js';

export type SeccompSpec = NonNullable<NonNullable<SandboxSpec['security']>['seccomp']>;
type Action = NonNullable<SeccompSpec['defaultAction']>;

/** seccomp(2)'s filter flags by the names OCI gives them. NEW_LISTENER is not here: nothing would listen. */
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

const MAX_INSNS = 4096; // BPF_MAXINSNS: the kernel refuses longer filters

function actionValue(action: Action, errno: number | undefined, log: boolean): number {
  // log mode: whatever would be stopped runs, and the kernel logs it.
  if (log && action !== 'allow') return SCMP_ACT.log;
  switch (action) {
    case 'allow': return SCMP_ACT.allow;
    case 'errno': return SCMP_ACT.errno(errno ?? EPERM);
    case 'kill': return SCMP_ACT.killThread;
    case 'kill-process': return SCMP_ACT.killProcess;
    case 'trap': return SCMP_ACT.trap;
    case 'log': return SCMP_ACT.log;
    case 'trace': return SCMP_ACT.trace(errno ?? 0);
  }
}

const u64 = (v: number | string) => BigInt(v);

/**
 * OCI's argument conditions: all must hold, except that conditions on the same argument
 * are alternatives (runc adds one rule per condition then; libseccomp refuses two
 * conditions on one argument in one rule).
 */
function conditionSets(args: NonNullable<NonNullable<SeccompSpec['rules']>[number]['args']>): ArgCmp[][] {
  const conds = args.map((a): ArgCmp => ({ index: a.index, op: a.op, a: u64(a.value), b: u64(a.valueTwo ?? 0) }));
  const repeated = new Set(conds.map((c) => c.index)).size < conds.length;
  return repeated ? conds.map((c) => [c]) : [conds];
}

/**
 * The seccomp step for this section, or undefined when it asks for no filter. `field` is
 * the section's path in the spec, for SpecErrors. `beforeCredentials`: the filter is
 * installed before the ids and capabilities change, whose calls an allow list then admits.
 */
export function seccompStep(s: SeccompSpec, field = 'security.seccomp', beforeCredentials = false): Step | undefined {
  const profile = s.profile === 'default';
  if (!profile && !s.deny?.length && !s.allow?.length && !s.rules?.length && s.defaultAction === undefined) return undefined;
  const log = s.log ?? false;
  const ignoreUnknown = s.unknownSyscalls === 'ignore';
  const nr = (name: string, where: string): number | undefined => {
    const n = syscallNumber(name);
    if (n === undefined && !ignoreUnknown) throw new SpecError(where, `unknown system call '${name}'`);
    return n;
  };
  for (const name of s.deny ?? []) {
    if (s.allow?.includes(name)) throw new SpecError(`${field}.deny`, `'${name}' is in allow too`);
  }
  let flags = 0;
  for (const name of s.flags ?? []) {
    if (FLAGS[name] === undefined) throw new SpecError(`${field}.flags`, `unknown flag '${name}' (${Object.keys(FLAGS).join(', ')})`);
    flags |= FLAGS[name];
  }
  const defaultAction = actionValue(s.defaultAction ?? (s.allow ? 'errno' : 'allow'), s.defaultErrno, log);

  const filter = new SeccompFilter(defaultAction);
  try {
    const arches = s.architectures ?? (profile ? DEFAULT_ARCHES[process.arch] ?? [] : []);
    for (const arch of arches) {
      // OCI spells them SCMP_ARCH_X86_64; libseccomp's names are x86_64.
      const token = archToken(arch.replace(/^SCMP_ARCH_/, '').toLowerCase());
      if (token === undefined) throw new SpecError(`${field}.architectures`, `unknown architecture '${arch}'`);
      filter.addArch(token);
    }
    const decided = new Set<number>();
    const add = (action: number, n: number | undefined, args: ArgCmp[] = []) => {
      // A rule that does what the default does is no rule (libseccomp refuses it: EACCES).
      if (n === undefined || decided.has(n) || action === defaultAction) return;
      filter.addRule(action, n, args);
      if (!args.length) decided.add(n);
    };
    const denyAction = actionValue(s.action ?? 'errno', s.errno, log);
    s.deny?.forEach((name, k) => add(denyAction, nr(name, `${field}.deny[${k}]`)));
    s.rules?.forEach((rule, k) => {
      const action = actionValue(rule.action, rule.errno, log);
      rule.names.forEach((name, j) => {
        const n = nr(name, `${field}.rules[${k}].names[${j}]`);
        for (const args of conditionSets(rule.args ?? [])) add(action, n, args);
      });
    });
    const profileRules = profile ? DEFAULT_PROFILE : [];
    if (s.allow) {
      s.allow.forEach((name, k) => {
        const n = nr(name, `${field}.allow[${k}]`);
        // An allowed call the profile checks an argument of stays checked: allowed only
        // where the profile's condition does not hold (its masks are single bits).
        const masked = profileRules.find((r) => r.masked && r.names.includes(name))?.masked;
        add(SCMP_ACT.allow, n, masked ? [{ index: masked.index, op: 'MASKED_EQ', a: BigInt(masked.mask), b: 0n }] : []);
      });
      const startup = beforeCredentials ? [...STARTUP_SYSCALLS, ...CREDENTIAL_SYSCALLS] : STARTUP_SYSCALLS;
      for (const name of startup) if (!s.deny?.includes(name)) add(SCMP_ACT.allow, syscallNumber(name));
    }
    for (const rule of profileRules) {
      const action = actionValue('errno', rule.errno, log);
      const args: ArgCmp[] = rule.masked ? [{ index: rule.masked.index, op: 'MASKED_EQ', a: BigInt(rule.masked.mask), b: BigInt(rule.masked.value) }] : [];
      for (const name of rule.names) add(action, syscallNumber(name), args);
    }
    const bpf = filter.export();
    if (bpf.length / 8 > MAX_INSNS) throw new SpecError(field, `the filter has ${bpf.length / 8} instructions, more than the kernel's ${MAX_INSNS}`);
    return { op: 'seccomp', flags, filter: bpf };
  } finally {
    filter.release();
  }
}

/** The default profile alone (ts-vserver, ts-chcontext --secure). */
export function defaultProfileStep(): Step {
  return seccompStep({ profile: 'default' })!;
}
