import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUi, type ProgressEvent, type Ui } from '../../../src/cli/ui.js';
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

/** Answers each container's log read from a scripted list of outputs and records each argv. */
class ScriptedLogOps implements ContainerOps {
  readonly argvs: string[][] = [];
  constructor(private readonly answers: Record<string, Partial<CommandResult>[]>) {}
  async exec(container: string, argv: readonly string[]): Promise<CommandResult> {
    this.argvs.push([container, ...argv]);
    const answer = this.answers[container]?.shift();
    if (answer === undefined) throw new Error(`no scripted answer left for container ${container}`);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...answer };
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

const events: ProgressEvent[] = [];
const ui: Ui = {
  ...createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 }),
  step: (event) => events.push(event),
};
const client = new IncusClient({ run: async () => Promise.reject(new Error('no incus in unit tests')) });

/** A journal entry line as the read script prints it. */
function journal(unit: string, seconds: number, message: string, cursor = `c${seconds}`): string {
  return `J ${JSON.stringify({ __CURSOR: cursor, __REALTIME_TIMESTAMP: String(seconds * 1_000_000), _SYSTEMD_UNIT: unit, MESSAGE: message })}`;
}

/** The argument positions of the read script's argv: lines, since, since-iso, grep, cursor, unit count, units, files. */
function scriptArgs(argv: readonly string[]): string[] {
  return argv.slice(5);
}

describe('resolveLogTarget', () => {
  it('accepts a bare unit name; without a unit, the whole container', () => {
    expect(resolveLogTarget(desired, 'web', 'web-server')).toEqual({ container: 'web', unit: 'web-server.service' });
    expect(resolveLogTarget(desired, 'db', 'mongod-27018.service')).toEqual({
      container: 'db',
      unit: 'mongod-27018.service',
    });
    expect(resolveLogTarget(desired, 'db')).toEqual({ container: 'db' });
  });

  it('names the known containers and units when given unknown ones', () => {
    const container = thrown(() => resolveLogTarget(desired, 'nope'));
    expect(container.code).toBe('UNKNOWN_CONTAINER');
    expect(container.message).toBe('container "nope" is not in the topology');
    expect(container.hint).toBe('Containers: web, db, spare.');
    const unit = thrown(() => resolveLogTarget(desired, 'web', 'sshd'));
    expect(unit.code).toBe('UNKNOWN_UNIT');
    expect(unit.message).toBe('container web has no distctl unit sshd.service');
    expect(unit.hint).toContain('Its units: auth-server.service, web-server.service.');
    const spare = thrown(() => resolveLogTarget(desired, 'spare'));
    expect(spare.code).toBe('NO_UNITS');
    expect(spare.message).toMatch(/runs no distctl units/);
  });
});

