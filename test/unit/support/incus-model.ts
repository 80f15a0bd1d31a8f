/**
 * An in-memory Incus for the unit tier. It plugs in where distctl runs the
 * `incus` binary (the `Runner` seam under `IncusClient`) and executes the exact
 * argv distctl emits: project/network create/set/delete, `create` with the
 * instance YAML on stdin, `config device add/set/remove`, start/stop/restart/
 * pause/resume/delete, `exec`, `file push`, `query`, and the `--format json`
 * listings. It answers in the JSON shapes recorded from a live daemon
 * (test/fixtures/incus/, re-checked by test/integration/incus-model.test.ts)
 * and refuses what the daemon refuses, with its messages and exit code 1.
 * Argv the real CLI would accept but the model does not know throws: a test
 * must never pass because the model guessed.
 *
 * It can stand for a remote (`new IncusModel({ remote: 'cl' })`: every call must then address `cl:`, as
 * distctl's calls do when `incus.remote` is set) and for a cluster (`members`): `cluster list`, instance
 * `location`, `create --target`, Incus's own placement (the online member with the fewest instances),
 * per-member network definitions before the final create, and members going Offline or Evacuated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CommandResult, CommandSpec, Runner } from '../../../src/exec/runner.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import { WRITE_FILE_SCRIPT } from '../../../src/incus/container-ops.js';
import { parseIpv4, parseSubnet, subnetContains } from '../../../src/topology/ipv4.js';

type Json = Record<string, unknown>;
type Config = Record<string, string>;

/** Where the recorded daemon answers live; the model copies every key it does not model from them. */
export const FIXTURE_DIR = join(import.meta.dirname, '../../fixtures/incus');

/** A recorded fixture file, parsed. */
export function fixture<T = Json>(name: string): T {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')) as T;
}

interface Project {
  name: string;
  description: string;
  config: Config;
}

interface Network {
  name: string;
  type: string;
  managed: boolean;
  description: string;
  config: Config;
  /** Cluster members the network is defined on while it is Pending (before the final create); null: Created. */
  pending: string[] | null;
}

/** A cluster member's state as `incus cluster list` reports it. */
export type MemberStatus = 'Online' | 'Offline' | 'Evacuated';

interface Member {
  name: string;
  status: MemberStatus;
}

export type InstanceStatus = 'Running' | 'Stopped' | 'Frozen';

interface Instance {
  name: string;
  project: string;
  status: InstanceStatus;
  config: Config;
  devices: Record<string, Config>;
  /** The IPv4 address eth0 holds: taken at start (static file or DHCP), kept until the next start. */
  lease: string | null;
  /** Files written with `file push` from stdin, by absolute path (the instance's own filesystem, running or not). */
  files: Record<string, string>;
  created: number;
  /** The cluster member it lives on; `none` on a server that is not clustered. */
  location: string;
}

/** Thrown for argv the real CLI accepts but the model does not implement: extend the model, never guess. */
export class IncusModelUnsupported extends Error {
  constructor(argv: readonly string[]) {
    super(`IncusModel: argv not modelled: incus ${argv.join(' ')}`);
    this.name = 'IncusModelUnsupported';
  }
}

/** A refusal, as the daemon words it; becomes `Error: ...` on stderr with exit 1. */
class Refused extends Error {}

const STATUS_CODE: Record<InstanceStatus, number> = { Running: 103, Stopped: 102, Frozen: 110 };
const BRIDGE_KEYS = new Set([
  'ipv4.address',
  'ipv4.nat',
  'ipv4.dhcp',
  'ipv4.dhcp.ranges',
  'ipv6.address',
  'ipv6.nat',
  'ipv6.dhcp',
  'dns.domain',
  'dns.mode',
  'bridge.mtu',
  'ipv4.firewall',
  'ipv6.firewall',
  'bridge.hwaddr',
]);
/** The bridge's VXLAN tunnel keys (`tunnel.NAME.KEY`). */
const TUNNEL_KEY = /^tunnel\.[^.]+\.(protocol|local|remote|port|group|id|interface|ttl)$/;
/** Bridge keys a member-specific (`--target`) network definition may carry; everything else is global. */
const MEMBER_SPECIFIC_KEYS = new Set(['bridge.external_interfaces', 'parent']);
const MEMBER_MESSAGE: Record<MemberStatus, string> = {
  Online: 'Fully operational',
  Offline: 'No heartbeat for 1m0s (2026-11-28 12:00:00 +0000 UTC)',
  Evacuated: 'Unavailable due to maintenance',
};
const PROJECT_KEYS =
  /^(features\.(images|profiles|networks|networks\.zones|storage\.volumes|storage\.buckets)|limits\..+|restricted(\..+)?)$/;

function clone<T>(value: T): T {
  return structuredClone(value);
}

function keyValues(args: readonly string[]): Config {
  const config: Config = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    if (at <= 0) throw new Refused(`Bad key/value pair: ${arg}`);
    config[arg.slice(0, at)] = arg.slice(at + 1);
  }
  return config;
}

/**
 * The model. `run` is the Runner seam; tests also use `incus(...)` to make the
 * changes a person would make by hand (drift), and the inspection helpers to
 * assert what exists.
 */
