// ts-oci update --resources FILE: new cgroup limits for a container that runs, from a
// runtime-spec linux.resources document, checked and mapped as create maps config.json's.
import type { Hierarchy, Layout } from '../cgroup/index.js';
import { ConfigError, readJson, resources, shown } from './config.js';
import { limitsOf } from './mapping.js';
import { readState, StateError, statusOf, type StateRecord } from './state.js';

/**
 * The layout the group was made in, from its recorded directories: whoever calls update
 * (another process, in another cgroup) finds the same group.
 */
function layoutOf(record: StateRecord, layout: Layout): Layout {
  const suffix = `/${record.cgroupName}`;
  const at = (h: Hierarchy): Hierarchy => {
    const dir = record.cgroupDirs?.find((d) => d.startsWith(`${h.mount}/`) && d.endsWith(suffix));
    return dir ? { ...h, base: dir.slice(0, -suffix.length) } : h;
  };
  return { ...layout, unified: layout.unified && at(layout.unified), v1: layout.v1.map(at) };
}

export async function update(root: string, id: string, file: string): Promise<void> {
  const record = readState(root, id);
  const status = statusOf(root, record);
  if (status === 'stopped' || status === 'creating') throw new StateError(`cannot update a container in the ${status} state`);
  if (!record.cgroupName || !record.cgroupDirs?.length) throw new StateError(`container ${id} has no cgroup`);
  const data = readJson(file, '--resources');
  const r = resources.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ConfigError(`resources.${issue.path.join('.')}`, `${issue.message} (got ${shown(data)})`, `--resources ${file}`);
  }
  let limits;
  try {
    limits = limitsOf(r.data, 'resources');
  } catch (err) {
    // The words are create's, about config.json; here the document is --resources'.
    if (err instanceof ConfigError) throw new ConfigError(err.property, err.message.replace(/^config\.json: [^:]*: /, ''), `--resources ${file}`);
    throw err;
  }
  const { detectLayout, openCgroup } = await import('../cgroup/index.js');
  const { applyLimits } = await import('../sandbox/limits.js');
  applyLimits(openCgroup(record.cgroupName, { layout: layoutOf(record, detectLayout()) }), limits);
}
