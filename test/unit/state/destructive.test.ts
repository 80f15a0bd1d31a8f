import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { loadDeployment } from '../../../src/commands/context.js';
import { downCommand } from '../../../src/commands/down.js';
import { upCommand } from '../../../src/commands/up.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { convergedState, runningInstance } from '../plan/fixtures.js';
import { FakeIncus } from '../transfer/fake-incus.js';

const reference = join(import.meta.dirname, '../../../topology.yaml');
const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
let dir: string;
let desired: DesiredState;
const stateDirFor = (project: string): string => join(dir, 'state', project);
const secret = (): string => join(stateDirFor(desired.project), 'secrets', 'mongodb-keyfile');

/** An Incus holding the reference deployment as `up` left it. */
function deployed(): FakeIncus {
  const incus = new FakeIncus();
  const observed = convergedState(desired);
  incus.projects.push(observed.project!);
  incus.networks.push(...observed.networks);
  for (const instance of observed.instances)
    incus.instances.set(instance.name, { ...instance, project: desired.project });
  return incus;
}

/** A confirm that records the question and answers `answer`. */
function asking(answer: boolean): { questions: string[]; confirm: (question: string) => Promise<boolean> } {
  const questions: string[] = [];
  return { questions, confirm: async (question) => (questions.push(question), answer) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-destructive-'));
  desired = (await loadDeployment(reference)).desired;
  await mkdir(join(stateDirFor(desired.project), 'secrets'), { recursive: true, mode: 0o700 });
  await writeFile(secret(), 'keyfile', { mode: 0o600 });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('down', () => {
  it('keeps the secrets when Incus shows no project (another remote looks the same), and says how to delete them', async () => {
    const { questions, confirm } = asking(true);
    const result = await downCommand({ file: reference, client: new FakeIncus().client, ui, confirm, stateDirFor });
    expect(existsSync(secret())).toBe(true);
    expect(questions).toEqual([]);
    expect(result.human).toContain(`Its secrets stay in ${stateDirFor(desired.project)}`);
    expect(result.human).toContain('distctl down --forget-state');
  });

  it('deletes them there only with --forget-state', async () => {
    await downCommand({
      file: reference,
      client: new FakeIncus().client,
      ui,
      confirm: async () => true,
      stateDirFor,
      forgetState: true,
    });
    expect(existsSync(stateDirFor(desired.project))).toBe(false);
  });

  it('names every container that holds data, with its databases, and the secrets, before deleting', async () => {
    const incus = deployed();
    const { questions, confirm } = asking(false);
    await expect(
      downCommand({ file: reference, client: incus.client, ui, confirm, stateDirFor }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(incus.changes()).toEqual([]);
    expect(questions).toHaveLength(1);
    const question = questions[0]!;
    expect(question).toContain(
      'These containers hold data that is lost: db1: replica set rsA member :27017 (database products_db), replica set rsA member :27018 (database products_db), replica set rsA member :27019 (database products_db); db2: replica set rsB member :27017 (database products_db)',
    );
    expect(question).toContain('db3: standalone users :27017 (database auth_db)');
    expect(question).not.toMatch(/auth-server: |web-server: /);
    expect(question).toContain(`The deployment's secrets in ${stateDirFor(desired.project)} are deleted too.`);
    expect(question).toContain('distctl down --keep-data');
    expect(existsSync(secret())).toBe(true);
  });

  it('with --keep-data removes only the containers without data, and keeps network, project and secrets', async () => {
    const incus = deployed();
    const result = await downCommand({
      file: reference,
      client: incus.client,
      ui,
      confirm: async () => true,
      stateDirFor,
      keepData: true,
    });
    expect(incus.changes()).toEqual([
      `incus --project ${desired.project} delete --force -- auth-server`,
      `incus --project ${desired.project} delete --force -- web-server`,
    ]);
    expect([...incus.instances.keys()].sort()).toEqual(['db1', 'db2', 'db3']);
    expect(existsSync(secret())).toBe(true);
    expect(result.json).toMatchObject({ dataLost: [] });
  });
});

describe('up --prune', () => {
  it('says that a container it would delete may hold data, and deletes nothing unconfirmed', async () => {
    const incus = deployed();
    incus.instances.set('old-db', { ...runningInstance(desired, 'db1'), name: 'old-db', project: desired.project });
    const { questions, confirm } = asking(false);
    const run = upCommand({
      file: reference,
      prune: true,
      client: incus.client,
      ui,
      confirm,
      addressTimeoutMs: 1000,
      concurrency: 2,
      stateDirFor,
    });
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    expect(incus.changes()).toEqual([]);
    expect(questions).toEqual([
      'Delete - container old-db (not in the topology (--prune))? Everything stored in it is lost (old-db: no longer in the topology, so distctl cannot tell which databases it held; whatever it stores is lost); `distctl export` first keeps a copy.',
    ]);
  });
});