export class IncusModel implements Runner {
  /** Every argv run, without the binary name, in order. */
  readonly calls: string[][] = [];
  /** Images `create` can use (local aliases, or remote names like `images:ubuntu/22.04`). */
  readonly images = new Set<string>();
  /** Images without a DHCP client: their containers never get an address (an image `up` must time out on). */
  readonly dhcpless = new Set<string>();
  /**
   * Images whose eth0 is configured by ifupdown from /etc/network/interfaces (distctl's own builds): a static
   * stanza for eth0 there gives the container its address at boot without DHCP. Other images ignore that file.
   */
  readonly ifupdown = new Set<string>();
  /**
   * Images whose network manager removes the addresses it did not configure itself (systemd-networkd does by
   * default): the address raw.lxc puts on eth0 is gone once they boot, and only their own DHCP or file counts.
   */
  readonly flushing = new Set<string>();
  /** What runs inside containers: `exec` and `file push` are handed to it (strict fakes refuse the unknown). */
  inside: ContainerOps | null = null;
  /** Told every time an instance stops or starts (its processes go and come with it): fakes of what runs inside. */
  onPower: ((name: string, running: boolean) => void) | null = null;
  /** Instances an evacuation stopped (`project/name`), which `cluster restore` starts again. */
  private readonly evacuated = new Set<string>();

  private readonly projects = new Map<string, Project>();
  private readonly networks = new Map<string, Network>();
  private readonly instances = new Map<string, Instance>();
  private readonly failures: {
    readonly when: (argv: readonly string[]) => boolean;
    readonly stderr: string;
    times: number;
  }[] = [];
  private created = 0;
  private readonly templates = {
    instance: fixture<Json>('instance-running'),
    stopped: fixture<Json>('instance-stopped'),
    bridge: fixture<Json>('network-bridge'),
    project: fixture<Json>('project-owned'),
    server: fixture<Json>('server'),
    profile: fixture<Json>('profile-default'),
    storage: fixture<Json[]>('storage-list'),
    image: fixture<Json>('image'),
  };

  /** The remote name calls must address (`NAME:`), or null: the client's default server. */
  private readonly remote: string | null;
  /** The cluster's members by name; null when the server is not clustered. */
  private readonly members: Map<string, Member> | null;

  constructor(options: { images?: readonly string[]; remote?: string; members?: readonly string[] } = {}) {
    this.remote = options.remote ?? null;
    this.members =
      options.members === undefined
        ? null
        : new Map(options.members.map((name) => [name, { name, status: 'Online' as MemberStatus }]));
    const defaults = fixture<Json[]>('project-list').find((project) => project.name === 'default');
    this.projects.set('default', {
      name: 'default',
      description: String(defaults?.description ?? ''),
      config: { ...(defaults?.config as Config) },
    });
    for (const network of fixture<Json[]>('network-list-unmanaged')) {
      this.networks.set(String(network.name), {
        name: String(network.name),
        type: String(network.type),
        managed: false,
        description: '',
        config: {},
        pending: null,
      });
    }
    for (const image of options.images ?? []) this.images.add(image);
  }

  /** A member's state changes (a host lost, back, or evacuated for maintenance). */
  setMemberStatus(name: string, status: MemberStatus): void {
    const member = this.members?.get(name);
    if (member === undefined) throw new Error(`IncusModel: no cluster member ${name}`);
    member.status = status;
  }

  /** Moves an instance to another member behind distctl's back (placement drift, as `incus move --target` does). */
  moveInstance(project: string, name: string, member: string): void {
    const instance = this.instances.get(`${project}/${name}`);
    if (instance === undefined || !this.members?.has(member)) throw new Error(`IncusModel: cannot move ${name}`);
    instance.location = member;
  }

  /**
   * Takes the remote prefix off every object a call names (`cl:db1` → `db1`, a listing's `cl:` → nothing),
   * and refuses a call that does not address the remote the model stands for, or addresses another one.
   */
  private local(args: readonly string[], argv: readonly string[]): string[] {
    // After `exec NAME --` comes the command run inside the container: not Incus's to read.
    const end = args[0] === 'exec' ? args.indexOf('--') : args.length;
    const prefix = this.remote === null ? null : `${this.remote}:`;
    let addressed = false;
    const out: string[] = [];
    args.forEach((arg, index) => {
      if (prefix !== null && index < end && arg.startsWith(prefix)) {
        addressed = true;
        if (arg !== prefix) out.push(arg.slice(prefix.length));
      } else out.push(arg);
    });
    // `create IMAGE NAME`: the image may come from anywhere, the instance is made on the remote.
    const created = args[0] === 'create' ? args.at(-1) : undefined;
    if (prefix !== null && ((!addressed && args[0] !== 'version') || created?.startsWith(prefix) === false))
      throw new Error(`IncusModel: \`incus ${argv.join(' ')}\` does not address remote ${this.remote}:`);
    return out;
  }

  /** Makes the next `times` calls matching `when` fail with `stderr` (exit 1), as a flaky or full daemon would. */
  failOn(when: (argv: readonly string[]) => boolean, stderr: string, times = 1): void {
    this.failures.push({ when, stderr, times });
  }

  /** Argv the model refused to guess at; kept so a caller that swallows the exception cannot hide it (see `TestDeployment.cleanup`). */
  readonly unmodelled: string[] = [];

  async run(cmd: CommandSpec): Promise<CommandResult> {
    try {
      return await this.runModelled(cmd);
    } catch (error) {
      if (error instanceof IncusModelUnsupported) this.unmodelled.push(error.message);
      throw error;
    }
  }

