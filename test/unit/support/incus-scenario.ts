/**
 * One scripted session of `incus` calls, run against the live daemon (to
 * record and re-check test/fixtures/incus/) and against the in-memory model
 * (to check it answers the same). Every call is an argv distctl emits, or a
 * refusal distctl relies on; the session records each JSON answer and each
 * refusal under a stable name.
 */
import { HOST_INTERFACE_RACE } from '../../../src/apply/index.js';
import type { CommandResult } from '../../../src/exec/runner.js';

/** How the session runs incus: the live binary or the model. `settle` waits until a started instance has its lease. */
export interface ScenarioTarget {
  run(args: readonly string[], input?: string): Promise<CommandResult>;
  settle(project: string, name: string): Promise<void>;
}

/** What one session saw: JSON answers by name, and every refusal (exit code and stderr). */
export interface ScenarioRecording {
  readonly json: Record<string, unknown>;
  readonly refusals: Record<string, { readonly exitCode: number; readonly stderr: string }>;
}

/** Names the session uses; unique to this helper's tests so it never meets anyone else's objects. */
export const SCENARIO = {
  project: 'distctl-model-shapes',
  bridge: 'dmodelshp0',
  subnet: '10.231.177',
  missingNetwork: 'dmodelnone0',
  image: 'debian12-distctl',
} as const;

const NAMES = { project: SCENARIO.project, bridge: SCENARIO.bridge } as const;

/** The instance YAML distctl sends on stdin (same keys as plan/calls.ts instanceDefinition). */
function definition(network: string, address: string): string {
  return [
    'config:',
    `  user.distctl.owner: ${NAMES.project}`,
    '  user.distctl.container: c1',
    `  user.distctl.image: ${SCENARIO.image}`,
    'devices:',
    '  eth0:',
    '    type: nic',
    '    name: eth0',
    `    network: ${network}`,
    `    ipv4.address: ${address}`,
    '',
  ].join('\n');
}

/**
 * Runs the session. Successful steps must succeed (else it throws with the
 * message); refusals are recorded whatever they say, so the caller compares them.
 */
