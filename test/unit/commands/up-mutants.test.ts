// `distctl up` in-process on the in-memory Incus model, pinning what up.test.ts leaves open (found by
// mutation testing, bench/RESULTS-mutation.md): the progress it reports and in what order, the exact
// summary and JSON, when it asks before deleting and what it asks, when it waits for addresses, the
// later stages' outcomes, and the wording of `import`'s resume hint.
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProgressEvent } from '../../../src/cli/ui.js';
import { loadDeployment } from '../../../src/commands/context.js';
import { converge, upCommand, type UpOptions } from '../../../src/commands/up.js';
import { PROVISION_TOPOLOGY, testDeployment, type TestDeployment } from '../support/deployment.js';
import { lockFile } from '../../../src/state/lock.js';
import { servicesTopology } from '../support/topologies.js';

let t: TestDeployment;
/** Every question `up` asked before deleting. */
let questions: string[];
/** Progress events plus `stop` (the spinner stopped before a question), in order. */
let seen: (ProgressEvent | 'stop')[];

beforeEach(() => {
  // Only the clock is fake, so the reported duration is exact; the model's promises run as usual.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-11-28T12:00:00Z'));
});

afterEach(async () => {
  vi.useRealTimers();
  await t.cleanup();
});

async function deployment(topology = PROVISION_TOPOLOGY): Promise<void> {
  t = await testDeployment(topology);
  questions = [];
  seen = [];
}

/** Options as the CLI builds them; `answer` is the reply to a deletion question, `onStep` sees each event first. */
function options(
  answer: boolean | ((question: string) => Promise<boolean>) = true,
  prune = false,
  onStep: (event: ProgressEvent) => void = () => undefined,
): UpOptions {
  return {
    file: t.file,
    prune,
    client: t.client(),
    ui: {
      ...t.ui,
      step: (event) => {
        onStep(event);
        seen.push(event);
      },
      stop: () => void seen.push('stop'),
    },
    confirm: async (question) => {
      questions.push(question);
      return typeof answer === 'boolean' ? answer : answer(question);
    },
    addressTimeoutMs: 0,
    concurrency: 4,
    stateDirFor: t.stateDirFor,
  };
}

/** The events `up` itself reports (the apply engine's per-action events carry a subject). */
const ownEvents = () =>
  seen
    .filter((event) => event === 'stop' || event.subject === undefined)
    .map((event) => (event === 'stop' ? 'stop' : `${event.event} ${event.message}`));

const WARNING = 'info topology warning: ';
const CONTAINERS = [
  { name: 'web', ipv4: '10.97.0.10' },
  { name: 'db-a', ipv4: '10.97.0.11' },
  { name: 'db-b', ipv4: '10.97.0.12' },
];