  private async runModelled(cmd: CommandSpec): Promise<CommandResult> {
    if (cmd.bin !== 'incus') throw new IncusModelUnsupported([cmd.bin, ...cmd.args]);
    this.calls.push([...cmd.args]);
    const failure = this.failures.find((candidate) => candidate.times > 0 && candidate.when(cmd.args));
    if (failure) {
      failure.times -= 1;
      return {
        exitCode: 1,
        stdout: '',
        stderr: failure.stderr.endsWith('\n') ? failure.stderr : `${failure.stderr}\n`,
        timedOut: false,
      };
    }
    try {
      return await this.execute(cmd.args, cmd.input);
    } catch (error) {
      if (error instanceof Refused)
        return { exitCode: 1, stdout: '', stderr: `Error: ${error.message}\n`, timedOut: false };
      throw error;
    }
  }

  /** Runs argv as a person at a shell would (drift, foreign objects); throws when incus refuses. */
  async incus(args: readonly string[], input?: string): Promise<string> {
    const result = await this.run({ bin: 'incus', args, ...(input === undefined ? {} : { input }) });
    if (result.exitCode !== 0) throw new Error(`incus ${args.join(' ')}: ${result.stderr.trim()}`);
    return result.stdout;
  }

  /** Names of every project, network (managed ones) and instance (`project/name`) that exist now. */
  inventory(): { projects: string[]; networks: string[]; instances: string[] } {
    return {
      projects: [...this.projects.keys()].sort(),
      networks: [...this.networks.values()]
        .filter((network) => network.managed)
        .map((network) => network.name)
        .sort(),
      instances: [...this.instances.keys()].sort(),
    };
  }

  /** An instance's modelled state (a copy), or undefined. */
  instance(project: string, name: string): Readonly<Instance> | undefined {
    const found = this.instances.get(`${project}/${name}`);
    return found === undefined ? undefined : clone(found);
  }

  /** A network's config (a copy), or undefined. */
  networkConfig(name: string): Config | undefined {
    const found = this.networks.get(name);
    return found === undefined ? undefined : { ...found.config };
  }

  private async execute(argv: readonly string[], input: string | Uint8Array | undefined): Promise<CommandResult> {
    let args = [...argv];
    let project = 'default';
    if (args[0] === '--project') {
      project = args[1] ?? '';
      args = args.slice(2);
    }
    args = this.local(args, argv);
    // `--` ends the options (distctl puts it before names that could start with a dash): what follows is
    // positional, so a flag after it would be taken as a name by the real CLI — the model refuses to guess.
    const end = args.indexOf('--');
    if (args[0] !== 'exec' && end >= 0) {
      const positional = args.slice(end + 1);
      // `file push -- - NAME/PATH`: a lone dash is the CLI's name for stdin, not an option.
      const stdin = (arg: string, index: number) => arg === '-' && index === 0 && args[0] === 'file';
      if (positional.some((arg, index) => arg.startsWith('-') && !stdin(arg, index))) {
        throw new IncusModelUnsupported(argv);
      }
      // The parsers below read the order the CLI prints in its usage: the words of the command, the names, then
      // the options (`network create NAME --type bridge KEY=VALUE...`). Options before `--` are moved behind the names.
      const before = args.slice(0, end);
      const firstOption = before.findIndex((arg) => arg.startsWith('-'));
      const words = firstOption === -1 ? before : before.slice(0, firstOption);
      const options = firstOption === -1 ? [] : before.slice(firstOption);
      const [name, ...others] = positional;
      const command = words.join(' ');
      args =
        command === 'network create' && name !== undefined
          ? [...words, name, ...options, ...others]
          : command === 'project create' || command === 'create'
            ? [...words, ...positional, ...options]
            : [...before, ...positional];
    }
    const [verb, ...rest] = args;
    const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
    const json = (value: unknown): CommandResult => ok(`${JSON.stringify(value)}\n`);
    const wantsJson = (tail: readonly string[]) => {
      if (tail.join(' ') !== '--format json') throw new IncusModelUnsupported(argv);
    };
    switch (verb) {
      case 'project':
        return this.projectCommand(rest, argv, ok, json, wantsJson);
      case 'network':
        return this.networkCommand(rest, argv, ok, json, wantsJson);
      case 'list':
        wantsJson(rest);
        return json(this.instanceList(project));
      case 'create':
        return ok(this.create(project, rest, input, argv));
      case 'config':
        if (rest[0] === 'set') return ok(this.configSet(project, rest.slice(1), argv));
        if (rest[0] !== 'device') throw new IncusModelUnsupported(argv);
        return ok(this.device(project, rest.slice(1), argv));
      case 'start':
      case 'stop':
      case 'restart':
      case 'pause':
      case 'resume':
        return ok(this.lifecycle(project, verb, rest, argv));
      case 'delete':
        return ok(this.delete(project, rest, argv));
      case 'exec':
        return this.exec(project, rest, input, argv);
      case 'file':
        return ok(await this.push(project, rest, input, argv));
      case 'image':
        if (rest[0] !== 'list') throw new IncusModelUnsupported(argv);
        wantsJson(rest.slice(1));
        return json(
          [...this.images]
            .filter((image) => !image.includes(':'))
            .map((alias, index) => ({
              ...clone(this.templates.image),
              fingerprint: `${index + 1}`.padStart(64, 'f'),
              aliases: [{ name: alias, description: '' }],
            })),
        );
      case 'cluster': {
        if (rest[0] === 'evacuate' || rest[0] === 'restore') return ok(this.maintenance(rest, argv));
        if (rest[0] !== 'list') throw new IncusModelUnsupported(argv);
        wantsJson(rest.slice(1));
        if (this.members === null) throw new Refused("Server isn't part of a cluster");
        return json([...this.members.values()].map((member) => this.memberJson(member)));
      }
      case 'storage':
        if (rest[0] !== 'list') throw new IncusModelUnsupported(argv);
        wantsJson(rest.slice(1));
        return json(clone(this.templates.storage));
      case 'query':
        if (rest.length !== 1) throw new IncusModelUnsupported(argv);
        if (rest[0] === '/1.0') return json(clone(this.templates.server));
        if (rest[0] === '/1.0/profiles/default') return json(clone(this.templates.profile));
        throw new Refused('not found');
      case 'version':
        return ok('Client version: 6.0.4\nServer version: 6.0.4\n');
      default:
        throw new Refused(`unknown command "${verb ?? ''}" for "incus"`);
    }
  }

