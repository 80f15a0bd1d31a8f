/**
 * A scripted ContainerOps standing in for app containers: keeps written files,
 * the pushed Node binary, service users and systemd units' state, and answers
 * the probe, the Node check, systemctl and journalctl the way the real
 * commands do. Records every call so tests can assert what was (not) done.
 */
import { createHash } from 'node:crypto';
import type { CommandResult } from '../../../src/exec/runner.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import { PROBE_SCRIPT } from '../../../src/deploy/probe.js';
import { containerProbeArgv } from '../../../src/observe/units.js';

/** The script `distctl status` runs per container (unit states, then TCP listeners); units follow as arguments. */
const STATUS_PROBE_SCRIPT = containerProbeArgv([])[2];

export type Call =
  | { kind: 'exec'; container: string; argv: string[] }
  | { kind: 'write'; container: string; path: string; mode?: number; content: string }
  | { kind: 'push'; container: string; hostPath: string; path: string; mode?: number };

interface Unit {
  active: string;
  enabled: boolean;
  restarts: number;
  pid: number;
  starts: number;
}

const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });

export class FakeContainers implements ContainerOps {
  readonly calls: Call[] = [];
  readonly files = new Map<string, string>();
  readonly units = new Map<string, Unit>();
  readonly users = new Set<string>();
  /** What `node -v` prints for a freshly pushed binary; null makes it fail like a binary that cannot run. */
  nodeVersion: string | null = 'v20.20.2';
  /** `container:port` pairs whose unit is active but does not listen (a service bound to the wrong address). */
  readonly deaf = new Set<string>();
  /** Automatic restarts systemd reports for a unit after a (re)start: a crashing service. */
  crashing = new Set<string>();
  private nextPid = 100;

  constructor(private readonly hostNodeSha: () => string) {}

  async exec(container: string, argv: readonly string[]): Promise<CommandResult> {
    this.calls.push({ kind: 'exec', container, argv: [...argv] });
    if (argv[0] === 'sh' && argv[2] === PROBE_SCRIPT) return ok(this.probe(container, argv.slice(4)));
    if (argv[0] === 'sh' && String(argv[2]).includes('-v 2>&1')) {
      if (this.nodeVersion === null)
        return { exitCode: 127, stdout: '/usr/local/bin/node.distctl-new: not found\n', stderr: '', timedOut: false };
      this.files.set(`${container}:/usr/local/bin/node`, this.hostNodeSha());
      this.files.delete(`${container}:/usr/local/bin/node.distctl-new`);
      return ok(`${this.nodeVersion}\n`);
    }
    if (argv[0] === 'sh' && String(argv[2]).includes('useradd')) {
      const count = Number(argv[4]);
      for (const user of argv.slice(5, 5 + count)) this.users.add(`${container}:${user}`);
      return ok();
    }
    if (argv[0] === 'systemctl') return this.systemctl(container, argv.slice(1));
    if (argv[0] === 'sh' && argv[2] === STATUS_PROBE_SCRIPT) return ok(this.statusProbe(container, argv.slice(4)));
    if (argv[0] === 'journalctl') return ok(`Nov 28 01:00:00 ${container} node[1]: line from ${argv[2]}\n`);
    throw new Error(`FakeContainers: unscripted exec in ${container}: ${argv.join(' ')}`);
  }

  async writeFile(
    container: string,
    path: string,
    content: string | Uint8Array,
    options: { mode?: number } = {},
  ): Promise<void> {
    const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
    this.calls.push({ kind: 'write', container, path, mode: options.mode, content: text });
    this.files.set(`${container}:${path}`, text);
  }

  async pushFile(container: string, hostPath: string, path: string, options: { mode?: number } = {}): Promise<void> {
    this.calls.push({ kind: 'push', container, hostPath, path, mode: options.mode });
    this.files.set(`${container}:${path}`, 'binary');
  }

  unit(container: string, name: string): Unit {
    const key = `${container}:${name}`;
    let unit = this.units.get(key);
    if (unit === undefined) {
      unit = { active: 'inactive', enabled: false, restarts: 0, pid: 0, starts: 0 };
      this.units.set(key, unit);
    }
    return unit;
  }

  execs(filter?: (argv: string[]) => boolean): Extract<Call, { kind: 'exec' }>[] {
    return this.calls.filter(
      (call): call is Extract<Call, { kind: 'exec' }> =>
        call.kind === 'exec' && (filter === undefined || filter(call.argv)),
    );
  }

  writes(): Extract<Call, { kind: 'write' }>[] {
    return this.calls.filter((call): call is Extract<Call, { kind: 'write' }> => call.kind === 'write');
  }

  pushes(): Extract<Call, { kind: 'push' }>[] {
    return this.calls.filter((call): call is Extract<Call, { kind: 'push' }> => call.kind === 'push');
  }

