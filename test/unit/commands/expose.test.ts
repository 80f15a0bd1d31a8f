// `distctl expose` in-process on the in-memory Incus model: it edits
// topology.yaml and applies only proxy devices, so the next plan is empty.
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exposeCommand } from '../../../src/commands/expose.js';
import { testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;

const expose = (options: { target?: string; listen?: string; remove?: boolean } = {}) =>
  exposeCommand({
    file: t.file,
    remove: options.remove ?? false,
    client: t.client(),
    ui: t.ui,
    stateDirFor: t.stateDirFor,
    ...(options.target ? { target: options.target } : {}),
    ...(options.listen ? { listen: options.listen } : {}),
  });

/** The writes (not reads) expose made since `from`. */
const writesSince = (from: number) =>
  t.model.calls
    .slice(from)
    .filter((argv) => !argv.includes('--format'))
    .map((argv) => argv.join(' '));

beforeEach(async () => {
  t = await testDeployment();
  const up = await t.up();
  expect(up.exitCode).toBe(0);
});

afterEach(async () => {
  await t.cleanup();
});

describe('expose', () => {
  it('adds a proxy device and the topology entry; the re-plan is empty', async () => {
    const from = t.model.calls.length;
    const result = await expose({ target: 'db-a:27017', listen: '127.0.0.1:27999' });
    expect(result.exitCode).toBe(0);
    expect(writesSince(from)).toEqual([
      '--project model-unit config device add -- db-a expose-27999 proxy listen=tcp:127.0.0.1:27999 connect=tcp:127.0.0.1:27017 bind=host',
    ]);
    expect(await readFile(t.file, 'utf8')).toContain('- { container: db-a, port: 27017, listen: 127.0.0.1:27999 }');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('exposes another container port on a listen address that --remove freed', async () => {
    await expose({ target: 'web:3000', listen: '127.0.0.1:3000', remove: true });
    const from = t.model.calls.length;
    await expose({ target: 'web:3001', listen: '127.0.0.1:3000' });
    expect(writesSince(from)).toEqual([
      '--project model-unit config device add -- web expose-3000 proxy listen=tcp:127.0.0.1:3000 connect=tcp:127.0.0.1:3001 bind=host',
    ]);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('repairs a drifted proxy when the same exposure is asked for again', async () => {
    await t.incus('config', 'device', 'set', 'web', 'expose-3000', 'connect=tcp:127.0.0.1:9999');
    expect((await expose()).exitCode).toBe(1);
    const result = await expose({ target: 'web:3000' });
    expect((result.json as { applied: string[] }).applied).toEqual([
      '~ proxy web/expose-3000: was tcp:127.0.0.1:3000 → tcp:127.0.0.1:9999, now tcp:127.0.0.1:3000 → tcp:127.0.0.1:3000',
    ]);
    expect((await expose()).exitCode).toBe(0);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('removes the device and the entry with --remove; the re-plan is empty', async () => {
    const result = await expose({ target: 'web:3000', remove: true });
    expect((result.json as { applied: string[] }).applied).toEqual(['- proxy web/expose-3000']);
    expect(t.model.instance('model-unit', 'web')?.devices['expose-3000']).toBeUndefined();
    expect(await readFile(t.file, 'utf8')).not.toContain('port: 3000');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('lists the exposures, present or missing, and exits 1 while one is missing', async () => {
    expect((await expose()).json).toEqual({
      ok: true,
      exposures: [
        { container: 'web', listen: 'tcp:127.0.0.1:3000', connect: 'tcp:127.0.0.1:3000', present: true, member: null },
      ],
    });
    await t.incus('config', 'device', 'remove', 'web', 'expose-3000');
    const listed = await expose();
    expect(listed.exitCode).toBe(1);
    expect(listed.human).toBe('127.0.0.1:3000 → web port 3000  missing (run distctl up)');
  });

  it('refuses an unknown container and changes neither the file nor Incus', async () => {
    const before = await readFile(t.file, 'utf8');
    const from = t.model.calls.length;
    await expect(expose({ target: 'nope:80' })).rejects.toMatchObject({ code: 'EXPOSE_INVALID' });
    expect(await readFile(t.file, 'utf8')).toBe(before);
    expect(t.model.calls.length).toBe(from);
  });
});
