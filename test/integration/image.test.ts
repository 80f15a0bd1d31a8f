// Real-system check of the image `distctl image build` produces: a container from it
// runs systemd as PID 1 and holds the DHCP-reserved address on eth0. Uses its own
// project and bridge and removes both afterwards, even when a check fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecaRunner, type Runner } from '../../src/exec/runner.js';
import { IncusClient } from '../../src/incus/client.js';
import { IMAGE_PROJECT, imageAliasTarget, imageExists } from '../../src/image/index.js';

const IMAGE_ALIAS = 'debian12-distctl';
const PROJECT = 'distctl-itest-image';
const BRIDGE = 'ditimage0';
const GATEWAY_CIDR = '10.213.78.1/24';
const RESERVED_IP = '10.213.78.10';
const INSTANCE = 'itest-image';

const runner: Runner = new ExecaRunner();
const client = new IncusClient(runner);

// `incus network/project create` and `incus init` read YAML from a non-terminal stdin
// and wait for EOF, so every call gets an empty one.
async function incus(...args: string[]): Promise<string> {
  const result = await runner.run({ bin: 'incus', args, input: '', timeoutMs: 120_000 });
  if (result.exitCode !== 0)
    throw new Error(`incus ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Deletes something this test created; "not found" means already gone, anything else is reported. */
async function removeIfPresent(args: string[]): Promise<string | undefined> {
  const result = await runner.run({ bin: 'incus', args, input: '', timeoutMs: 120_000 });
  if (result.exitCode === 0 || /not found/i.test(result.stderr)) return undefined;
  return `incus ${args.join(' ')}: ${result.stderr.trim()}`;
}

async function removeAll(): Promise<string[]> {
  const problems = [
    await removeIfPresent(['delete', '--force', INSTANCE, '--project', PROJECT]),
    await removeIfPresent(['project', 'delete', PROJECT]),
    await removeIfPresent(['network', 'delete', BRIDGE]),
  ];
  return problems.filter((p): p is string => p !== undefined);
}

async function daemonUnavailable(): Promise<string | undefined> {
  try {
    const result = await runner.run({ bin: 'incus', args: ['query', '/1.0'], timeoutMs: 15_000 });
    return result.exitCode === 0
      ? undefined
      : `the Incus daemon does not answer (${result.stderr.trim() || `exit ${result.exitCode}`})`;
  } catch {
    return 'incus is not installed';
  }
}

const skipReason = await daemonUnavailable();
if (skipReason !== undefined) console.log(`integration tier skipped: ${skipReason} (run bin/ensure-incus.sh as root)`);

/** The IPv4 addresses Incus reports on the instance's eth0 (empty until DHCP completes). */
async function eth0Addresses(): Promise<string[]> {
  const [instance] = JSON.parse(await incus('list', INSTANCE, '--project', PROJECT, '--format', 'json')) as {
    state?: { network?: Record<string, { addresses: { family: string; address: string }[] }> | null };
  }[];
  return (instance?.state?.network?.eth0?.addresses ?? []).filter((a) => a.family === 'inet').map((a) => a.address);
}

describe.skipIf(skipReason !== undefined)(`image ${IMAGE_ALIAS} on a live Incus`, () => {
  beforeAll(async () => {
    // A run killed mid-way leaves these behind; start from nothing.
    const leftovers = await removeAll();
    if (leftovers.length > 0) throw new Error(`cannot clear leftovers of an earlier run:\n${leftovers.join('\n')}`);
    await incus('network', 'create', BRIDGE, `ipv4.address=${GATEWAY_CIDR}`, 'ipv4.nat=true', 'ipv6.address=none');
    await incus('project', 'create', PROJECT, '-c', 'features.images=false', '-c', 'features.profiles=false');
  });

  afterAll(async () => {
    const problems = await removeAll();
    if (problems.length > 0) throw new Error(`cleanup left resources behind:\n${problems.join('\n')}`);
  });

  it('the image alias exists in the default project and is visible from a project sharing its images', async () => {
    const exists = await imageExists(client, IMAGE_ALIAS);
    expect(
      exists,
      `image alias ${IMAGE_ALIAS} is missing: build it with \`distctl image build\` (the test command does this first)`,
    ).toBe(true);
    expect(await imageExists(client, 'distctl-no-such-alias')).toBe(false);
    // features.images=false: the project resolves the alias to the default project's image.
    expect(await imageAliasTarget(client, IMAGE_ALIAS, PROJECT)).toBe(
      await imageAliasTarget(client, IMAGE_ALIAS, IMAGE_PROJECT),
    );
  });

  it('a container from it runs systemd as PID 1 and holds its reserved IPv4 on eth0', async () => {
    await incus('init', IMAGE_ALIAS, INSTANCE, '--project', PROJECT);
    await incus(
      'config',
      'device',
      'add',
      INSTANCE,
      'eth0',
      'nic',
      `network=${BRIDGE}`,
      `ipv4.address=${RESERVED_IP}`,
      '--project',
      PROJECT,
    );
    await incus('start', INSTANCE, '--project', PROJECT);

    const started = Date.now();
    let addresses: string[] = [];
    while (Date.now() - started < 60_000) {
      addresses = await eth0Addresses();
      if (addresses.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(addresses).toEqual([RESERVED_IP]);

    expect((await incus('exec', INSTANCE, '--project', PROJECT, '--', 'cat', '/proc/1/comm')).trim()).toBe('systemd');
    // The instance name reaches /etc/hostname through the image's templates.
    expect((await incus('exec', INSTANCE, '--project', PROJECT, '--', 'cat', '/etc/hostname')).trim()).toBe(INSTANCE);
    const state = await runner.run({
      bin: 'incus',
      args: ['exec', INSTANCE, '--project', PROJECT, '--', 'systemctl', 'is-system-running', '--wait'],
      input: '',
      timeoutMs: 120_000,
    });
    expect(state.stdout.trim()).toBe('running');
  });
});