  private projectCommand(
    rest: string[],
    argv: readonly string[],
    ok: (s?: string) => CommandResult,
    json: (v: unknown) => CommandResult,
    wantsJson: (t: readonly string[]) => void,
  ): CommandResult {
    const [sub, name = '', ...tail] = rest;
    switch (sub) {
      case 'list':
        wantsJson([name, ...tail]);
        return json([...this.projects.values()].map((project) => this.projectJson(project)));
      case 'create': {
        const config: Config = {};
        for (let index = 0; index < tail.length; index += 2) {
          if (tail[index] !== '-c') throw new IncusModelUnsupported(argv);
          Object.assign(config, keyValues([tail[index + 1] ?? '']));
        }
        this.checkProjectKeys(config);
        if (this.projects.has(name))
          throw new Refused(
            `Failed creating project "${name}": Failed adding database record: Failed to create "projects" entry: UNIQUE constraint failed: projects.name`,
          );
        // The daemon fills in the features it is not told about.
        this.projects.set(name, {
          name,
          description: '',
          config: {
            'features.images': 'true',
            'features.networks': 'true',
            'features.profiles': 'true',
            'features.storage.buckets': 'true',
            'features.storage.volumes': 'true',
            ...config,
          },
        });
        return ok(`Project ${name} created\n`);
      }
      case 'set': {
        const project = this.requireProject(name);
        const config = keyValues(tail);
        this.checkProjectKeys(config);
        Object.assign(project.config, config);
        return ok();
      }
      case 'delete': {
        if (tail.length > 0) throw new IncusModelUnsupported(argv);
        if (name === 'default') throw new Refused("The 'default' project cannot be deleted");
        this.requireProject(name);
        if (this.projectUsers(name).length > 0) throw new Refused('Only empty projects can be removed.');
        this.projects.delete(name);
        return ok(`Project ${name} deleted\n`);
      }
      default:
        throw new IncusModelUnsupported(argv);
    }
  }

  private networkCommand(
    rest: string[],
    argv: readonly string[],
    ok: (s?: string) => CommandResult,
    json: (v: unknown) => CommandResult,
    wantsJson: (t: readonly string[]) => void,
  ): CommandResult {
    const [sub, name = '', ...tail] = rest;
    switch (sub) {
      case 'list':
        wantsJson([name, ...tail]);
        return json(
          [...this.networks.values()]
            .sort((a, b) => Number(b.managed) - Number(a.managed))
            .map((network) => this.networkJson(network)),
        );
      case 'create': {
        if (tail[0] !== '--type' || tail[1] !== 'bridge') throw new IncusModelUnsupported(argv);
        if (tail[2] === '--target') return ok(this.defineOnMember(name, tail[3] ?? '', keyValues(tail.slice(4))));
        const config = keyValues(tail.slice(2));
        this.checkBridgeKeys(name, config);
        const existing = this.networks.get(name);
        if (existing !== undefined && existing.pending === null) throw new Refused(`Network "${name}" already exists`);
        if (this.members !== null) {
          // A cluster creates a network only once every member has its definition (`--target`).
          if (existing === undefined) throw new Refused('Network not pending on any node (use --target <node> first)');
          const missing = [...this.members.keys()].filter((member) => !existing.pending?.includes(member));
          if (missing.length > 0) throw new Refused(`Network not defined on nodes: ${missing.join(', ')}`);
        }
        this.networks.set(name, {
          name,
          type: 'bridge',
          managed: true,
          description: '',
          config: { 'ipv4.address': '10.0.0.1/24', 'ipv4.nat': 'true', 'ipv6.address': 'none', ...config },
          pending: null,
        });
        return ok(`Network ${name} created\n`);
      }
      case 'set': {
        const network = this.networks.get(name);
        if (network === undefined) throw new Refused('Network not found');
        if (!network.managed) throw new Refused(`Only managed networks can be modified`);
        const config = keyValues(tail);
        this.checkBridgeKeys(name, config);
        Object.assign(network.config, config);
        return ok();
      }
      case 'delete': {
        if (tail.length > 0) throw new IncusModelUnsupported(argv);
        const network = this.networks.get(name);
        if (network === undefined || !network.managed) throw new Refused('Failed loading network: Network not found');
        if (this.networkUsers(name).length > 0) throw new Refused('The network is currently in use');
        this.networks.delete(name);
        return ok(`Network ${name} deleted\n`);
      }
      default:
        throw new IncusModelUnsupported(argv);
    }
  }