export async function runScenario(target: ScenarioTarget): Promise<ScenarioRecording> {
  const { project, bridge } = NAMES;
  const json: Record<string, unknown> = {};
  const refusals: Record<string, { exitCode: number; stderr: string }> = {};
  const p = ['--project', project];
  const must = async (args: readonly string[], input?: string): Promise<string> => {
    let result = await target.run(args, input);
    // Incus 6.0 lists every host interface while it creates a bridge and gives up when one goes away meanwhile
    // (other test files start and stop containers beside this one): that refusal is the host's, not the call's.
    for (let retry = 0; retry < 3 && HOST_INTERFACE_RACE.test(result.stderr); retry += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      result = await target.run(args, input);
    }
    if (result.exitCode !== 0)
      throw new Error(`incus ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    return result.stdout;
  };
  const refused = async (name: string, args: readonly string[], input?: string): Promise<void> => {
    const result = await target.run(args, input);
    // The client sometimes appends where to read the instance log; that advice is not part of the refusal.
    refusals[name] = {
      exitCode: result.exitCode,
      stderr: result.stderr.replace(/^Try `incus info --show-log .*\n/m, ''),
    };
  };
  const record = async (name: string, args: readonly string[]): Promise<unknown> => {
    json[name] = JSON.parse(await must(args));
    return json[name];
  };
  const instance = async (name: string) => {
    const listed = (await record(`list-${name}`, [...p, 'list', '--format', 'json'])) as { name: string }[];
    json[`instance-${name}`] = listed.find((candidate) => candidate.name === 'c1');
    delete json[`list-${name}`];
  };

  await must([
    'project',
    'create',
    project,
    '-c',
    'features.images=false',
    '-c',
    'features.profiles=false',
    '-c',
    'features.networks=false',
    '-c',
    `user.distctl.owner=${project}`,
  ]);
  await refused('project-duplicate', ['project', 'create', project]);
  await must([
    'network',
    'create',
    bridge,
    '--type',
    'bridge',
    `ipv4.address=${SCENARIO.subnet}.1/24`,
    'ipv4.nat=true',
    'ipv4.dhcp=true',
    'ipv6.address=none',
    `user.distctl.owner=${project}`,
  ]);
  await refused('network-duplicate', [
    'network',
    'create',
    bridge,
    '--type',
    'bridge',
    `ipv4.address=${SCENARIO.subnet}.1/24`,
  ]);
  await refused('network-set-missing', ['network', 'set', SCENARIO.missingNetwork, 'ipv4.nat=false']);
  await refused('network-set-unknown-key', ['network', 'set', bridge, 'ipv4.bogus=1']);
  await must([...p, 'create', SCENARIO.image, 'c1'], definition(bridge, `${SCENARIO.subnet}.10`));
  await refused(
    'instance-duplicate',
    [...p, 'create', SCENARIO.image, 'c1'],
    definition(bridge, `${SCENARIO.subnet}.11`),
  );
  await refused(
    'instance-missing-network',
    [...p, 'create', SCENARIO.image, 'c2'],
    definition(SCENARIO.missingNetwork, `${SCENARIO.subnet}.12`),
  );
  await refused('image-missing', [...p, 'create', 'dmodel-no-such-image', 'c3']);
  await must([
    ...p,
    'config',
    'device',
    'add',
    'c1',
    'expose-39177',
    'proxy',
    'listen=tcp:127.0.0.1:39177',
    'connect=tcp:127.0.0.1:3000',
    'bind=host',
  ]);
  await refused('device-duplicate', [
    ...p,
    'config',
    'device',
    'add',
    'c1',
    'expose-39177',
    'proxy',
    'listen=tcp:127.0.0.1:39178',
    'connect=tcp:127.0.0.1:3000',
    'bind=host',
  ]);
  await refused('device-set-missing', [
    ...p,
    'config',
    'device',
    'set',
    'c1',
    'expose-1',
    'listen=tcp:127.0.0.1:39179',
  ]);
  await refused('device-missing-network', [
    ...p,
    'config',
    'device',
    'add',
    'c1',
    'eth1',
    'nic',
    `network=${SCENARIO.missingNetwork}`,
  ]);
  await refused('device-remove-missing', [...p, 'config', 'device', 'remove', 'c1', 'expose-1']);
  await refused('instance-missing', [
    ...p,
    'config',
    'device',
    'set',
    'c9',
    'eth0',
    `ipv4.address=${SCENARIO.subnet}.19`,
  ]);
  await must([
    ...p,
    'config',
    'device',
    'set',
    'c1',
    'expose-39177',
    'listen=tcp:127.0.0.1:39180',
    'connect=tcp:127.0.0.1:3001',
  ]);
  // What `up` does before a container's first start: the ifupdown file from stdin into the stopped container, then
  // raw.lxc (eth0's address, set by LXC at start) and the record in one call; Incus checks raw.lxc's lines.
  await must(
    [...p, 'file', 'push', '--create-dirs', '--mode', '0644', '--', '-', 'c1/etc/network/interfaces'],
    'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet manual\n',
  );
  await must([
    ...p,
    'config',
    'set',
    '--',
    'c1',
    `raw.lxc=lxc.net.0.ipv4.address = ${SCENARIO.subnet}.10/24 ${SCENARIO.subnet}.255\n` +
      `lxc.net.0.ipv4.gateway = ${SCENARIO.subnet}.1\n`,
    `user.distctl.static-ipv4=${SCENARIO.subnet}.10/24 via ${SCENARIO.subnet}.1`,
  ]);
  await refused('raw-lxc-net-key', [...p, 'config', 'set', '--', 'c1', 'raw.lxc=lxc.net.0.link = br0']);
  await refused('raw-lxc-invalid-line', [...p, 'config', 'set', '--', 'c1', 'raw.lxc=lxc.net.0.ipv4.address']);
  await refused('exec-stopped', [...p, 'exec', 'c1', '--', 'true']);
  await refused('stop-stopped', [...p, 'stop', 'c1']);
  await refused('resume-stopped', [...p, 'resume', 'c1']);
  await refused('restart-stopped', [...p, 'restart', 'c1']);
  await instance('stopped');

  await must([...p, 'start', 'c1']);
  await target.settle(project, 'c1');
  await refused('start-running', [...p, 'start', 'c1']);
  await instance('running');
  await refused('delete-running', [...p, 'delete', 'c1']);
  await refused('project-in-use', ['project', 'delete', project]);
  await refused('network-in-use', ['network', 'delete', bridge]);
  const networks = (await record('network-list', ['network', 'list', '--format', 'json'])) as {
    name: string;
    managed: boolean;
  }[];
  json['network-bridge'] = networks.find((network) => network.name === bridge);
  json['network-list-unmanaged'] = networks.filter((network) => !network.managed);
  delete json['network-list'];
  const projects = (await record('project-list', ['project', 'list', '--format', 'json'])) as { name: string }[];
  json['project-owned'] = projects.find((candidate) => candidate.name === project);
  json['project-list'] = projects.filter((candidate) => candidate.name === 'default' || candidate.name === project);
  await must([...p, 'pause', 'c1']);
  await instance('frozen');
  // `start` of a frozen instance resumes it (the daemon does not refuse it); `resume` of a running one is refused.
  await must([...p, 'start', 'c1']);
  await refused('resume-running', [...p, 'resume', 'c1']);
  // What `up` does to a NIC on the wrong network: remove and add it on the running instance, then restart to renew the lease.
  await must([...p, 'config', 'device', 'remove', 'c1', 'eth0']);
  await must([
    ...p,
    'config',
    'device',
    'add',
    'c1',
    'eth0',
    'nic',
    'name=eth0',
    `network=${bridge}`,
    `ipv4.address=${SCENARIO.subnet}.20`,
  ]);
  await must([...p, 'restart', 'c1']);
  await target.settle(project, 'c1');
  await instance('renewed');
  await must([...p, 'delete', '--force', 'c1']);
  await must(['project', 'delete', project]);
  await must(['network', 'delete', bridge]);
  await refused('network-delete-missing', ['network', 'delete', bridge]);
  await refused('project-delete-missing', ['project', 'delete', project]);
  await refused('unknown-command', ['frobnicate']);
  await refused('query-missing', ['query', '/1.0/dmodel-nothing']);
  // The server document carries host addresses and certificates: keep only the keys that say what it is.
  const server = JSON.parse(await must(['query', '/1.0'])) as Record<string, unknown>;
  json.server = Object.fromEntries(['api_status', 'api_version', 'auth', 'public'].map((key) => [key, server[key]]));
  await record('profile-default', ['query', '/1.0/profiles/default']);
  await record('storage-list', ['storage', 'list', '--format', 'json']);
  const images = (await record('image-list', ['image', 'list', '--format', 'json'])) as {
    aliases: { name: string }[] | null;
  }[];
  json.image = images.find((image) => (image.aliases ?? []).some((alias) => alias.name === SCENARIO.image));
  delete json['image-list'];
  return { json, refusals };
}

