import { describe, expect, it } from 'vitest';
import { restrictedProject } from '../../../src/commands/import.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { createProjectCall } from '../../../src/incus/project.js';
import { incusCallsFor } from '../../../src/plan/calls.js';

describe('createProjectCall: the one `incus project create` of up and import', () => {
  it('creates a project with images and networks shared, marked as distctl-owned; profiles own only when asked', () => {
    const argv = (ownProfiles: boolean): readonly string[] => createProjectCall('shop', ownProfiles).args;
    expect(argv(false)).toEqual([
      'project',
      'create',
      '-c',
      'features.images=false',
      '-c',
      'features.profiles=false',
      '-c',
      'features.networks=false',
      '-c',
      'user.distctl.owner=shop',
      '--',
      'shop',
    ]);
    expect(argv(true)).toEqual(
      argv(false).map((arg) => (arg === 'features.profiles=false' ? 'features.profiles=true' : arg)),
    );
  });

  it("is what up's plan runs for a new project, and what import's restricted project starts with", () => {
    expect(incusCallsFor({ kind: 'create-project', project: 'shop' }, 'shop')).toEqual([
      createProjectCall('shop', false),
    ]);
    const desired = { project: 'shop', network: { name: 'shopbr0' }, containers: [] } as unknown as DesiredState;
    expect(restrictedProject(desired, 'default')[0]).toEqual(createProjectCall('shop', true));
  });
});