  /** `network create NAME --target MEMBER`: the member's definition, pending until the final create. */
  private defineOnMember(name: string, member: string, config: Config): string {
    if (this.members === null) throw new Refused('Cluster member not found');
    if (!this.members.has(member)) throw new Refused('Member not found');
    for (const key of Object.keys(config)) {
      if (!MEMBER_SPECIFIC_KEYS.has(key))
        throw new Refused(`Config key "${key}" may not be used as member-specific key`);
    }
    const existing = this.networks.get(name);
    if (existing !== undefined && existing.pending === null) throw new Refused(`Network "${name}" already exists`);
    if (existing?.pending?.includes(member)) throw new Refused(`The network already defined on member "${member}"`);
    const network = existing ?? {
      name,
      type: 'bridge',
      managed: true,
      description: '',
      config: {},
      pending: [],
    };
    network.pending = [...(network.pending ?? []), member];
    this.networks.set(name, network);
    return `Network ${name} pending on member ${member}\n`;
  }

  private create(
    project: string,
    rest: string[],
    input: string | Uint8Array | undefined,
    argv: readonly string[],
  ): string {
    const [image = '', name = '', ...tail] = rest;
    if (tail.length > 0 && !(tail[0] === '--target' && tail.length === 2)) throw new IncusModelUnsupported(argv);
    const location = this.placeInstance(tail[0] === '--target' ? (tail[1] ?? '') : null);
    this.requireProject(project);
    if (!this.images.has(image)) throw new Refused(`Image "${image}" not found`);
    const definition = (
      input === undefined
        ? {}
        : (parseYaml(typeof input === 'string' ? input : Buffer.from(input).toString('utf8')) ?? {})
    ) as { config?: Config; devices?: Record<string, Config> };
    const devices = clone(definition.devices ?? {});
    if (this.instances.has(`${project}/${name}`)) {
      throw new Refused(
        'Failed creating instance record: Add instance info to the database: Failed to create "instances" entry: UNIQUE constraint failed: instances.project_id, instances.name',
      );
    }
    for (const [device, config] of Object.entries(devices))
      this.checkDevice(device, config, 'Failed creating instance record: Failed initializing instance: ');
    this.instances.set(`${project}/${name}`, {
      name,
      project,
      status: 'Stopped',
      config: { ...definition.config, 'volatile.base_image': image },
      devices,
      lease: null,
      files: {},
      created: this.created++,
      location,
    });
    return `Creating ${name}\n`;
  }

  /** The member a new instance goes to: the target, or Incus's choice (the online member with fewest instances). */
  private placeInstance(target: string | null): string {
    if (this.members === null) {
      if (target !== null) throw new Refused('Target only allowed when clustered');
      return 'none';
    }
    if (target !== null) {
      const member = this.members.get(target);
      if (member === undefined) throw new Refused('Member not found');
      if (member.status !== 'Online')
        throw new Refused(`Target cluster member "${target}" is ${member.status.toLowerCase()}`);
      return target;
    }
    const load = (member: string) => [...this.instances.values()].filter((instance) => instance.location === member);
    const online = [...this.members.values()]
      .filter((member) => member.status === 'Online')
      .map((member) => member.name)
      .sort((a, b) => load(a).length - load(b).length || a.localeCompare(b));
    if (online[0] === undefined) throw new Refused('No cluster member is available');
    return online[0];
  }

  /** Refuses to act on an instance whose member is not reachable (the request is forwarded to it). */
  private reachable(instance: Instance): Instance {
    const member = this.members?.get(instance.location);
    if (member !== undefined && member.status === 'Offline')
      throw new Refused(`Unable to connect to cluster member "${member.name}"`);
    return instance;
  }

  /** `config set NAME KEY=VALUE...`: user keys only (the model knows no other instance keys' validation). */
  private configSet(project: string, rest: string[], argv: readonly string[]): string {
    const [name = '', ...pairs] = rest;
    const config = keyValues(pairs);
    if (pairs.length === 0 || Object.keys(config).some((key) => !key.startsWith('user.') && key !== 'raw.lxc'))
      throw new IncusModelUnsupported(argv);
    const instance = this.requireInstance(project, name);
    if (config['raw.lxc'] !== undefined) checkRawLxc(config['raw.lxc']);
    Object.assign(instance.config, config);
    return '';
  }

  private device(project: string, rest: string[], argv: readonly string[]): string {
    const [sub, name = '', device = '', ...tail] = rest;
    const instance = this.requireInstance(project, name);
    switch (sub) {
      case 'add': {
        const [type = '', ...pairs] = tail;
        const config = { type, ...keyValues(pairs) };
        if (instance.devices[device] !== undefined) throw new Refused('The device already exists');
        this.checkDevice(device, config, '');
        instance.devices[device] = config;
        return `Device ${device} added to ${name}\n`;
      }
      case 'set': {
        const current = instance.devices[device];
        if (current === undefined) throw new Refused("Device doesn't exist");
        const next = { ...current, ...keyValues(tail) };
        this.checkDevice(device, next, '');
        instance.devices[device] = next;
        return '';
      }
      case 'remove': {
        if (tail.length > 0) throw new IncusModelUnsupported(argv);
        if (instance.devices[device] === undefined) throw new Refused("Device doesn't exist");
        delete instance.devices[device];
        if (device === 'eth0') instance.lease = null;
        return `Device ${device} removed from ${name}\n`;
      }
      default:
        throw new IncusModelUnsupported(argv);
    }
  }

