// A stateful stand-in for the incus binary, just enough for export and import:
// projects, networks and instances as Incus lists them; `import` adds the
// instance its backup describes, `export` writes a backup as Incus would.
// Like the real one, it refuses to create what exists and to import into a
// project or over an instance that is there already.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { stringify } from 'yaml';
import type { CommandSpec } from '../../../src/exec/runner.js';
import { IncusClient } from '../../../src/incus/client.js';
import type { IncusInstance, IncusNetwork, IncusProject } from '../../../src/incus/types.js';
import { STATIC_ADDRESS_KEY } from '../../../src/plan/static-address.js';
import { ScriptedRunner, type Reply } from '../support/scripted-runner.js';

/** The instance definition a backup carries (what `incus export` writes into index.yaml and backup.yaml). */
export interface BackupInstance {
  readonly config: Record<string, string>;
  readonly devices: Record<string, Record<string, string>>;
}

/** Writes an Incus-style backup tarball (gzip) whose descriptors describe `instance`. */
export async function writeBackup(
  path: string,
  name: string,
  instance: BackupInstance,
  extra: { readonly name: string; readonly text: string }[] = [],
): Promise<void> {
  const tar = pack();
  const container = {
    name,
    architecture: 'x86_64',
    config: instance.config,
    devices: instance.devices,
    profiles: ['default'],
    type: 'container',
  };
  tar.entry(
    { name: 'backup/index.yaml' },
    stringify({ name, backend: 'btrfs', pool: 'default', type: 'container', config: { container } }),
  );
  tar.entry({ name: 'backup/container/backup.yaml' }, stringify({ container }));
  tar.entry({ name: 'backup/container/rootfs/root/marker' }, 'data of the container\n');
  for (const file of extra) tar.entry({ name: file.name }, file.text);
  tar.finalize();
  await pipeline(tar, createGzip(), createWriteStream(path));
}

/**
 * What distctl gives an instance it creates: its marks, the record of its static address (the tests' bridges are
 * /24s with the gateway at .1), eth0 on the bridge, the declared proxies.
 */
export function distctlInstance(
  project: string,
  name: string,
  network: string,
  ipv4: string,
  devices: Record<string, Record<string, string>> = {},
): BackupInstance {
  return {
    config: {
      'user.distctl.owner': project,
      'user.distctl.container': name,
      'user.distctl.image': 'debian12-distctl',
      [STATIC_ADDRESS_KEY]: `${ipv4}/24 via ${ipv4.replace(/\.\d+$/, '.1')}`,
      'raw.lxc': `lxc.net.0.ipv4.address = ${ipv4}/24 ${ipv4.replace(/\.\d+$/, '.255')}\nlxc.net.0.ipv4.gateway = ${ipv4.replace(/\.\d+$/, '.1')}\n`,
      'volatile.base_image': 'abc',
    },
    devices: { eth0: { type: 'nic', name: 'eth0', network, 'ipv4.address': ipv4 }, ...devices },
  };
}

export class FakeIncus {
  readonly projects: IncusProject[] = [];
  readonly networks: IncusNetwork[] = [];
  readonly instances = new Map<string, IncusInstance>();
  readonly runner: ScriptedRunner;
  readonly client: IncusClient;
  /** What `export NAME PATH` writes, by instance name. */
  readonly backups = new Map<string, BackupInstance>();

  constructor() {
    this.runner = new ScriptedRunner((cmd) => this.answer(cmd));
    this.client = new IncusClient(this.runner);
  }

  /** Calls that changed something (everything but reads). */
  changes(): string[] {
    return this.runner
      .lines()
      .filter((line) => !/ (list|query) /.test(`${line} `) && !line.endsWith(' list --format json'));
  }

