// The parent's part of a child's Landlock ruleset (SpawnSpec.landlock): made here before the
// clone, so that the child inherits it; its rules added here while the child waits at the
// sync step marked for them, its root in place. Each path is resolved in that root
// (openat2 RESOLVE_IN_ROOT on /proc/PID/root: "..", and absolute symlinks, stay inside),
// as the program will see it; a rule holds the inode, so it applies there whatever the
// mounts in between. The child then only calls landlock_restrict_self.
import { closeSync, constants, openSync } from 'node:fs';
import { addPathRule, createRuleset } from '../sys/landlock.js';
import { dupAbove, O_PATH, openat2, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } from '../sys/io.js';
import type { LandlockRules } from './spec.js';

/**
 * An empty ruleset handling `rules.handled`, numbered `lowest` or above (clear of the
 * child's stdio layout, which would overwrite a lower one before its restrict_self).
 */
export function makeRuleset(rules: LandlockRules, lowest: number): number {
  const fd = createRuleset(rules.handled);
  if (fd >= lowest) return fd;
  try {
    return dupAbove(fd, lowest);
  } finally {
    closeSync(fd);
  }
}

/** Add `rules` to `ruleset`, for paths as process `pid` sees them below its root. */
export function addRules(ruleset: number, pid: number, rules: LandlockRules): void {
  const rootPath = `/proc/${pid}/root`;
  const root = openSync(rootPath, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const { path, access } of rules.rules) {
      const fd = openat2(root, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, JSON.stringify(rootPath));
      try {
        addPathRule(ruleset, fd, access, rules.fileAccess, path);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    closeSync(root);
  }
}
