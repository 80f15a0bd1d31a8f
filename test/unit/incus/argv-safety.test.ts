import { describe, expect, it } from 'vitest';
import { incusCallsFor } from '../../../src/plan/calls.js';
import { planDown, planUp } from '../../../src/plan/index.js';
import { parseUsedBy } from '../../../src/incus/used-by.js';
import { convergedState, emptyIncus, ownedNetwork, referenceDesired } from '../plan/fixtures.js';

const desired = referenceDesired();

describe('incus argv', () => {
  it('ends the options with -- before every name or value that comes from the topology', () => {
    const up = planUp(desired, emptyIncus);
    const down = planDown(desired, convergedState(desired));
    const calls = [...up.actions, ...down.actions].flatMap((action) => incusCallsFor(action, desired.project));
    // One call per action, except the static address: two files, then raw.lxc with its record.
    const writes = up.actions.filter((action) => action.kind === 'write-address').length;
    expect(writes).toBe(desired.containers.length);
    expect(calls.length).toBe(up.actions.length + down.actions.length + 2 * writes);
    for (const call of calls) {
      const dash = call.args.indexOf('--');
      expect(dash, call.args.join(' ')).toBeGreaterThan(0);
      // Only the subcommand words and options precede `--`; the topology's names all follow it.
      const before = call.args.slice(0, dash);
      for (const name of [
        desired.project,
        desired.network.name,
        ...desired.containers.map((container) => container.name),
      ]) {
        expect(before, call.args.join(' ')).not.toContain(name);
      }
    }
  });

  it('creates an instance from an image that looks like an option only as a positional argument', () => {
    const create = planUp(desired, emptyIncus).actions.find((action) => action.kind === 'create-instance');
    if (create?.kind !== 'create-instance') throw new Error('no create-instance action');
    const call = incusCallsFor(
      { ...create, container: { ...create.container, image: '--config=security.privileged=true' } },
      'p',
    )[0];
    expect(call?.args).toEqual(['create', '--', '--config=security.privileged=true', create.container.name]);
  });
});

describe('used_by ownership', () => {
  it('parses project and name exactly', () => {
    expect(parseUsedBy('/1.0/instances/db1?project=distctl')).toEqual({
      collection: 'instances',
      name: 'db1',
      project: 'distctl',
    });
    expect(parseUsedBy('/1.0/instances/db10')).toEqual({ collection: 'instances', name: 'db10', project: 'default' });
    expect(parseUsedBy('/1.0/profiles/default?project=x')).toEqual({
      collection: 'profiles',
      name: 'default',
      project: 'x',
    });
    expect(parseUsedBy('/1.0/instances/db1/snapshots/s')).toBeNull();
  });

  it.each([
    ['/1.0/instances/db10?project=other', 'a similarly named instance of another project'],
    ['/1.0/instances/db1?project=other', 'an instance of the same name in another project'],
    ['/1.0/instances/db1', 'an instance of the same name in the default project'],
  ])('does not delete a bridge still used by %s (%s)', (user) => {
    const observed = convergedState(desired);
    const network = { ...ownedNetwork(desired), used_by: [`/1.0/instances/db1?project=${desired.project}`, user] };
    const plan = planDown(desired, { ...observed, networks: [network] });
    expect(plan.actions.map((action) => action.kind)).not.toContain('delete-network');
    expect(plan.notices).toContainEqual(
      expect.objectContaining({ code: 'network-in-use', message: `still used by ${user}; left in place` }),
    );
  });

  it('deletes the bridge when only its own instances and profiles use it', () => {
    const observed = convergedState(desired);
    const users = [
      ...desired.containers.map((container) => `/1.0/instances/${container.name}?project=${desired.project}`),
      '/1.0/profiles/default',
    ];
    const plan = planDown(desired, { ...observed, networks: [{ ...ownedNetwork(desired), used_by: users }] });
    expect(plan.actions.map((action) => action.kind)).toContain('delete-network');
  });
});
