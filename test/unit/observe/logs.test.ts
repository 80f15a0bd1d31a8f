import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  logReadArgv,
  mergeLogEntries,
  parseLogRead,
  parseSince,
  readableMessage,
  type ContainerLogSources,
  type LogPosition,
  type LogQuery,
} from '../../../src/observe/logs.js';

// The read script runs for real here, in bash on this host, against real log
// files; only journalctl is a stand-in that prints recorded `-o json` entries
// and writes down the arguments it was given.
let dir: string;
let stubBin: string;
let sources: ContainerLogSources;
let argsFile: string;

const ENTRY_A = {
  __CURSOR: 's=1;i=a',
  __REALTIME_TIMESTAMP: '1795874400000000',
  _SYSTEMD_UNIT: 'init.scope',
  UNIT: 'mongod-27017.service',
  MESSAGE: 'Started mongod-27017.service - MongoDB 27017.',
};
const ENTRY_B = {
  __CURSOR: 's=1;i=b',
  __REALTIME_TIMESTAMP: '1795874402000000',
  _SYSTEMD_UNIT: 'mongod-27018.service',
  MESSAGE: [104, 105],
};
const ENTRY_OTHER = {
  __CURSOR: 's=1;i=c',
  __REALTIME_TIMESTAMP: '1795874403000000',
  _SYSTEMD_UNIT: 'init.scope',
  UNIT: 'ssh.service',
  MESSAGE: 'not ours',
};

