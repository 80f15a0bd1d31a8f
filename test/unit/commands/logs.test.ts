import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { logsCommand, resolveLogTarget } from '../../../src/commands/logs.js';
import { loadDeployment } from '../../../src/commands/context.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import type { CommandResult } from '../../../src/exec/runner.js';
import { IncusClient } from '../../../src/incus/client.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';

const TOPOLOGY = `
version: 1
project: logs-unit
image: debian12-distctl
network: { name: dlogs0, subnet: 10.98.0.0/24, gateway: 10.98.0.1 }
containers:
  - { name: web, ipv4: 10.98.0.11 }
  - { name: db, ipv4: 10.98.0.12 }
  - { name: spare, ipv4: 10.98.0.13 }
mongodb:
  source: image
  replicaSets:
    - { name: rsA, database: products_db, env: DB1_URL, members: [{ container: db, port: 27017 }, { container: db, port: 27018 }] }
sharding:
  defaultShard: rsA
  ranges: [{ from: A, to: Z, replicaSet: rsA }]
services:
  - { name: auth-server, kind: auth, container: web, port: 5000, database: rsA }
  - { name: web-server, kind: web, container: web, port: 3000, auth: auth-server }
`;

let dir: string;
let file: string;
let desired: DesiredState;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-logs-unit-'));
  file = join(dir, 'topology.yaml');
  await writeFile(file, TOPOLOGY);
  desired = (await loadDeployment(file)).desired;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Answers journalctl from a scripted list of outputs and records each argv. */
class JournalOps implements ContainerOps {
  readonly argvs: string[][] = [];
  constructor(private readonly answers: Partial<CommandResult>[]) {}
  async exec(container: string, argv: readonly string[]): Promise<CommandResult> {
    this.argvs.push([container, ...argv]);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...(this.answers.shift() ?? { stdout: '-- No entries --\n' }) };
  }
  async writeFile(): Promise<void> {
    throw new Error('logs never writes files');
  }
  async pushFile(): Promise<void> {
    throw new Error('logs never pushes files');
  }
}

/** The DistctlError a call throws (failing the test when it does not throw). */
function thrown(call: () => unknown): DistctlError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(DistctlError);
    return error as DistctlError;
  }
  throw new Error('expected a DistctlError, nothing was thrown');
}

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
const client = new IncusClient({ run: async () => Promise.reject(new Error('no incus in unit tests')) });

describe('resolveLogTarget', () => {
  it('takes the only unit of a container, accepts a bare unit name', () => {
    expect(resolveLogTarget(desired, 'web', 'web-server')).toEqual({ container: 'web', unit: 'web-server.service' });
    expect(resolveLogTarget(desired, 'db', 'mongod-27018.service')).toEqual({ container: 'db', unit: 'mongod-27018.service' });
  });

  it('asks to pick when a container runs several units, naming them', () => {
    const error = thrown(() => resolveLogTarget(desired, 'db'));
    expect(error.code).toBe('UNIT_REQUIRED');
    expect(error.message).toBe('container db runs 2 units: mongod-27017.service, mongod-27018.service');
    expect(error.hint).toContain('`distctl logs db mongod-27017.service`');
  });

  it('names the known containers and units when given unknown ones', () => {
    const container = thrown(() => resolveLogTarget(desired, 'nope'));
    expect(container.message).toBe('container "nope" is not in the topology');
    expect(container.hint).toBe('Containers: web, db, spare.');
    const unit = thrown(() => resolveLogTarget(desired, 'web', 'sshd'));
    expect(unit.message).toBe('container web has no distctl unit sshd.service');
    expect(unit.hint).toContain('Its units: auth-server.service, web-server.service.');
    expect(thrown(() => resolveLogTarget(desired, 'spare')).message).toMatch(/runs no distctl units/);
  });
});

describe('logsCommand', () => {
  it('prints the last N lines of the unit from inside its container', async () => {
    const ops = new JournalOps([{ stdout: 'Nov 28 web node[1]: listening\nNov 28 web node[1]: GET /health\n' }]);
    const result = await logsCommand({ file, container: 'web', unit: 'web-server', lines: 2, follow: false, client, ui, write: () => undefined, ops });
    expect(ops.argvs).toEqual([['web', 'journalctl', '-u', 'web-server.service', '--no-pager', '-n', '2']]);
    expect(result.exitCode).toBe(0);
    expect(result.human).toBe('Nov 28 web node[1]: listening\nNov 28 web node[1]: GET /health');
    expect(result.json).toEqual({ container: 'web', unit: 'web-server.service', lines: ['Nov 28 web node[1]: listening', 'Nov 28 web node[1]: GET /health'] });
  });

  it('an empty journal is not an error; a failing exec is, naming container and unit', async () => {
    const empty = await logsCommand({ file, container: 'web', unit: 'auth-server', lines: 5, follow: false, client, ui, write: () => undefined, ops: new JournalOps([{ exitCode: 1, stdout: '-- No entries --\n' }]) });
    expect(empty.human).toBe('(no journal entries for auth-server.service in web)');
    const failing = new JournalOps([{ exitCode: 1, stderr: 'Error: Instance not found\n' }]);
    const error = await logsCommand({ file, container: 'web', unit: 'auth-server', lines: 5, follow: false, client, ui, write: () => undefined, ops: failing }).catch((caught: unknown) => caught);
    expect((error as DistctlError).message).toBe('could not read the journal of auth-server.service in container web (exit 1)');
    expect((error as DistctlError).details).toEqual(['Error: Instance not found']);
  });

  it('--follow continues after the cursor, writing only new entries, until stopped', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const ops = new JournalOps([
      { stdout: 'first\n-- cursor: c1\n' },
      { stdout: '-- No entries --\n-- cursor: c1\n' },
      { stdout: 'second\nthird\n-- cursor: c2\n' },
    ]);
    const written: string[] = [];
    const result = await logsCommand({
      file,
      container: 'web',
      unit: 'web-server',
      lines: 10,
      follow: true,
      client,
      ui,
      pollMs: 1,
      ops,
      stopped,
      write: (text) => {
        written.push(text);
        if (text.includes('third')) stop();
      },
    });
    expect(written).toEqual(['first\n', 'second\nthird\n']);
    expect(ops.argvs.map((argv) => argv.slice(4).join(' '))).toEqual(['--no-pager -n 10 --show-cursor', '--no-pager --after-cursor=c1 --show-cursor', '--no-pager --after-cursor=c1 --show-cursor']);
    expect(result).toMatchObject({ exitCode: 0, human: '' });
  });
});