/**
 * Differences in shape (keys and JSON types, recursively) between two
 * answers. Objects whose values are all strings (config maps, device
 * properties) compare as string maps; an empty array matches any array.
 */
export function shapeDifferences(expected: unknown, actual: unknown, path = '$'): string[] {
  const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
  if (kind(expected) !== kind(actual)) return [`${path}: ${kind(expected)} expected, ${kind(actual)} found`];
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length === 0 || actual.length === 0) return [];
    return actual.flatMap((item, index) => shapeDifferences(expected[0], item, `${path}[${index}]`));
  }
  if (kind(expected) !== 'object') return [];
  const a = expected as Record<string, unknown>;
  const b = actual as Record<string, unknown>;
  const stringMap = (value: Record<string, unknown>) => Object.values(value).every((item) => typeof item === 'string');
  if (stringMap(a) && stringMap(b)) return [];
  const differences: string[] = [];
  for (const key of Object.keys(a)) if (!(key in b)) differences.push(`${path}.${key}: missing`);
  for (const key of Object.keys(b)) if (!(key in a)) differences.push(`${path}.${key}: not in the daemon's answer`);
  for (const key of Object.keys(a))
    if (key in b) differences.push(...shapeDifferences(a[key], b[key], `${path}.${key}`));
  return differences;
}
