import { describe, expect, it } from 'vitest';
import { restrictedProject } from '../../../src/commands/import.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { createProjectCall } from '../../../src/incus/project.js';
import { incusCallsFor } from '../../../src/plan/calls.js';

describe('createProjectCall: the one `incus project create` of up and import', () => {
  // The argv itself is pinned where it is run: the plan's tests (up) and import-safety's (import).
  it('gives the project profiles of its own only when asked, and changes nothing else', () => {
    const shared = createProjectCall('shop', false).args;
    const own = createProjectCall('shop', true).args;
    expect(shared.filter((arg, index) => arg !== own[index])).toEqual(['features.profiles=false']);
    expect(own.filter((arg, index) => arg !== shared[index])).toEqual(['features.profiles=true']);
  });

  it("is what up's plan runs for a new project, and what import's restricted project starts with", () => {
    expect(incusCallsFor({ kind: 'create-project', project: 'shop' }, 'shop')).toEqual([
      createProjectCall('shop', false),
    ]);
    const desired = {
      project: 'shop',
      remote: null,
      network: { name: 'shopbr0' },
      containers: [],
      spreadSets: [],
    } as unknown as DesiredState;
    expect(restrictedProject(desired, 'default')[0]).toEqual(createProjectCall('shop', true));
  });
});
