// import's instance-config check against backups written by the live Incus
// daemon (the unit tests use synthetic tarballs): a container made privileged,
// with raw.lxc, a host path and a host device is flagged on every count; the
// same container without them passes. Also: a restricted project — as import
// creates it — makes Incus itself refuse such a container.
// Own project; removed in afterAll even when a check fails.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restrictedProject } from '../../src/commands/import.js';
import type { DesiredState } from '../../src/derive/types.js';
import { readBackupDefinitions, unsafeInstanceSettings } from '../../src/transfer/backup-config.js';
import { incus, integrationSkipReason, removeTestResources, testImage } from './support.js';

const PROJECT = 'distctl-it-safety';
const RESTRICTED = 'distctl-it-safety-r';
const skipReason = await integrationSkipReason('import safety');
const dir = mkdtempSync(join(tmpdir(), 'distctl-it-safety-'));

describe.skipIf(skipReason !== undefined)('import safety against real Incus backups', () => {
  beforeAll(async () => {
    expect(await removeTestResources(PROJECT, [])).toEqual([]);
    expect(await removeTestResources(RESTRICTED, [])).toEqual([]);
    await incus('project', 'create', PROJECT, '-c', 'features.images=false', '-c', 'features.profiles=false');
  }, 120_000);

  afterAll(async () => {
    const problems = [...(await removeTestResources(PROJECT, [])), ...(await removeTestResources(RESTRICTED, []))];
    rmSync(dir, { recursive: true, force: true });
    expect(problems).toEqual([]);
  }, 120_000);

  it('flags privileged, raw.lxc, host path and host device in an incus export, and nothing in a plain one', async () => {
    await incus('create', testImage, 'plain', '--project', PROJECT, '--no-profiles', '--storage', 'default');
    await incus(
      'create',
      testImage,
      'loose',
      '--project',
      PROJECT,
      '--no-profiles',
      '--storage',
      'default',
      '-c',
      'security.privileged=true',
      '-c',
      'raw.lxc=lxc.apparmor.profile=unconfined',
    );
    await incus(
      'config',
      'device',
      'add',
      'loose',
      'hostetc',
      'disk',
      'source=/etc',
      'path=/mnt/etc',
      '--project',
      PROJECT,
    );
    await incus('config', 'device', 'add', 'loose', 'kmsg', 'unix-char', 'source=/dev/kmsg', '--project', PROJECT);
    for (const name of ['plain', 'loose'])
      await incus('export', name, join(dir, `${name}.tar.gz`), '--instance-only', '--project', PROJECT, '--quiet');

    expect(unsafeInstanceSettings(await readBackupDefinitions(join(dir, 'plain.tar.gz')), { proxies: [] })).toEqual([]);
    const problems = unsafeInstanceSettings(await readBackupDefinitions(join(dir, 'loose.tar.gz')), { proxies: [] });
    for (const where of ['index.yaml config.container', 'backup.yaml container']) {
      expect(problems.filter((line) => line.startsWith(`${where}:`)).map((line) => line.split(' (')[0])).toEqual([
        `${where}: config raw.lxc=lxc.apparmor.profile=unconfined`,
        `${where}: config security.privileged=true`,
        `${where}: device hostetc`,
        `${where}: device kmsg`,
      ]);
    }
  }, 300_000);

  it('a restricted project, as import creates it, makes Incus refuse a privileged container', async () => {
    const desired = {
      project: RESTRICTED,
      remote: null,
      network: { name: 'none0' },
      containers: [],
      spreadSets: [],
    } as unknown as DesiredState;
    for (const call of restrictedProject(desired, 'default'))
      await incus(...(call.project ? ['--project', call.project] : []), ...call.args);
    const refused = await incus(
      'create',
      testImage,
      'escalated',
      '--project',
      RESTRICTED,
      '-c',
      'security.privileged=true',
    ).catch((error: Error) => error.message);
    expect(refused).toMatch(/privileged/i);
    // What distctl creates is still allowed there (root disk from the project's own default profile), and a real backup imports.
    await incus('create', testImage, 'plain', '--project', RESTRICTED);
    await incus('import', '--project', RESTRICTED, '--quiet', '--', join(dir, 'plain.tar.gz'), 'restored');
  }, 120_000);
});