describe('up reports what it did', () => {
  beforeEach(() => deployment());

  it('a first up: warnings first, then the reads, the number of changes, the wait; exact summary and JSON', async () => {
    // 1.5 s pass while up waits for the addresses.
    const result = await upCommand(
      options(true, false, (event) => {
        if (event.event === 'wait') vi.setSystemTime(new Date('2026-11-28T12:00:01.500Z'));
      }),
    );
    const own = ownEvents();
    expect(own[0]?.startsWith(`${WARNING}${t.file}:11:23 expose[0].port: `)).toBe(true);
    expect(own.slice(1)).toEqual([
      'start reading Incus state',
      'info applying 12 changes',
      'wait waiting for every container to hold its address',
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.human).toBe(
      [
        '✔ containers: 3 running with their declared addresses (12 changes)',
        '- databases: nothing declared',
        '- services: nothing declared',
        'up: done in 1.5 s (22 incus calls)',
      ].join('\n'),
    );
    expect(result.json).toEqual({
      ok: true,
      project: 'model-unit',
      stages: [
        { stage: 'containers', status: 'ok', summary: '3 running with their declared addresses (12 changes)' },
        { stage: 'databases', status: 'skipped', summary: 'nothing declared' },
        { stage: 'services', status: 'skipped', summary: 'nothing declared' },
      ],
      failedStages: [],
      applied: 12,
      actions: [
        '+ project model-unit',
        '+ network dmodel0 (bridge 10.97.0.1/24, NAT on)',
        '+ container web (image debian12-distctl, eth0 10.97.0.10 on dmodel0)',
        '+ container db-a (image debian12-distctl, eth0 10.97.0.11 on dmodel0)',
        '+ container db-b (image debian12-distctl, eth0 10.97.0.12 on dmodel0)',
        '~ container web: eth0 static 10.97.0.10/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
        '~ container db-a: eth0 static 10.97.0.11/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
        '~ container db-b: eth0 static 10.97.0.12/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
        '~ container web: start',
        '~ container db-a: start',
        '~ container db-b: start',
        '+ proxy tcp:127.0.0.1:3000 on the host → web tcp:127.0.0.1:3000',
      ],
      seconds: 1.5,
      incusCalls: 22,
      containers: CONTAINERS,
    });
    expect(questions).toEqual([]);
  });

  it('a converged deployment: no change announced, no wait for addresses, "no changes"', async () => {
    await upCommand(options());
    seen = [];
    const result = await upCommand(options());
    expect(ownEvents().slice(1)).toEqual(['start reading Incus state']);
    expect(result.human.split('\n')).toEqual([
      '✔ containers: 3 running with their declared addresses (no changes)',
      '- databases: nothing declared',
      '- services: nothing declared',
      'up: done in 0.0 s (3 incus calls)',
    ]);
    expect(result.json).toMatchObject({ ok: true, applied: 0, actions: [], seconds: 0, incusCalls: 3 });
  });

  it('one change is counted in the singular', async () => {
    await upCommand(options());
    await t.incus('config', 'device', 'remove', 'web', 'expose-3000');
    seen = [];
    const result = await upCommand(options());
    expect(ownEvents().slice(1)).toEqual([
      'start reading Incus state',
      'info applying 1 change',
      'wait waiting for every container to hold its address',
    ]);
    expect(result.human.split('\n')[0]).toBe('✔ containers: 3 running with their declared addresses (1 change)');
  });

  it('a container that lost its address while nothing is to change is still waited for, and named', async () => {
    await upCommand(options());
    // An image that drops raw.lxc's address and has no DHCP client: after a restart by hand db-b holds no
    // address, which no action repairs.
    t.model.flushing.add('debian12-distctl');
    t.model.dhcpless.add('debian12-distctl');
    await t.incus('restart', 'db-b');
    seen = [];
    await expect(upCommand(options())).rejects.toMatchObject({
      code: 'ADDRESS_TIMEOUT',
      details: ['db-b: want 10.97.0.12, Incus reports Running, no IPv4 on eth0 yet'],
    });
    expect(ownEvents().slice(1)).toEqual([
      'start reading Incus state',
      'wait waiting for every container to hold its address',
    ]);
  });
});

describe('up asks before deleting, and only then', () => {
  beforeEach(async () => {
    await deployment();
    await upCommand(options());
    seen = [];
  });

  it('nothing to delete: no question, even when the answer would be no', async () => {
    await t.incus('stop', 'db-a');
    const result = await upCommand(options(false, true));
    expect(result.exitCode).toBe(0);
    expect(questions).toEqual([]);
    expect(seen).not.toContain('stop');
  });

  it('one container: the spinner stops, the data loss is logged, the question names it; up holds the lock meanwhile', async () => {
    await t.write(PROVISION_TOPOLOGY.replace('  - { name: db-b, ipv4: 10.97.0.12 }\n', ''));
    let lockHolder = '';
    const result = await upCommand(
      options(async () => {
        lockHolder = (
          JSON.parse(await readFile(lockFile(t.stateDirFor('model-unit')), 'utf8')) as {
            command: string;
          }
        ).command;
        return true;
      }, true),
    );
    const lost =
      'db-b: no longer in the topology, so distctl cannot tell which databases it held; whatever it stores is lost';
    expect(questions).toEqual([
      `Delete - container db-b (not in the topology (--prune))? Everything stored in it is lost (${lost}); \`distctl export\` first keeps a copy.`,
    ]);
    expect(lockHolder).toBe('up');
    expect(ownEvents().slice(1)).toEqual([
      'start reading Incus state',
      'stop',
      `info data lost with ${lost}`,
      'info applying 1 change',
      'wait waiting for every container to hold its address',
    ]);
    expect(result.json).toMatchObject({
      ok: true,
      applied: 1,
      actions: ['- container db-b (not in the topology (--prune))'],
    });
  });

  it('two containers: both named in one question about "them"; a "no" changes nothing and says how to go on', async () => {
    await t.write(PROVISION_TOPOLOGY.replace(/ {2}- \{ name: db-.*\n/g, ''));
    const from = t.model.calls.length;
    const error = await upCommand(options(false, true)).catch((caught: unknown) => caught);
    expect(questions).toHaveLength(1);
    expect(questions[0]).toMatch(
      /^Delete - container db-a \(not in the topology \(--prune\)\), - container db-b \(not in the topology \(--prune\)\)\? Everything stored in them is lost \(db-a: .*; db-b: .*\); `distctl export` first keeps a copy\.$/,
    );
    expect(error).toMatchObject({
      code: 'ABORTED',
      message: 'up aborted: deletions were not confirmed; nothing was changed',
      hint: 'Run again and confirm, or pass --yes.',
    });
    expect(t.model.calls.slice(from).filter((argv) => !argv.includes('--format'))).toEqual([]);
    expect(t.model.inventory().instances).toEqual(['model-unit/db-a', 'model-unit/db-b', 'model-unit/web']);
  });
});

describe('the stages after the containers', () => {
  it('a failing databases stage and services stage are each reported with their details and hint; exit 1', async () => {
    await deployment(servicesTopology({ project: 'model-unit', bridge: 'dmodel0', subnet: '10.97.0' }));
    t.model.failOn((argv) => argv.includes('exec'), 'sh: 1: cannot run: No space left on device', Infinity);
    const result = await upCommand(options());
    expect(result.exitCode).toBe(1);
    const json = result.json as {
      ok: boolean;
      failedStages: string[];
      stages: { stage: string; status: string; error?: { code: string; details: string[]; hint: string | null } }[];
    };
    expect(json.ok).toBe(false);
    expect(json.failedStages).toEqual(['databases', 'services']);
    expect(json.stages.map((stage) => [stage.stage, stage.status, stage.error?.code])).toEqual([
      ['containers', 'ok', undefined],
      ['databases', 'failed', 'CONTAINER_COMMAND_FAILED'],
      ['services', 'failed', 'CONTAINER_COMMAND_FAILED'],
    ]);
    const [, databases, services] = json.stages;
    expect(databases?.error?.details).toEqual(['sh: 1: cannot run: No space left on device']);
    expect(databases?.error?.hint).toBeNull();
    const hint = services?.error?.hint ?? '';
    expect(hint).toBe('Check that the container is running (`distctl status`); `distctl up` starts it.');

    const stageEvents = ownEvents().filter((line) => /^\S+ (databases|services):/.test(line));
    expect(stageEvents.map((line) => line.split(':')[0])).toEqual([
      'start databases',
      'fail databases',
      'start services',
      'fail services',
    ]);
    expect(stageEvents[0]).toBe('start databases: converging');
    expect(stageEvents[1]).toBe(`fail databases: ${(databases as { summary?: string }).summary ?? ''}`);
    expect(stageEvents[2]).toBe('start services: converging');
    // Each stage's own progress reaches the terminal.
    expect(seen).toContainEqual({ event: 'start', message: 'db: mongodb user, directories, configs and units' });
    expect(seen).toContainEqual({ event: 'start', message: 'bundling the auth service', subject: 'auth' });

    const lines = result.human.split('\n');
    const at = lines.indexOf('    sh: 1: cannot run: No space left on device');
    expect(lines[at - 1]).toMatch(/^✖ databases: Creating the mongodb user failed in container db \(exit 1\)/);
    expect(lines[at + 1]).toMatch(/^✖ services: reading the deployed services failed in container auth/);
    expect(lines).toContain(`    hint: ${hint}`);
    expect(lines.filter((line) => line.startsWith('    hint:'))).toHaveLength(1);
    expect(lines.at(-1)).toBe(
      'up: 2 stages failed: databases, services (0.0 s). What succeeded is kept; fix the cause and run `distctl up` again.',
    );
    // The services stage bundles both services with esbuild first: tens of seconds on a loaded 2-core machine.
  }, 120_000);
});

describe('import converges the same way and says how to resume', () => {
  beforeEach(() =>
    deployment(`${PROVISION_TOPOLOGY}
mongodb:
  source: image
  standalones:
    - { name: users, container: db-a, port: 27017, database: auth_db, env: DB3_URL }
`),
  );

  it('a failed stage: the resume command names the topology file', async () => {
    t.model.failOn((argv) => argv.includes('exec'), 'sh: 1: cannot run: No space left on device', Infinity);
    const result = await converge(options(), await loadDeployment(t.file), 'import');
    expect(result.exitCode).toBe(1);
    expect(result.human.split('\n').at(-1)).toBe(
      `import: 1 stage failed: databases (0.0 s). What succeeded is kept; fix the cause and run \`distctl up -f ${t.file}\` again.`,
    );
  });
});