function mongodLine(iso: string, msg: string): string {
  return JSON.stringify({
    t: { $date: iso },
    s: 'I',
    c: 'NETWORK',
    id: 1,
    ctx: 'listener',
    msg,
    attr: { port: 27017 },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-logs-'));
  stubBin = join(dir, 'bin');
  argsFile = join(dir, 'journalctl.args');
  await execa('mkdir', ['-p', stubBin]);
  const journal = [ENTRY_A, ENTRY_B, ENTRY_OTHER].map((entry) => JSON.stringify(entry)).join('\n');
  await writeFile(join(dir, 'journal.json'), `${journal}\n`);
  await writeFile(
    join(stubBin, 'journalctl'),
    `#!/bin/bash\nprintf '%s\\n' "$@" > '${argsFile}'\ncat '${join(dir, 'journal.json')}'\n`,
  );
  await chmod(join(stubBin, 'journalctl'), 0o755);
  sources = {
    container: 'db1',
    units: ['mongod-27017.service', 'mongod-27018.service'],
    files: [
      { unit: 'mongod-27017.service', path: join(dir, 'mongod1.log') },
      { unit: 'mongod-27018.service', path: join(dir, 'mongod2.log') },
    ],
  };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(query: LogQuery, position: LogPosition | null): Promise<string> {
  const [bin = '', ...args] = logReadArgv(sources, query, position);
  const result = await execa(bin, args, { env: { PATH: `${stubBin}:${process.env.PATH ?? ''}` } });
  return result.stdout;
}

async function journalArgs(): Promise<string[]> {
  return (await readFile(argsFile, 'utf8')).trim().split('\n');
}

describe("reading a container's logs (the script, run for real)", () => {
  it('reads the journal of every unit and the last lines of each mongod log file, then continues where it stopped', async () => {
    const lines1 = [1, 2, 3].map((n) => mongodLine(`2026-11-28T10:00:0${n}.000+00:00`, `one-${n}`));
    await writeFile(sources.files[0]!.path, `${lines1.join('\n')}\n`);
    await writeFile(sources.files[1]!.path, `${mongodLine('2026-11-28T10:00:05.000+00:00', 'two-1')}\n`);

    const first = parseLogRead(sources, await read({ lines: 2 }, null), null);
    expect(await journalArgs()).toEqual([
      '--no-pager',
      '-o',
      'json',
      '--output-fields=MESSAGE,UNIT,_SYSTEMD_UNIT',
      '-u',
      'mongod-27017.service',
      '-u',
      'mongod-27018.service',
      '-n',
      '2',
    ]);
    expect(first.entries.map((entry) => [entry.unit, entry.time, readableMessage(entry.message)])).toEqual([
      ['mongod-27017.service', 1795874400000, 'Started mongod-27017.service - MongoDB 27017.'],
      ['mongod-27018.service', 1795874402000, 'hi'],
      ['mongod-27017.service', Date.parse('2026-11-28T10:00:02Z'), 'I NETWORK [listener] one-2 {"port":27017}'],
      ['mongod-27017.service', Date.parse('2026-11-28T10:00:03Z'), 'I NETWORK [listener] one-3 {"port":27017}'],
      ['mongod-27018.service', Date.parse('2026-11-28T10:00:05Z'), 'I NETWORK [listener] two-1 {"port":27017}'],
    ]);
    const size1 = Buffer.byteLength(`${lines1.join('\n')}\n`);
    expect(first.position).toEqual({ cursor: 's=1;i=c', fileOffsets: [size1, expect.any(Number)] });

    await writeFile(
      sources.files[0]!.path,
      `${lines1.join('\n')}\n${mongodLine('2026-11-28T10:00:09.000+00:00', 'new')}\n`,
    );
    const next = parseLogRead(sources, await read({ lines: 2 }, first.position), first.position);
    expect(await journalArgs()).toContain('--after-cursor=s=1;i=c');
    expect(await journalArgs()).not.toContain('-n');
    expect(
      next.entries.filter((entry) => entry.message.includes('"$date"')).map((entry) => readableMessage(entry.message)),
    ).toEqual(['I NETWORK [listener] new {"port":27017}']);
  });

  it('reads a rotated (shorter) file from its start', async () => {
    await writeFile(sources.files[0]!.path, `${mongodLine('2026-11-28T11:00:00.000+00:00', 'after-rotation')}\n`);
    const position: LogPosition = { cursor: 'x', fileOffsets: [100_000, null] };
    const parsed = parseLogRead(sources, await read({ lines: 5 }, position), position);
    expect(
      parsed.entries.filter((entry) => entry.unit === 'mongod-27017.service' && entry.message.includes('rotation')),
    ).toHaveLength(1);
  });

  it('--grep filters inside the container (journal and files); --since keeps file lines from that time on', async () => {
    const lines = ['09:59:59', '10:00:01', '10:00:02'].map((t, n) => mongodLine(`2026-11-28T${t}.000+00:00`, `m${n}`));
    await writeFile(sources.files[0]!.path, `${lines.join('\n')}\n`);
    await writeFile(sources.files[1]!.path, '');
    const since = Date.parse('2026-11-28T10:00:00Z');
    const parsed = parseLogRead(sources, await read({ lines: 10, sinceEpochMs: since, grep: 'm[02]' }, null), null);
    expect(await journalArgs()).toEqual(expect.arrayContaining([`--since=@${since / 1000}`, '--grep=m[02]']));
    expect(
      parsed.entries.filter((entry) => entry.message.startsWith('{')).map((entry) => readableMessage(entry.message)),
    ).toEqual(['I NETWORK [listener] m2 {"port":27017}']);
  });

  it('a missing log file is skipped, its offset stays unknown', async () => {
    await rm(sources.files[1]!.path, { force: true });
    const parsed = parseLogRead(sources, await read({ lines: 1 }, null), null);
    expect(parsed.position.fileOffsets[1]).toBeNull();
  });
});

describe('parseLogRead', () => {
  it("drops journal entries of other units and lines that are not the script's", () => {
    const stdout = [`J ${JSON.stringify(ENTRY_OTHER)}`, 'bash: noise', 'J {not json', 'F 7 out of range'].join('\n');
    const parsed = parseLogRead(sources, stdout, null);
    expect(parsed.entries).toEqual([]);
    expect(parsed.position).toEqual({ cursor: 's=1;i=c', fileOffsets: [null, null] });
  });

  it('a line without its own time keeps the time of the line before it', () => {
    const stdout = [`F 0 ${mongodLine('2026-11-28T10:00:00.000+00:00', 'a')}`, 'F 0 continuation'].join('\n');
    expect(parseLogRead(sources, stdout, null).entries.map((entry) => entry.time)).toEqual([
      Date.parse('2026-11-28T10:00:00Z'),
      Date.parse('2026-11-28T10:00:00Z'),
    ]);
  });
});

describe('logReadArgv: the positional arguments of the script', () => {
  const two: ContainerLogSources = {
    container: 'db1',
    units: ['mongod-27017.service', 'mongod-27018.service'],
    files: [
      { unit: 'mongod-27017.service', path: '/var/log/a.log' },
      { unit: 'mongod-27018.service', path: '/var/log/b.log' },
    ],
  };
  const since = Date.parse('2026-11-28T10:00:00.750Z');

  it('a first read: line limit, since (epoch seconds and ISO), grep, no cursor, the units, no offsets', () => {
    expect(logReadArgv(two, { lines: 50, sinceEpochMs: since, grep: 'x|y' }, null).slice(3)).toEqual([
      'distctl-logs',
      '50',
      String(Math.floor(since / 1000)),
      '2026-11-28T10:00:00',
      'x|y',
      '',
      '2',
      'mongod-27017.service',
      'mongod-27018.service',
      '/var/log/a.log',
      '',
      '/var/log/b.log',
      '',
    ]);
  });

  it('a follow-up read: no since (already applied), the cursor, an offset only for a file read before', () => {
    const position: LogPosition = { cursor: 's=1;i=c', fileOffsets: [123, null] };
    expect(logReadArgv(two, { lines: 50, sinceEpochMs: since }, position).slice(4)).toEqual([
      '50',
      '',
      '',
      '',
      's=1;i=c',
      '2',
      'mongod-27017.service',
      'mongod-27018.service',
      '/var/log/a.log',
      '123',
      '/var/log/b.log',
      '',
    ]);
  });
});

describe('parseLogRead: the edges of the tagged output', () => {
  it('an entry without a cursor keeps the last one; an entry without MESSAGE is an empty message', () => {
    const stdout = [
      `J ${JSON.stringify({ ...ENTRY_A })}`,
      `J ${JSON.stringify({ _SYSTEMD_UNIT: 'mongod-27018.service', __REALTIME_TIMESTAMP: '1795874405000000' })}`,
    ].join('\n');
    const parsed = parseLogRead(sources, stdout, { cursor: 'old', fileOffsets: [null, null] });
    expect(parsed.position.cursor).toBe('s=1;i=a');
    expect(parsed.entries[1]).toEqual({
      container: 'db1',
      unit: 'mongod-27018.service',
      time: 1795874405000,
      message: '',
    });
  });

  it('offsets of files it does not read, and tags in the middle of a noise line, are ignored', () => {
    const stdout = ['O 7 100', 'bash: warning O 0 5', 'bash: warning F 0 text', 'O 1 42'].join('\n');
    expect(parseLogRead(sources, stdout, null)).toEqual({
      entries: [],
      position: { cursor: null, fileOffsets: [null, 42] },
    });
  });
});

describe('mergeLogEntries', () => {
  it("orders several containers' entries by time, keeping each source's own order on ties", () => {
    const entry = (container: string, time: number | null, message: string) => ({
      container,
      unit: 'u',
      time,
      message,
    });
    expect(
      mergeLogEntries([
        [entry('a', 3, 'a3'), entry('a', 3, 'a3b')],
        [entry('b', 1, 'b1'), entry('b', 5, 'b5')],
      ]).map((each) => each.message),
    ).toEqual(['b1', 'a3', 'a3b', 'b5']);
  });
});

describe('parseSince', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');
  it('takes durations back from now and ISO dates (UTC without a zone)', () => {
    expect(parseSince('90s', now)).toBe(now - 90_000);
    expect(parseSince('10m', now)).toBe(now - 600_000);
    expect(parseSince('2h', now)).toBe(now - 7_200_000);
    expect(parseSince('1d', now)).toBe(now - 86_400_000);
    expect(parseSince('2026-11-28', now)).toBe(Date.parse('2026-11-28T00:00:00Z'));
    expect(parseSince('2026-11-28 10:30', now)).toBe(Date.parse('2026-11-28T10:30:00Z'));
    expect(parseSince('2026-11-28T10:30:00+01:00', now)).toBe(Date.parse('2026-11-28T09:30:00Z'));
  });
  it('ignores surrounding blanks, allows a blank before the unit, and reads fractional seconds', () => {
    expect(parseSince(' 10m ', now)).toBe(now - 600_000);
    expect(parseSince('90 s', now)).toBe(now - 90_000);
    expect(parseSince(' 2026-11-28 ', now)).toBe(Date.parse('2026-11-28T00:00:00Z'));
    expect(parseSince('2026-11-28T10:00:00.123Z', now)).toBe(Date.parse('2026-11-28T10:00:00.123Z'));
  });

  it('refuses a negative duration and trailing text', () => {
    expect(parseSince('-90s', now)).toBeNull();
    expect(parseSince('90sx', now)).toBeNull();
  });

  it('refuses anything else', () => {
    expect(parseSince('yesterday', now)).toBeNull();
    expect(parseSince('10 parsecs', now)).toBeNull();
    expect(parseSince('2026-13-45', now)).toBeNull();
  });
});

describe('readableMessage', () => {
  it("shows mongod's JSON line as severity, component, context, message and attributes; other text as it is", () => {
    expect(readableMessage(mongodLine('2026-11-28T10:00:00.000+00:00', 'Waiting for connections'))).toBe(
      'I NETWORK [listener] Waiting for connections {"port":27017}',
    );
    expect(readableMessage('{"half": ')).toBe('{"half": ');
    expect(readableMessage('plain')).toBe('plain');
  });
});
