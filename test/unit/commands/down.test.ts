// `distctl down` in-process on the in-memory Incus model: after it, nothing
// this deployment owns is left, and what it does not own is untouched.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downCommand } from '../../../src/commands/down.js';
import { testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;

const down = (confirm = true) =>
  downCommand({ file: t.file, client: t.client(), ui: t.ui, confirm: async () => confirm, stateDirFor: t.stateDirFor });

beforeEach(async () => {
  t = await testDeployment();
  const up = await t.up();
  expect(up.exitCode).toBe(0);
  await mkdir(join(t.stateDirFor('model-unit'), 'secrets'), { recursive: true });
  await writeFile(join(t.stateDirFor('model-unit'), 'secrets', 'app-admin-password'), 'x', { mode: 0o600 });
});

afterEach(async () => {
  await t.cleanup();
});

describe('down', () => {
  it('removes every owned instance, the bridge, the project and the secrets; nothing owned is left', async () => {
    const result = await down();
    expect(result.exitCode).toBe(0);
    expect(await t.owned()).toEqual({ project: false, networks: [], instances: [] });
    expect(t.model.inventory()).toEqual({ projects: ['default'], networks: [], instances: [] });
    expect(existsSync(t.stateDirFor('model-unit'))).toBe(false);
    const again = await down();
    expect(again.human).toBe('Nothing to remove in Incus: no distctl resources for project model-unit.');
    expect(existsSync(t.stateDirFor('model-unit'))).toBe(false);
    expect((await t.replan()).actions.map((action) => action.kind)).toEqual([
      'create-project',
      'create-network',
      'create-instance',
      'create-instance',
      'create-instance',
      'write-address',
      'write-address',
      'write-address',
      'start-instance',
      'start-instance',
      'start-instance',
      'add-proxy',
    ]);
  });

  it('removes stopped and frozen containers too', async () => {
    await t.incus('stop', 'db-a');
    await t.incus('pause', 'db-b');
    expect((await down()).exitCode).toBe(0);
    expect(await t.owned()).toEqual({ project: false, networks: [], instances: [] });
  });

  it('removes nothing when not confirmed', async () => {
    const before = t.model.inventory();
    await expect(down(false)).rejects.toMatchObject({ code: 'ABORTED', message: 'down aborted: nothing was removed' });
    expect(t.model.inventory()).toEqual(before);
    expect(existsSync(t.stateDirFor('model-unit'))).toBe(true);
  });

  it('leaves a foreign container, the project holding it and the bridge it uses; removes everything else it owns', async () => {
    await t.incus('create', 'debian12-distctl', 'mine-not-yours');
    await t.incus('config', 'device', 'add', 'mine-not-yours', 'eth0', 'nic', 'network=dmodel0');
    const result = await down();
    expect(result.exitCode).toBe(0);
    expect(t.model.inventory()).toEqual({
      projects: ['default', 'model-unit'],
      networks: ['dmodel0'],
      instances: ['model-unit/mine-not-yours'],
    });
    expect((await t.owned()).instances).toEqual([]);
    expect((result.json as { notices: { code: string }[] }).notices.map((notice) => notice.code)).toEqual([
      'foreign-instance',
      'network-in-use',
    ]);
    expect(existsSync(t.stateDirFor('model-unit'))).toBe(true);
  });

  it('a failure keeps the secrets and what remains; the next down finishes the job', async () => {
    t.model.failOn(
      (argv) => argv.join(' ') === 'network delete -- dmodel0',
      'Error: Failed deleting network: device or resource busy',
    );
    await expect(down()).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    expect(t.model.inventory()).toEqual({ projects: ['default', 'model-unit'], networks: ['dmodel0'], instances: [] });
    expect(existsSync(t.stateDirFor('model-unit'))).toBe(true);
    expect((await down()).exitCode).toBe(0);
    expect(await t.owned()).toEqual({ project: false, networks: [], instances: [] });
    expect(existsSync(t.stateDirFor('model-unit'))).toBe(false);
  });
});