  /**
   * systemctl verbs distctl uses, applied to the fake's unit table, as strict
   * as systemd: a unit whose file was never written cannot be enabled or
   * started (systemd's words and exit codes), and any other verb fails the test.
   */
  private systemctl(container: string, args: string[]): CommandResult {
    const [verb, ...rest] = args;
    const names = rest.filter((arg) => !arg.startsWith('-'));
    const missing = names.filter((name) => !this.files.has(`${container}:/etc/systemd/system/${name}`));
    const fail = (exitCode: number, stderr: string): CommandResult => ({
      exitCode,
      stdout: '',
      stderr,
      timedOut: false,
    });
    switch (verb) {
      case 'daemon-reload':
        return ok();
      case 'enable':
        if (missing.length > 0) return fail(1, `Failed to enable unit: Unit file ${missing[0]} does not exist.\n`);
        for (const name of names) this.unit(container, name).enabled = true;
        return ok();
      case 'restart':
      case 'start':
        if (missing.length > 0)
          return fail(5, `Failed to ${verb} ${missing.join(' ')}: Unit ${missing[0]} not found.\n`);
        for (const name of names) {
          const unit = this.unit(container, name);
          if (verb === 'start' && unit.active === 'active') continue;
          unit.active = 'active';
          unit.pid = this.nextPid++;
          unit.starts += 1;
          unit.restarts = this.crashing.has(name) ? 1 : 0;
        }
        return ok();
      case 'show':
        return ok(
          rest[0]?.startsWith('--property=')
            ? this.showProperties(container, rest[0], names)
            : this.showHealth(container, names[0] ?? ''),
        );
      default:
        throw new Error(`FakeContainers: unscripted systemctl in ${container}: ${args.join(' ')}`);
    }
  }

  /**
   * What status's probe prints: the units' states, the mark, then `ss -Hltn` lines for what the active units
   * serve — mongod on the port in its unit name, a service on the PORT of its environment file.
   */
  private statusProbe(container: string, units: string[]): string {
    const ports = units
      .filter((name) => this.units.get(`${container}:${name}`)?.active === 'active')
      .map((name) => {
        const mongod = /^mongod-(\d+)\.service$/.exec(name)?.[1];
        const env = this.files.get(`${container}:/etc/distctl/${name.replace(/\.service$/, '')}.env`) ?? '';
        return Number(mongod ?? /^PORT="(\d+)"$/m.exec(env)?.[1] ?? 0);
      })
      .filter((port) => port > 0 && !this.deaf.has(`${container}:${port}`));
    const listeners = ports.map((port) => `LISTEN 0      511          0.0.0.0:${port}      0.0.0.0:*\n`).join('');
    return `${this.showProperties(container, `--property=Id,LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp`, units)}--distctl-listeners--\n${listeners}`;
  }

  /** `systemctl show UNIT -p ActiveState -p SubState -p NRestarts`, as deploy's health check reads it. */
  private showHealth(container: string, name: string): string {
    const unit = this.unit(container, name);
    return `ActiveState=${unit.active}\nSubState=${unit.active === 'active' ? 'running' : 'dead'}\nNRestarts=${unit.restarts}\n`;
  }

  /** `systemctl show --property=A,B -- UNITS`: one block per unit, as `distctl status` reads them; a unit without a file is not-found. */
  private showProperties(container: string, property: string, names: string[]): string {
    const wanted = property.slice('--property='.length).split(',');
    return names
      .map((name) => {
        const installed = this.files.has(`${container}:/etc/systemd/system/${name}`);
        const unit = this.units.get(`${container}:${name}`);
        const active = unit?.active ?? 'inactive';
        const values: Record<string, string> = {
          Id: name,
          LoadState: installed ? 'loaded' : 'not-found',
          ActiveState: active,
          SubState: active === 'active' ? 'running' : active === 'failed' ? 'failed' : 'dead',
          MainPID: String(active === 'active' ? (unit?.pid ?? 0) : 0),
          ActiveEnterTimestamp: active === 'active' ? 'Sat 2026-11-28 01:00:00 UTC' : '',
        };
        return wanted.map((key) => `${key}=${values[key] ?? ''}`).join('\n');
      })
      .join('\n\n')
      .concat('\n');
  }

  /** Answers the probe script from the fake's files and units, as the real script prints it. */
  private probe(container: string, args: string[]): string {
    const [node = '', ...triples] = args;
    const nodeContent = this.files.get(`${container}:${node}`);
    const lines = [
      `node ${nodeContent === undefined ? '-' : nodeContent === 'binary' ? createHash('sha256').update('other').digest('hex') : nodeContent}`,
    ];
    for (let index = 0; index + 2 < triples.length; index += 3) {
      const [name = '', unitName = '', marker = ''] = triples.slice(index, index + 3);
      const unit = this.units.get(`${container}:${unitName}`);
      lines.push(`marker ${name} ${(this.files.get(`${container}:${marker}`) ?? '').replace(/\n/g, '')}`);
      const active = unit?.active ?? 'inactive';
      lines.push(
        `state ${name} ActiveState=${active} SubState=${active === 'active' ? 'running' : 'dead'} NRestarts=${unit?.restarts ?? 0} `,
      );
      lines.push(`enabled ${name} ${unit === undefined ? '' : unit.enabled ? 'enabled' : 'disabled'}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
