import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DerivedService } from '../../../src/derive/types.js';
import {
  artifactHash,
  parseMarker,
  renderEnvFile,
  renderMarker,
  renderServiceUnit,
  serviceUser,
} from '../../../src/deploy/artifacts.js';
import { journalArgv, splitCursor } from '../../../src/deploy/journal.js';
import { parseProbe, probeArgv } from '../../../src/deploy/probe.js';
import { nodeMajor } from '../../../src/deploy/node-runtime.js';
import { waitForHealth } from '../../../src/deploy/health.js';
import { DistctlError } from '../../../src/errors/index.js';
import { FakeContainers } from './fake-container.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-artifacts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const web: DerivedService = {
  name: 'web-server',
  kind: 'web',
  container: 'web',
  ip: '10.99.0.11',
  port: 3000,
  unitName: 'web-server.service',
  url: 'http://10.99.0.11:3000',
  env: {},
  databases: ['rsA'],
  after: ['auth-server.service'],
};

describe('environment file', () => {
  it('quotes values so a double-quote reader (systemd, and sh, which escapes the same four characters) gets them back verbatim', async () => {
    const env = {
      SHARD_MAP: '{"defaultShard":"rsA","ranges":[]}',
      TRICKY: 'a\\b "c" $HOME `x` \'y\' %n',
      PORT: '3000',
      EMPTY: '',
    };
    const text = renderEnvFile('web-server', env);
    expect(text.split('\n')[0]).toMatch(/^# Managed by distctl/);
    expect(text).toContain('SHARD_MAP="{\\"defaultShard\\":\\"rsA\\",\\"ranges\\":[]}"');
    const file = join(dir, 'web.env');
    await writeFile(file, text);
    const { stdout } = await promisify(execFile)(
      'sh',
      [
        '-c',
        'set -a; . "$1"; node -e "process.stdout.write(JSON.stringify({SHARD_MAP:process.env.SHARD_MAP,TRICKY:process.env.TRICKY,PORT:process.env.PORT,EMPTY:process.env.EMPTY}))"',
        'sh',
        file,
      ],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    expect(JSON.parse(stdout)).toEqual(env);
  });

  it('sorts keys (same environment, same bytes) and refuses line breaks', () => {
    expect(renderEnvFile('s', { B: '1', A: '2' })).toBe(renderEnvFile('s', { A: '2', B: '1' }));
    expect(() => renderEnvFile('s', { A: 'one\ntwo' })).toThrow(DistctlError);
  });
});

describe('service unit', () => {
  it('runs the bundle with the pushed Node as the service user, restarts always, orders after its dependencies, hardened', async () => {
    const unit = await renderServiceUnit(web);
    for (const line of [
      'After=network-online.target',
      'After=auth-server.service',
      'Wants=auth-server.service',
      'User=distctl-web-server',
      'EnvironmentFile=/etc/distctl/web-server.env',
      'ExecStart=/usr/local/bin/node /opt/distctl/web-server/main.mjs',
      'Restart=always',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'WantedBy=multi-user.target',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute/m);
    const auth = await renderServiceUnit({
      ...web,
      name: 'auth-server',
      kind: 'auth',
      unitName: 'auth-server.service',
      after: [],
    });
    expect(auth).not.toMatch(/^After=auth-server/m);
    expect(auth).not.toMatch(/\{\{|\}\}/);
  });

  it('service users fit the 32-character limit without colliding', () => {
    expect(serviceUser('web-server')).toBe('distctl-web-server');
    const a = serviceUser('a-very-long-service-name-number-one');
    const b = serviceUser('a-very-long-service-name-number-two');
    expect(a.length).toBeLessThanOrEqual(32);
    expect(a).not.toBe(b);
  });
});

describe('markers and probe', () => {
  const parts = { bundle: 'b'.repeat(64), unit: 'u'.repeat(64), env: 'e'.repeat(64), node: 'n'.repeat(64) };

  it('a marker round-trips; an unreadable one means nothing is deployed', () => {
    expect(parseMarker(renderMarker(parts))).toEqual({ ...parts, artifact: artifactHash(parts) });
    expect(parseMarker('')).toBeNull();
    expect(parseMarker('{"bundle":1}')).toBeNull();
    expect(parseMarker('not json')).toBeNull();
    expect(artifactHash({ ...parts, env: 'f'.repeat(64) })).not.toBe(artifactHash(parts));
  });

  it('reads node digest, markers and unit states of every service from one output', () => {
    const argv = probeArgv([web]);
    expect(argv.slice(3)).toEqual([
      'sh',
      '/usr/local/bin/node',
      'web-server',
      'web-server.service',
      '/opt/distctl/web-server/.deployed',
    ]);
    const sha = 'a'.repeat(64);
    const probe = parseProbe(
      `node ${sha}\nmarker web-server ${renderMarker(parts).trim()}\n` +
        'state web-server ActiveState=active SubState=running NRestarts=2 \nenabled web-server enabled\n' +
        'marker other \nstate other ActiveState=failed SubState=failed NRestarts=0 \nenabled other \n',
      ['web-server', 'other', 'absent'],
    );
    expect(probe.nodeSha256).toBe(sha);
    expect(probe.services.get('web-server')).toEqual({
      deployed: { ...parts, artifact: artifactHash(parts) },
      active: 'active',
      unit: { activeState: 'active', subState: 'running', restarts: 2 },
      enabled: 'enabled',
    });
    expect(probe.services.get('other')).toEqual({
      deployed: null,
      active: 'failed',
      unit: { activeState: 'failed', subState: 'failed', restarts: 0 },
      enabled: '',
    });
    expect(probe.services.get('absent')).toEqual({
      deployed: null,
      active: 'inactive',
      unit: { activeState: 'unknown', subState: 'unknown', restarts: 0 },
      enabled: '',
    });
    expect(parseProbe('node -\n', []).nodeSha256).toBeNull();
  });

  it('node versions', () => {
    expect(nodeMajor('v20.20.2\n')).toBe(20);
    expect(nodeMajor('sh: node: not found')).toBeNull();
  });
});

describe('journal', () => {
  it('reads the last lines, or continues after a cursor', () => {
    expect(journalArgv('web-server.service', { lines: 20 })).toEqual([
      'journalctl',
      '-u',
      'web-server.service',
      '--no-pager',
      '-n',
      '20',
    ]);
    expect(journalArgv('u', { lines: 5, showCursor: true })).toEqual([
      'journalctl',
      '-u',
      'u',
      '--no-pager',
      '-n',
      '5',
      '--show-cursor',
    ]);
    expect(journalArgv('u', { afterCursor: 's=1;i=2' })).toEqual([
      'journalctl',
      '-u',
      'u',
      '--no-pager',
      '--after-cursor=s=1;i=2',
      '--show-cursor',
    ]);
  });

  it('splits entries from the cursor and drops the "No entries" placeholder', () => {
    expect(splitCursor('line one\nline two\n-- cursor: s=ab;i=9\n')).toEqual({
      text: 'line one\nline two\n',
      cursor: 's=ab;i=9',
    });
    expect(splitCursor('-- No entries --\n-- cursor: s=ab;i=9\n')).toEqual({ text: '', cursor: 's=ab;i=9' });
    expect(splitCursor('-- No entries --\n')).toEqual({ text: '', cursor: null });
    expect(splitCursor('only\n')).toEqual({ text: 'only\n', cursor: null });
  });
});

describe('waitForHealth', () => {
  it('polls until /health answers 200 with the unit active, without real sleeping', async () => {
    const ops = new FakeContainers(() => '');
    ops.unit('web', 'web-server.service').active = 'active';
    let clock = 0;
    let calls = 0;
    const seconds = await waitForHealth(web, {
      ops,
      fetch: async () => new Response('', { status: ++calls < 3 ? 503 : 200 }),
      timeoutMs: 10_000,
      sleep: async (ms) => {
        clock += ms;
      },
      now: () => clock,
    });
    expect(calls).toBe(3);
    expect(seconds).toBe(1);
  });

  it('a 200 from something else while the unit is restarting does not count', async () => {
    const ops = new FakeContainers(() => '');
    const unit = ops.unit('web', 'web-server.service');
    unit.active = 'activating';
    let clock = 0;
    const error = await waitForHealth(web, {
      ops,
      fetch: async () => new Response('', { status: 200 }),
      timeoutMs: 3_000,
      restartBaseline: 0,
      sleep: async (ms) => {
        clock += ms;
        if (clock >= 1_000) unit.restarts = 1;
      },
      now: () => clock,
    }).catch((caught: unknown) => caught);
    expect((error as DistctlError).message).toContain('systemd restarted it 1 time');
  });
});

describe('the deploy probe, run by a real sh', () => {
  /** A `systemctl` that answers `show UNIT -p …` for web-server.service as systemd does, and nothing else. */
  async function fakeSystemctl(): Promise<string> {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(bin, 'systemctl'),
      [
        '#!/bin/sh',
        'echo "$*" >> "$(dirname "$0")/calls"',
        '[ "$1" = show ] || exit 1',
        'if [ "$2" = web-server.service ]; then',
        '  printf "NRestarts=2\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n"',
        'else',
        '  printf "NRestarts=0\\nActiveState=inactive\\nSubState=dead\\nUnitFileState=\\n"',
        'fi',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    return bin;
  }

  it('hashes the Node binary once, then reads the digest cached under its size, mtime and inode', async () => {
    const bin = await fakeSystemctl();
    const node = join(dir, 'node');
    const cache = join(dir, 'cache', 'node.sha256');
    await writeFile(node, 'first binary');
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, DISTCTL_NODE_DIGEST_CACHE: cache };
    const run = async () => {
      const argv = probeArgv([web, { ...web, name: 'auth-server', unitName: 'auth-server.service' }]);
      const { stdout } = await promisify(execFile)(argv[0]!, [...argv.slice(1, 4), node, ...argv.slice(5)], { env });
      return stdout;
    };
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');

    const first = await run();
    expect(first.split('\n')).toEqual([
      `node ${sha('first binary')}`,
      'marker web-server ',
      'state web-server NRestarts=2 ActiveState=active SubState=running ',
      'enabled web-server enabled',
      'marker auth-server ',
      'state auth-server NRestarts=0 ActiveState=inactive SubState=dead ',
      'enabled auth-server ',
      '',
    ]);
    // One systemctl per service.
    expect((await readFile(join(bin, 'calls'), 'utf8')).trim().split('\n')).toEqual([
      'show web-server.service -p ActiveState -p SubState -p NRestarts -p UnitFileState',
      'show auth-server.service -p ActiveState -p SubState -p NRestarts -p UnitFileState',
    ]);
    const key = await readFile(cache, 'utf8');
    expect(key).toMatch(new RegExp(`^12 \\d+ \\d+ ${sha('first binary')}\\n$`));

    // A cached digest is believed while size, mtime and inode match (the file is not read again) ...
    await writeFile(cache, key.replace(sha('first binary'), 'c'.repeat(64)));
    expect((await run()).split('\n')[0]).toBe(`node ${'c'.repeat(64)}`);
    // ... and a binary renamed into place, as distctl installs one, is hashed again (same size, and likely the same
    // mtime second: the inode tells them apart).
    await writeFile(`${node}.new`, 'other binary');
    await rename(`${node}.new`, node);
    expect((await run()).split('\n')[0]).toBe(`node ${sha('other binary')}`);
    expect(parseProbe(await run(), ['web-server']).nodeSha256).toBe(sha('other binary'));
  });
});