describe('logsCommand', () => {
  it('reads every container with units in one exec each, and prints one stream in time order, prefixed', async () => {
    events.length = 0;
    const ops = new ScriptedLogOps({
      web: [
        {
          stdout: [
            journal('web-server.service', 100, 'listening'),
            journal('auth-server.service', 300, 'login ok'),
          ].join('\n'),
        },
      ],
      db: [
        {
          stdout: [
            journal('mongod-27017.service', 200, 'Started'),
            'F 1 {"t":{"$date":"1970-01-01T00:04:10.000Z"},"s":"I","c":"REPL","ctx":"x","msg":"PRIMARY"}',
            'O 1 99',
          ].join('\n'),
        },
      ],
    });
    const result = await logsCommand({ file, lines: 5, follow: false, client, ui, write: () => undefined, ops });
    expect(ops.argvs.map((argv) => argv[0])).toEqual(['web', 'db']);
    expect(scriptArgs(ops.argvs[0]!)).toEqual(['5', '', '', '', '', '2', 'auth-server.service', 'web-server.service']);
    expect(scriptArgs(ops.argvs[1]!)).toEqual([
      '5',
      '',
      '',
      '',
      '',
      '2',
      'mongod-27017.service',
      'mongod-27018.service',
      '/var/log/mongodb/mongod1.log',
      '',
      '/var/log/mongodb/mongod2.log',
      '',
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.human.split('\n')).toEqual([
      '1970-01-01 00:01:40 web/web-server  | listening',
      '1970-01-01 00:03:20 db/mongod-27017 | Started',
      '1970-01-01 00:04:10 db/mongod-27018 | I REPL [x] PRIMARY',
      '1970-01-01 00:05:00 web/auth-server | login ok',
    ]);
    expect(result.json).toEqual({
      entries: [
        { container: 'web', unit: 'web-server.service', time: '1970-01-01T00:01:40.000Z', message: 'listening' },
        { container: 'db', unit: 'mongod-27017.service', time: '1970-01-01T00:03:20.000Z', message: 'Started' },
        expect.objectContaining({ container: 'db', unit: 'mongod-27018.service', time: '1970-01-01T00:04:10.000Z' }),
        { container: 'web', unit: 'auth-server.service', time: '1970-01-01T00:05:00.000Z', message: 'login ok' },
      ],
      unreadable: [],
    });
    expect(events).toEqual([]);
  });

  it('one unit of one container; --since and --grep reach the container', async () => {
    const ops = new ScriptedLogOps({ web: [{ stdout: journal('web-server.service', 100, 'GET /health') }] });
    const now = () => Date.parse('2026-11-28T12:00:00Z');
    const result = await logsCommand({
      file,
      container: 'web',
      unit: 'web-server',
      lines: 2,
      since: '10m',
      grep: 'GET',
      now,
      follow: false,
      client,
      ui,
      write: () => undefined,
      ops,
    });
    expect(scriptArgs(ops.argvs[0]!)).toEqual([
      '2',
      String(now() / 1000 - 600),
      '2026-11-28T11:50:00',
      'GET',
      '',
      '1',
      'web-server.service',
    ]);
    expect(result.human).toBe('1970-01-01 00:01:40 web/web-server | GET /health');
  });

  it('a container that cannot be read is named and the exit code is 1; the others are still shown', async () => {
    events.length = 0;
    const ops = new ScriptedLogOps({
      web: [{ stdout: journal('web-server.service', 100, 'up') }],
      db: [{ exitCode: 1, stderr: 'Error: Instance is not running\n' }],
    });
    const result = await logsCommand({ file, lines: 5, follow: false, client, ui, write: () => undefined, ops });
    expect(result.exitCode).toBe(1);
    expect(result.human).toBe('1970-01-01 00:01:40 web/web-server  | up');
    expect(result.json).toMatchObject({ unreadable: ['db'] });
    expect(events).toEqual([
      { event: 'fail', subject: 'db', message: 'logs of db could not be read: Error: Instance is not running' },
    ]);
  });

  it('when no container can be read, it is an error naming them', async () => {
    const ops = new ScriptedLogOps({ web: [{ exitCode: 1, stderr: 'Error: Instance not found\n' }] });
    const error = await logsCommand({
      file,
      container: 'web',
      lines: 5,
      follow: false,
      client,
      ui,
      write: () => undefined,
      ops,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('LOGS_FAILED');
    expect((error as DistctlError).message).toBe('could not read the logs of web');
    expect((error as DistctlError).details).toEqual(['web: Error: Instance not found']);
  });

  it('refuses a --since or --grep it cannot use, before reaching any container', async () => {
    const ops = new ScriptedLogOps({});
    const since = await logsCommand({
      file,
      since: 'last tuesday',
      lines: 5,
      follow: false,
      client,
      ui,
      write: () => undefined,
      ops,
    }).catch((caught: unknown) => caught);
    expect((since as DistctlError).code).toBe('BAD_SINCE');
    const grep = await logsCommand({
      file,
      grep: '(',
      lines: 5,
      follow: false,
      client,
      ui,
      write: () => undefined,
      ops,
    }).catch((caught: unknown) => caught);
    expect((grep as DistctlError).code).toBe('BAD_GREP');
    expect(ops.argvs).toEqual([]);
  });

  it('--follow continues after the cursor and file offsets, writing only new entries, until stopped', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const ops = new ScriptedLogOps({
      db: [
        { stdout: [journal('mongod-27017.service', 1, 'first', 'k1'), 'O 0 10', 'O 1 20'].join('\n') },
        { stdout: ['O 0 10', 'O 1 20'].join('\n') },
        {
          stdout: [
            journal('mongod-27018.service', 2, 'second', 'k2'),
            'F 0 {"t":{"$date":"1970-01-01T00:00:03Z"},"s":"I","c":"C","ctx":"x","msg":"third"}',
            'O 0 16',
            'O 1 20',
          ].join('\n'),
        },
      ],
    });
    const written: string[] = [];
    const result = await logsCommand({
      file,
      container: 'db',
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
    expect(written).toEqual([
      '1970-01-01 00:00:01 db/mongod-27017 | first\n',
      '1970-01-01 00:00:02 db/mongod-27018 | second\n1970-01-01 00:00:03 db/mongod-27017 | I C [x] third\n',
    ]);
    expect(ops.argvs.map((argv) => scriptArgs(argv).slice(0, 5).concat(scriptArgs(argv).slice(-4)))).toEqual([
      ['10', '', '', '', '', '/var/log/mongodb/mongod1.log', '', '/var/log/mongodb/mongod2.log', ''],
      ['10', '', '', '', 'k1', '/var/log/mongodb/mongod1.log', '10', '/var/log/mongodb/mongod2.log', '20'],
      ['10', '', '', '', 'k1', '/var/log/mongodb/mongod1.log', '10', '/var/log/mongodb/mongod2.log', '20'],
    ]);
    expect(result).toMatchObject({ exitCode: 0, human: '' });
  });
});