  private lifecycle(
    project: string,
    verb: 'start' | 'stop' | 'restart' | 'pause' | 'resume',
    rest: string[],
    argv: readonly string[],
  ): string {
    const force = rest.includes('--force');
    const names = rest.filter((arg) => arg !== '--force');
    // Several instances at once only where distctl asks for it (`start A B`, `stop A B --force`).
    const several = verb === 'start' || verb === 'stop';
    if (names.length === 0 || (names.length > 1 && !several) || (force && verb !== 'stop' && verb !== 'restart'))
      throw new IncusModelUnsupported(argv);
    const instances = names.map((name) => this.requireInstance(project, name));
    // Every refusal before any change, so a refused call changes nothing.
    for (const instance of instances) {
      if (verb === 'start' && instance.status === 'Running') throw new Refused('The instance is already running');
      if ((verb === 'stop' || verb === 'restart') && instance.status === 'Stopped')
        throw new Refused('The instance is already stopped');
      if (verb === 'pause' && instance.status !== 'Running') throw new Refused("The instance isn't running");
      if (verb === 'resume' && instance.status === 'Stopped') throw new Refused("The container isn't running");
      if (verb === 'resume' && instance.status === 'Running') throw new Refused('The container is already running');
    }
    for (const instance of instances) {
      switch (verb) {
        case 'start':
          // Starting a frozen instance thaws it, as the daemon does; it keeps its lease.
          if (instance.status === 'Frozen') instance.status = 'Running';
          else this.powerOn(instance);
          break;
        case 'stop':
          this.powerOff(instance);
          break;
        case 'restart':
          this.powerOff(instance);
          this.powerOn(instance);
          break;
        case 'pause':
          instance.status = 'Frozen';
          break;
        case 'resume':
          instance.status = 'Running';
          break;
      }
    }
    return '';
  }

  private powerOn(instance: Instance): void {
    this.boot(instance);
    this.onPower?.(instance.name, true);
  }

  private powerOff(instance: Instance): void {
    instance.status = 'Stopped';
    instance.lease = null;
    this.onPower?.(instance.name, false);
  }

  /**
   * `cluster evacuate MEMBER --action stop --force` stops every running instance on the member where it is and
   * marks it Evacuated; `cluster restore MEMBER --force` marks it Online and starts what the evacuation stopped.
   * Incus's messages; the other evacuation actions (migrate) are not modelled.
   */
  private maintenance(rest: string[], argv: readonly string[]): string {
    const [verb, name = '', ...flags] = rest;
    const expected = verb === 'evacuate' ? ['--action', 'stop', '--force'] : ['--force'];
    if (flags.join(' ') !== expected.join(' ')) throw new IncusModelUnsupported(argv);
    const member = this.members?.get(name);
    if (member === undefined) throw new Refused('Failed to update cluster member state: Cluster member not found');
    const here = [...this.instances.entries()].filter(([, instance]) => instance.location === name);
    if (verb === 'evacuate') {
      if (member.status === 'Evacuated') throw new Refused('Cluster member is already evacuated');
      member.status = 'Evacuated';
      for (const [key, instance] of here) {
        if (instance.status !== 'Running') continue;
        this.powerOff(instance);
        this.evacuated.add(key);
      }
      return '';
    }
    if (member.status !== 'Evacuated') throw new Refused('Cluster member is already restored');
    member.status = 'Online';
    for (const [key, instance] of here) {
      if (!this.evacuated.delete(key) || instance.status === 'Running') continue;
      this.powerOn(instance);
    }
    return '';
  }

  private delete(project: string, rest: string[], argv: readonly string[]): string {
    const force = rest.includes('--force');
    const names = rest.filter((arg) => arg !== '--force');
    if (names.length !== 1) throw new IncusModelUnsupported(argv);
    const name = names[0] ?? '';
    if (!this.instances.has(`${project}/${name}`)) {
      throw new Refused(
        `Failed checking instance exists "local:${name}": Failed to fetch instance "${name}" in project "${project}": Instance not found`,
      );
    }
    const instance = this.requireInstance(project, name);
    if (instance.status !== 'Stopped' && !force)
      throw new Refused('The instance is currently running, stop it first or pass --force');
    this.instances.delete(`${project}/${name}`);
    return '';
  }

  private async exec(
    project: string,
    rest: string[],
    input: string | Uint8Array | undefined,
    argv: readonly string[],
  ): Promise<CommandResult> {
    const [name = '', separator, ...command] = rest;
    if (separator !== '--') throw new IncusModelUnsupported(argv);
    const instance = this.requireInstance(project, name);
    if (instance.status !== 'Running') throw new Refused('Instance is not running');
    if (this.inside === null) throw new IncusModelUnsupported(argv);
    if (command[0] === 'sh' && command[2] === WRITE_FILE_SCRIPT) {
      const [, , , , path = '', mode = '644', uid = '0', gid = '0'] = command;
      await this.inside.writeFile(name, path, input ?? '', {
        mode: Number.parseInt(mode, 8),
        uid: Number(uid),
        gid: Number(gid),
      });
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
    }
    return this.inside.exec(name, command, typeof input === 'string' ? { input } : {});
  }

