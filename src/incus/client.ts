import type { CommandResult, Runner } from '../exec/runner.js';
import { classifyIncusFailure } from './errors.js';
import type { IncusClusterMember, IncusImage, IncusInstance, IncusNetwork, IncusProject } from './types.js';

/** Which Incus (a remote from `incus remote list`, null for the client's default) and project calls address. */
export interface IncusScope {
  readonly project: string;
  readonly remote: string | null;
}

/**
 * `REMOTE:NAME` (or `REMOTE:` alone) when calls address a remote, else NAME as is. Every positional that names
 * an Incus object (instance, network, project, API path, listing) goes through here, so one topology key moves
 * every call to another server or cluster.
 */
export function onRemote(remote: string | null, name = ''): string {
  return remote === null ? name : `${remote}:${name}`;
}

/** The listing argument of `incus list|network list|...`: `REMOTE:` on a remote, nothing on the default one. */
function listTarget(remote: string | null): string[] {
  return remote === null ? [] : [onRemote(remote)];
}

/** One call of the `incus` binary, as data: plans print it, tests assert it, the client runs it. */
export interface IncusCall {
  readonly args: readonly string[];
  /** Adds `--project P` (instance-level commands). */
  readonly project?: string;
  /** Standard input (instance YAML, file contents); never put secrets in args. */
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
}

/** The full argv a call runs as, for messages and dry runs. */
export function callArgv(call: IncusCall, bin = 'incus'): string[] {
  // --project goes first: anything after `exec NAME --` belongs to the command inside the container.
  return [bin, ...(call.project ? ['--project', call.project] : []), ...call.args];
}

/**
 * The single adapter through which distctl talks to Incus. Reads state as
 * JSON, raises classified `IncusError`s carrying command, exit code and
 * stderr, and counts its calls (bench/ reports them).
 */
export class IncusClient {
  private callCount = 0;

  constructor(
    private readonly runner: Runner,
    private readonly options: {
      readonly bin?: string;
      readonly defaultTimeoutMs?: number;
      readonly onCall?: (argv: readonly string[]) => void;
    } = {},
  ) {}

  /** How many times `incus` has been run through this client. */
  get calls(): number {
    return this.callCount;
  }

  /** Runs a call; a non-zero exit raises an IncusError. */
  async run(call: IncusCall): Promise<CommandResult> {
    const result = await this.attempt(call);
    if (result.exitCode !== 0 || result.timedOut) throw classifyIncusFailure(callArgv(call, this.bin), result);
    return result;
  }

  /** Runs a call and hands back the result whatever the exit code (for `incus exec` of a user command). */
  async attempt(call: IncusCall): Promise<CommandResult> {
    const argv = callArgv(call, this.bin);
    this.callCount += 1;
    this.options.onCall?.(argv);
    const [bin = 'incus', ...args] = argv;
    return this.runner.run({
      bin,
      args,
      input: call.input,
      timeoutMs: call.timeoutMs ?? this.options.defaultTimeoutMs ?? 300_000,
    });
  }

  /** Runs a read call and parses its JSON output. */
  async json<T>(call: IncusCall): Promise<T> {
    const result = await this.run(call);
    // Incus' JSON is the daemon's typed API, not user input: its shapes are pinned by recordings of the live
    // daemon (checked in the integration tier), and callers read it through the types in ./types.ts.
    // oxlint-disable-next-line distctl/no-unchecked-parse
    return JSON.parse(result.stdout) as T;
  }

  listProjects(remote: string | null = null): Promise<IncusProject[]> {
    return this.json({ args: ['project', 'list', ...listTarget(remote), '--format', 'json'] });
  }

  /** Networks visible from the default project (bridges are global). */
  listNetworks(remote: string | null = null): Promise<IncusNetwork[]> {
    return this.json({ args: ['network', 'list', ...listTarget(remote), '--format', 'json'] });
  }

  /** Every instance of a project, with its state (status, addresses, member) — one call for all of them. */
  async listInstances(scope: IncusScope | string): Promise<IncusInstance[]> {
    const { project, remote } = typeof scope === 'string' ? { project: scope, remote: null } : scope;
    const instances = await this.json<IncusInstance[]>({
      args: ['list', ...listTarget(remote), '--format', 'json'],
      project,
    });
    // An instance on a cluster member the daemon cannot reach comes as name, location and status `Error`, with
    // config and devices null: made empty here, so no reader trips over them.
    return instances.map((instance) => ({
      ...instance,
      config: instance.config ?? {},
      devices: instance.devices ?? {},
    }));
  }

  listImages(project?: string, remote: string | null = null): Promise<IncusImage[]> {
    return this.json({
      args: ['image', 'list', ...listTarget(remote), '--format', 'json'],
      ...(project ? { project } : {}),
    });
  }

  /**
   * The members of the cluster `remote` is (name, state, message), or null when that server is not clustered.
   * One call: the CLI asks the server whether it is clustered before listing, and says so when it is not.
   */
  async listClusterMembers(remote: string | null): Promise<IncusClusterMember[] | null> {
    const call: IncusCall = { args: ['cluster', 'list', ...listTarget(remote), '--format', 'json'] };
    const result = await this.attempt(call);
    if (result.exitCode !== 0 && /isn't part of a cluster/.test(result.stderr)) return null;
    if (result.exitCode !== 0 || result.timedOut) throw classifyIncusFailure(callArgv(call, this.bin), result);
    // The daemon's typed API, as for `json` above.
    // oxlint-disable-next-line distctl/no-unchecked-parse
    return JSON.parse(result.stdout) as IncusClusterMember[];
  }

  /** `incus version`: client and server versions (the server's is null when the daemon does not answer). */
  async version(): Promise<{ client: string; server: string | null }> {
    const result = await this.attempt({ args: ['version'], timeoutMs: 15_000 });
    const client = /Client version:\s*(\S+)/.exec(result.stdout)?.[1] ?? 'unknown';
    const server = /Server version:\s*(\S+)/.exec(result.stdout)?.[1];
    return { client, server: server && server !== 'unreachable' ? server : null };
  }

  private get bin(): string {
    return this.options.bin ?? 'incus';
  }
}