  private answer(cmd: CommandSpec): Reply {
    if (cmd.bin !== 'incus') return undefined;
    const args = [...cmd.args];
    let project = 'default';
    if (args[0] === '--project') {
      project = args[1]!;
      args.splice(0, 2);
    }
    const positional = args.slice(args.indexOf('--') + 1);
    const verb = args.slice(0, args.indexOf('--') === -1 ? args.length : args.indexOf('--')).join(' ');
    if (verb === 'project list --format json') return { stdout: JSON.stringify(this.projects) };
    if (verb === 'query /1.0/profiles/default')
      return {
        stdout: JSON.stringify({ name: 'default', devices: { root: { type: 'disk', path: '/', pool: 'default' } } }),
      };
    if (verb === 'profile device add') {
      const found = this.projects.find((candidate) => candidate.name === project);
      // Like Incus: a project without its own profiles has no default profile of its own to change.
      if (found?.config['features.profiles'] !== 'true') return { exitCode: 1, stderr: 'Error: Profile not found' };
      return {};
    }
    if (verb === 'network list --format json') return { stdout: JSON.stringify(this.networks) };
    if (verb === 'list --format json')
      return {
        stdout: JSON.stringify([...this.instances.values()].filter((instance) => instance.project === project)),
      };
    if (verb.startsWith('project create')) {
      const name = positional[0]!;
      if (this.projects.some((candidate) => candidate.name === name))
        return { exitCode: 1, stderr: 'Error: Project already exists' };
      const config = Object.fromEntries(
        args.flatMap((arg, index) => (args[index - 1] === '-c' ? [arg.split('=') as [string, string]] : [])),
      );
      this.projects.push({ name, description: '', config, used_by: [] });
      return {};
    }
    if (verb === 'project set') {
      const found = this.projects.find((candidate) => candidate.name === positional[0]);
      if (!found) return { exitCode: 1, stderr: 'Error: Project not found' };
      if (positional.includes('restricted=true') && found.config['features.profiles'] !== 'true')
        return { exitCode: 1, stderr: 'Error: Projects without their own profiles cannot be restricted' };
      for (const pair of positional.slice(1)) {
        const [key, value] = pair.split('=') as [string, string];
        (found.config as Record<string, string>)[key] = value;
      }
      return {};
    }
    if (verb.startsWith('network create')) {
      const [name, ...pairs] = positional;
      this.networks.push({
        name: name!,
        type: 'bridge',
        managed: true,
        description: '',
        config: Object.fromEntries(pairs.map((pair) => pair.split('=') as [string, string])),
        used_by: [],
      });
      return {};
    }
    if (verb.startsWith('import')) {
      const [path, name] = positional;
      if (!this.projects.some((candidate) => candidate.name === project))
        return { exitCode: 1, stderr: 'Error: Project not found' };
      if (this.instances.has(name!)) return { exitCode: 1, stderr: 'Error: Instance already exists' };
      this.imported.push({ name: name!, path: path! });
      return this.importInstance(project, name!);
    }
    if (verb.startsWith('export')) {
      const [name, path] = positional;
      const backup = this.backups.get(name!);
      if (!backup) return { exitCode: 1, stderr: 'Error: Instance not found' };
      return writeBackup(path!, name!, backup).then(() => ({}));
    }
    if (verb === 'start' || verb === 'stop') return {};
    if (verb === 'delete --force')
      return this.instances.delete(positional[0]!) ? {} : { exitCode: 1, stderr: 'Error: Instance not found' };
    if (verb === 'network delete') {
      const at = this.networks.findIndex((network) => network.name === positional[0]);
      return at === -1 ? { exitCode: 1, stderr: 'Error: Network not found' } : (this.networks.splice(at, 1), {});
    }
    if (verb === 'project delete') {
      if ([...this.instances.values()].some((instance) => instance.project === positional[0]))
        return { exitCode: 1, stderr: 'Error: Only empty projects can be removed' };
      const at = this.projects.findIndex((candidate) => candidate.name === positional[0]);
      return at === -1 ? { exitCode: 1, stderr: 'Error: Project not found' } : (this.projects.splice(at, 1), {});
    }
    return undefined;
  }

  /** Backup files `import` was given, with the instance names. */
  readonly imported: { name: string; path: string }[] = [];

  private importInstance(project: string, name: string): Reply {
    const backup = this.backups.get(name);
    if (!backup) return { exitCode: 1, stderr: 'Error: backup not understood by the fake' };
    const ipv4 = backup.devices.eth0?.['ipv4.address'] ?? '';
    this.instances.set(name, {
      name,
      project,
      status: 'Running',
      type: 'container',
      config: backup.config,
      devices: backup.devices,
      state: {
        status: 'Running',
        network: { eth0: { addresses: [{ family: 'inet', address: ipv4, netmask: '24', scope: 'global' }] } },
      },
    });
    return {};
  }
}