  private async push(
    project: string,
    rest: string[],
    input: string | Uint8Array | undefined,
    argv: readonly string[],
  ): Promise<string> {
    const [sub, ...tail] = rest;
    if (sub !== 'push' || tail[0] !== '--create-dirs') throw new IncusModelUnsupported(argv);
    let args = tail.slice(1);
    let mode: number | undefined;
    if (args[0] === '--mode') {
      mode = Number.parseInt(args[1] ?? '', 8);
      args = args.slice(2);
    }
    const [hostPath = '', target = ''] = args;
    const slash = target.indexOf('/');
    const name = target.slice(0, slash);
    const instance = this.requireInstance(project, name);
    if (hostPath === '-') {
      // From stdin, as the daemon does it: into the instance's filesystem, whether it runs or not.
      if (args.length !== 2 || mode === undefined || input === undefined) throw new IncusModelUnsupported(argv);
      instance.files[target.slice(slash)] = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
      return '';
    }
    if (instance.status !== 'Running') throw new Refused('Instance is not running');
    if (this.inside === null || args.length !== 2) throw new IncusModelUnsupported(argv);
    await this.inside.pushFile(name, hostPath, target.slice(slash), mode === undefined ? {} : { mode });
    return '';
  }

  /**
   * Start: raw.lxc's address is on eth0 (unless the image removes it); else an ifupdown image with a static eth0
   * stanza takes that address; otherwise the NIC asks DHCP for a lease, and the bridge hands out the reservation
   * when it has one in its subnet.
   */
  private boot(instance: Instance): void {
    instance.status = 'Running';
    const nic = instance.devices.eth0;
    const image = instance.config['volatile.base_image'] ?? '';
    // LXC sets raw.lxc's address on the first NIC before the container's init runs, whatever the image does.
    const raw = /^lxc\.net\.0\.ipv4\.address\s*=\s*(\d+\.\d+\.\d+\.\d+)\/\d+/m.exec(instance.config['raw.lxc'] ?? '');
    if (nic?.type === 'nic' && raw !== null && !this.flushing.has(image)) {
      instance.lease = raw[1] ?? null;
      return;
    }
    const interfaces = instance.files['/etc/network/interfaces'] ?? '';
    const stanza = /^iface eth0 inet (\w+)$/m.exec(interfaces)?.[1];
    if (nic?.type === 'nic' && this.ifupdown.has(image) && stanza === 'static') {
      instance.lease = /^\s+address (\d+\.\d+\.\d+\.\d+)\/\d+$/m.exec(interfaces)?.[1] ?? null;
      return;
    }
    const network = nic?.type === 'nic' ? this.networks.get(nic.network ?? '') : undefined;
    if (
      network === undefined ||
      network.config['ipv4.dhcp'] === 'false' ||
      this.dhcpless.has(instance.config['volatile.base_image'] ?? '')
    ) {
      instance.lease = null;
      return;
    }
    const subnet = parseSubnet(network.config['ipv4.address'] ?? '')?.subnet;
    const reserved = parseIpv4(nic?.['ipv4.address'] ?? '');
    if (reserved !== null && subnet !== undefined && subnetContains(subnet, reserved)) {
      instance.lease = nic?.['ipv4.address'] ?? null;
      return;
    }
    // No usable reservation: a dynamic address from the top of the range, as dnsmasq would hand out.
    const base = (network.config['ipv4.address'] ?? '').split('/')[0]?.split('.').slice(0, 3).join('.');
    instance.lease = `${base}.${200 + instance.created}`;
  }

  private checkDevice(device: string, config: Config, prefix: string): void {
    if (config.type === 'nic') {
      const network = config.network ?? '';
      const found = this.networks.get(network);
      if (!found?.managed || found.pending !== null) {
        throw new Refused(
          `${prefix}Invalid devices: Device validation failed for "${device}": Failed loading device "${device}": Failed to load network "${network}" for project "default": Network not found`,
        );
      }
      return;
    }
    if (config.type === 'proxy') {
      for (const key of ['listen', 'connect']) {
        if (!config[key])
          throw new Refused(
            `${prefix}Invalid devices: Device validation failed for "${device}": Missing required "${key}" property`,
          );
      }
      return;
    }
    throw new Refused(`${prefix}Invalid devices: Device validation failed for "${device}": Unsupported device type`);
  }

  private checkBridgeKeys(name: string, config: Config): void {
    for (const key of Object.keys(config)) {
      if (!key.startsWith('user.') && !BRIDGE_KEYS.has(key) && !TUNNEL_KEY.test(key))
        throw new Refused(`Invalid option for network "${name}" option "${key}"`);
    }
  }

  private checkProjectKeys(config: Config): void {
    for (const key of Object.keys(config)) {
      if (!key.startsWith('user.') && !PROJECT_KEYS.test(key))
        throw new Refused(`Invalid project configuration key "${key}"`);
    }
  }

  private requireProject(name: string): Project {
    const project = this.projects.get(name);
    if (project === undefined) throw new Refused(`Fetch project "${name}": Project not found`);
    return project;
  }

  private requireInstance(project: string, name: string): Instance {
    const instance = this.instances.get(`${project}/${name}`);
    if (instance === undefined)
      throw new Refused(`Failed to fetch instance "${name}" in project "${project}": Instance not found`);
    return this.reachable(instance);
  }

