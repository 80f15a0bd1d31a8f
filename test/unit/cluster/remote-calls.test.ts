// A deployment on a remote must never reach the client's default Incus: on the test cluster that
// is the host's own daemon. Every incus call of a fresh cluster `up` names the remote in a positional.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveDesiredState } from '../../../src/derive/index.js';
import { incusCallsFor } from '../../../src/plan/calls.js';
import { planUp } from '../../../src/plan/index.js';
import { parseTopology } from '../../../src/topology/load.js';

const root = join(import.meta.dirname, '../../..');

function clusterPlan() {
  const report = parseTopology(readFileSync(join(root, 'topology.cluster.yaml'), 'utf8'), 'topology.cluster.yaml');
  if (report.topology === null) throw new Error(report.errors.map((error) => error.message).join('\n'));
  const desired = deriveDesiredState(report.topology);
  const members = ['m1', 'm2', 'm3'].map((name) => ({
    server_name: name,
    url: `https://${name}:8443`,
    status: 'Online',
    message: 'Fully operational',
    roles: [],
  }));
  const observed = { project: null, networks: [], instances: [], cluster: { members } };
  return { desired, plan: planUp(desired, observed) };
}

describe('a cluster deployment addresses its remote in every incus call', () => {
  it('every call of a fresh up, the static address writes included, names distcl:', () => {
    const { desired, plan } = clusterPlan();
    expect(plan.conflicts).toEqual([]);
    const calls = plan.actions.flatMap((action) =>
      incusCallsFor(action, { project: desired.project, remote: 'distcl' }).map((call) => ({ action, call })),
    );
    expect(calls.some(({ action }) => action.kind === 'write-address')).toBe(true);
    const local = calls
      .filter(({ call }) => !call.args.some((arg) => arg.startsWith('distcl:')))
      .map(({ action, call }) => `${action.kind}: incus ${call.args.join(' ')}`);
    expect(local).toEqual([]);
  });

  it('the static address file goes to the container on the remote', () => {
    const { desired, plan } = clusterPlan();
    const write = plan.actions.find((action) => action.kind === 'write-address');
    if (write === undefined) throw new Error('no write-address action');
    const [push, resolver, record] = incusCallsFor(write, { project: desired.project, remote: 'distcl' });
    expect(push?.args.at(-1)).toBe('distcl:auth-server/etc/network/interfaces');
    expect(resolver?.args.at(-1)).toBe('distcl:auth-server/etc/resolv.conf');
    expect(record?.args.slice(0, 4)).toEqual(['config', 'set', '--', 'distcl:auth-server']);
  });
});