  private instanceUrl(instance: Instance): string {
    return instance.project === 'default'
      ? `/1.0/instances/${instance.name}`
      : `/1.0/instances/${instance.name}?project=${instance.project}`;
  }

  private projectUsers(name: string): string[] {
    const users = [...this.instances.values()]
      .filter((instance) => instance.project === name)
      .map((instance) => this.instanceUrl(instance));
    if (name === 'default')
      users.push(
        ...[...this.networks.values()]
          .filter((network) => network.managed)
          .map((network) => `/1.0/networks/${network.name}`),
        '/1.0/profiles/default',
      );
    return users;
  }

  private networkUsers(name: string): string[] {
    return [...this.instances.values()]
      .sort((a, b) => a.created - b.created)
      .filter((instance) =>
        Object.values(instance.devices).some((device) => device.type === 'nic' && device.network === name),
      )
      .map((instance) => this.instanceUrl(instance));
  }

  private projectJson(project: Project): Json {
    return {
      ...clone(this.templates.project),
      name: project.name,
      description: project.description,
      config: { ...project.config },
      used_by: this.projectUsers(project.name),
    };
  }

  private networkJson(network: Network): Json {
    if (!network.managed) {
      return {
        config: {},
        description: '',
        name: network.name,
        type: network.type,
        used_by: [],
        managed: false,
        status: '',
        locations: null,
        project: 'default',
      };
    }
    return {
      ...clone(this.templates.bridge),
      name: network.name,
      type: network.type,
      managed: true,
      description: network.description,
      config: { ...network.config },
      used_by: this.networkUsers(network.name),
      status: network.pending === null ? 'Created' : 'Pending',
      locations: network.pending ?? (this.members === null ? ['none'] : [...this.members.keys()]),
    };
  }

  private memberJson(member: Member): Json {
    return {
      server_name: member.name,
      url: `https://${member.name}.cluster.test:8443`,
      database: true,
      status: member.status,
      message: MEMBER_MESSAGE[member.status],
      architecture: 'x86_64',
      failure_domain: 'default',
      description: '',
      config: {},
      groups: ['default'],
      roles: ['database'],
    };
  }

  private instanceList(project: string): Json[] {
    return [...this.instances.values()]
      .filter((instance) => instance.project === project)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((instance) => this.instanceJson(instance));
  }

  private instanceJson(instance: Instance): Json {
    if (this.members?.get(instance.location)?.status === 'Offline') {
      // What the daemon answers for an instance on a member it cannot reach: name, place, and an Error status.
      return {
        ...clone(this.templates.stopped),
        name: instance.name,
        project: instance.project,
        location: instance.location,
        type: 'container',
        status: 'Error',
        status_code: 400,
        config: null,
        devices: null,
        expanded_config: null,
        expanded_devices: null,
        state: null,
      };
    }
    const template = clone(instance.status === 'Stopped' ? this.templates.stopped : this.templates.instance);
    const profileDevices = (this.templates.profile.devices ?? {}) as Record<string, Config>;
    const config = {
      ...instance.config,
      'volatile.eth0.hwaddr': `10:66:6a:00:00:${instance.created.toString(16).padStart(2, '0')}`,
    };
    const state = template.state as Json;
    const status = { status: instance.status, status_code: STATUS_CODE[instance.status] };
    if (instance.status !== 'Stopped') {
      const network = clone(state.network as Record<string, Json>);
      const eth0 = network.eth0 as Json & { addresses: Json[] };
      const [inet, ...others] = eth0.addresses.filter((address) => address.family === 'inet');
      const inet6 = eth0.addresses.filter((address) => address.family !== 'inet');
      void others;
      if (instance.devices.eth0 === undefined) delete network.eth0;
      else
        eth0.addresses = [
          ...(instance.lease === null || inet === undefined ? [] : [{ ...inet, address: instance.lease }]),
          ...inet6,
        ];
      state.network = network;
    }
    return {
      ...template,
      name: instance.name,
      project: instance.project,
      location: instance.location,
      ...status,
      config,
      expanded_config: { ...config },
      devices: clone(instance.devices),
      expanded_devices: { ...clone(profileDevices), ...clone(instance.devices) },
      state: { ...state, ...status },
    };
  }
}

/**
 * Incus's check of `raw.lxc` (lxcValidConfig): every line `key = value` (empty lines and comments aside), no log
 * or ephemeral keys, and of the `lxc.net.*` keys only an interface's ipv4/ipv6 address and gateway.
 */
function checkRawLxc(value: string): void {
  for (const line of value.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const [rawKey, rest] = line.split(/=(.*)/s);
    if (rest === undefined) throw new Refused(`Invalid config: Invalid raw.lxc line: ${line}`);
    const key = (rawKey ?? '').trim().toLowerCase();
    if (['lxc.logfile', 'lxc.log.file', 'lxc.syslog', 'lxc.log.syslog', 'lxc.ephemeral'].includes(key))
      throw new Refused(`Invalid config: Setting ${key} is not allowed`);
    if (key.startsWith('lxc.net.')) {
      const fields = key.split('.');
      const allowed =
        fields.length === 5 &&
        ['ipv4', 'ipv6'].includes(fields[3] ?? '') &&
        ['address', 'gateway'].includes(fields[4] ?? '');
      if (!allowed) throw new Refused('Invalid config: Only interface-specific ipv4/ipv6 lxc.net. keys are allowed');
    }
  }
}
