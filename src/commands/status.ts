import type { Ui } from './ui.js';
import { readNodeRuntime } from '../deploy/node-runtime.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { IncusContainerOps } from '../incus/container-ops.js';
import type { MongoAdmin } from '../mongo/admin.js';
import { existingAdminCredentials } from '../mongo/users.js';
import {
  describeProbe,
  memberAway,
  observeDeployment,
  type ContainerStatus,
  type DeploymentStatus,
} from '../observe/deployment.js';
import { cpuRate, formatBytes, type ContainerResources } from '../observe/resources.js';
import type { ProbeResult } from '../observe/http.js';
import { observeIncus, type ObservedIncus } from '../observe/incus.js';
import { SecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment } from './context.js';
import { envelope, type CommandResult } from './result.js';

/** Options of `distctl status`, merged by the CLI. */
export interface StatusOptions {
  readonly file: string;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly stateDirFor: (project: string) => string;
  /** Seconds between refreshes with --watch; null for a single report. */
  readonly watchSeconds: number | null;
  /** Where --watch writes each refresh (the CLI passes stdout). */
  readonly write: (text: string) => void;
  /** Resolves when --watch should stop (Ctrl-C). */
  readonly stopped?: Promise<void>;
  /** MongoDB and HTTP as seen from the host; the driver and the global fetch unless a test passes fakes. */
  readonly mongo?: MongoAdmin;
  readonly fetch?: typeof fetch;
  /** `prometheus` prints the status as Prometheus metrics instead of tables (exit code unchanged). */
  readonly format?: 'table' | 'prometheus';
  /** The clock --watch measures CPU rates with (seconds). */
  readonly nowSeconds?: () => number;
}

/** Exit code of `status` when nothing of the topology exists in Incus yet. */
export const EXIT_NOT_DEPLOYED = 3;

/**
 * Whether the deployment exists at all: its Incus project does. (A project
 * whose containers were removed by hand is deployed and differs: status names
 * what is missing.)
 */
export function isDeployed(observed: ObservedIncus): boolean {
  return observed.project !== null;
}

/** The CPU share of one core each container used since the previous refresh (--watch), by container name. */
type CpuRates = ReadonlyMap<string, number | null>;

/**
 * `distctl status`: containers (state, declared vs actual IP), their units,
 * proxies, service health/readiness and replica-set members, as a table or
 * JSON. Exit 0 only when everything is as declared; EXIT_NOT_DEPLOYED, after
 * three incus reads and nothing else, when nothing is deployed yet. Read-only:
 * it creates no state directory and no secret.
 */
export async function statusCommand(options: StatusOptions): Promise<CommandResult> {
  if (options.format === 'prometheus' && options.watchSeconds !== null) {
    throw new DistctlError(
      'STATUS_FORMAT_WATCH',
      '--format prometheus prints one snapshot; it does not combine with --watch',
      {
        hint: 'Run `distctl status --format prometheus` from cron (or a timer) into a textfile collector instead.',
      },
    );
  }
  const { desired } = await loadDeployment(options.file);
  const secrets = SecretStore.openReadOnly(secretsDir(options.stateDirFor(desired.project)));
  // The driver is loaded only for a deployment that exists ("not deployed" stays fast), and while the incus
  // probes run rather than before them.
  let driver: Promise<MongoAdmin> | undefined;
  const lazyDriver: MongoAdmin = {
    command: async (...args) =>
      (await (driver ??= import('../mongo/driver-admin.js').then((m) => new m.DriverMongoAdmin()))).command(...args),
    close: async () => (driver === undefined ? undefined : (await driver).close()),
  };
  const observe = async (): Promise<DeploymentStatus | null> => {
    const observed = await observeIncus(options.client, desired);
    if (!isDeployed(observed)) return null;
    const credentials = await existingAdminCredentials(secrets);
    const mongo = options.mongo ?? lazyDriver;
    return observeDeployment(desired, {
      client: options.client,
      ops: new IncusContainerOps(options.client, desired),
      mongo,
      observed,
      ...(credentials ? { credentials } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  };
  const render = (status: DeploymentStatus | null, rates: CpuRates) =>
    status ? renderStatus(status, options.ui, rates) : notDeployedText(desired.project, options.ui);
  const json = (status: DeploymentStatus | null, rates: CpuRates) =>
    status ? statusJson(status, rates) : notDeployedJson(desired.project);
  try {
    const now = options.nowSeconds ?? (() => performance.now() / 1000);
    let status = await observe();
    let observedAt = now();
    let rates: CpuRates = new Map();
    const exitCode = (): number => (status === null ? EXIT_NOT_DEPLOYED : status.differences.length === 0 ? 0 : 1);
    if (options.format === 'prometheus' && status !== null) {
      // prom-client is loaded only for this format.
      const { deploymentMetrics } = await import('../observe/prometheus.js');
      return { exitCode: exitCode(), human: (await deploymentMetrics(status)).trimEnd(), json: null };
    }
    if (options.watchSeconds !== null) {
      let stop = false;
      void options.stopped?.then(() => {
        stop = true;
      });
      for (;;) {
        const refresh = `(refreshing every ${options.watchSeconds} s; Ctrl-C to stop)`;
        options.write(
          options.ui.json
            ? `${JSON.stringify(envelope({ exitCode: 0, human: '', json: json(status, rates) }))}\n`
            : `${options.ui.clearScreen}${render(status, rates)}\n${refresh}\n`,
        );
        await Promise.race([
          new Promise((resolve) => setTimeout(resolve, (options.watchSeconds ?? 2) * 1000)),
          options.stopped,
        ]);
        if (stop) break;
        const previous = status;
        const previousAt = observedAt;
        status = await observe();
        observedAt = now();
        rates = previous && status ? cpuRates(previous, status, observedAt - previousAt) : new Map();
      }
    }
    // The Node runtime the services run on is the host's own binary: say exactly which build was pushed.
    const nodeRuntime = await readNodeRuntime(options.stateDirFor(desired.project));
    const document = { ...json(status, rates), nodeRuntime, incusCalls: options.client.calls };
    return { exitCode: exitCode(), human: render(status, rates), json: document };
  } finally {
    await lazyDriver.close();
  }
}

function notDeployedText(project: string, ui: Ui): string {
  return `${ui.color.bold(`project ${project}`)}: ${ui.color.yellow('not deployed')} — run \`distctl up\``;
}

function notDeployedJson(project: string): Record<string, unknown> {
  return { ok: false, deployed: false, project, message: 'not deployed — run `distctl up`' };
}

/** CPU rates between two observations, per container (null where a container was not running in both). */
export function cpuRates(previous: DeploymentStatus, current: DeploymentStatus, elapsedSeconds: number): CpuRates {
  const before = new Map(
    previous.containers.map((container) => [container.name, container.resources?.cpuSeconds ?? null]),
  );
  return new Map(
    current.containers.map((container) => [
      container.name,
      container.resources === null
        ? null
        : cpuRate(before.get(container.name) ?? null, container.resources.cpuSeconds, elapsedSeconds),
    ]),
  );
}

/** Stable JSON of a status report; with --watch each container also has `cpuRate` (share of one core since the last refresh). */
export function statusJson(status: DeploymentStatus, rates: CpuRates = new Map()): Record<string, unknown> {
  return {
    ok: status.differences.length === 0,
    deployed: true,
    project: status.project,
    network: status.network,
    cluster: status.cluster ?? null,
    drift: status.drift ?? [],
    containers: status.containers.map((container) => ({
      ...container,
      ipOk: container.actualIps.length === 1 && container.actualIps[0] === container.declaredIp,
      units: container.units.map((unit) => ({ ...unit, ok: unit.active === 'active' })),
      ...(rates.has(container.name) ? { cpuRate: rates.get(container.name) ?? null } : {}),
    })),
    services: status.services,
    databases: status.databases,
    differences: status.differences,
  };
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows.reduce<number[]>(
    (max, row) => row.map((cell, index) => Math.max(max[index] ?? 0, visibleLength(cell))),
    [],
  );
  return rows.map((row) =>
    row
      .map((cell, index) =>
        index === row.length - 1 ? cell : cell + ' '.repeat((widths[index] ?? 0) - visibleLength(cell)),
      )
      .join('  '),
  );
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** CPU as a rate between refreshes (`12 %` of one core) when known, else the CPU time used since start. */
function cpuCell(resources: ContainerResources | null, rate: number | null | undefined): string {
  if (resources === null) return '-';
  if (rate !== undefined && rate !== null) return `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)} %`;
  return `${resources.cpuSeconds.toFixed(1)} s`;
}

/** `38.5 MiB / 512 MiB`, or just the usage without a limit. */
function memoryCell(resources: ContainerResources | null): string {
  if (resources === null) return '-';
  const used = formatBytes(resources.memoryBytes);
  return resources.memoryLimitBytes === null ? used : `${used} / ${formatBytes(resources.memoryLimitBytes)}`;
}

/** The status as tables for a terminal. */
export function renderStatus(status: DeploymentStatus, ui: Ui, rates: CpuRates = new Map()): string {
  const { color } = ui;
  const good = (ok: boolean, text: string) => (ok ? color.green(text) : color.red(text));
  const lines: string[] = [color.bold(`project ${status.project}`), ''];
  lines.push(
    `network ${status.network.name}: ${status.network.exists ? good(status.network.address === status.network.declared, status.network.address ?? 'no address') : color.red('missing')}`,
    '',
  );

  const clustered = status.cluster !== null && status.cluster !== undefined;
  if (clustered) {
    lines.push(color.bold('cluster members'));
    const memberRows: string[][] = [['MEMBER', 'STATE', 'MESSAGE']];
    for (const member of status.cluster ?? [])
      memberRows.push([member.name, good(member.state === 'Online', member.state), member.message]);
    lines.push(...table(memberRows), '');
  }

  lines.push(color.bold('containers'));
  const containerRows: string[][] = [
    [
      'NAME',
      'STATE',
      ...(clustered ? ['MEMBER'] : []),
      'DECLARED IP',
      'ACTUAL IP',
      'CPU',
      'MEMORY',
      'DISK',
      'PROCS',
      'UNITS',
    ],
  ];
  for (const container of status.containers) {
    const ipOk = container.actualIps.length === 1 && container.actualIps[0] === container.declaredIp;
    const units = container.units
      .map((unit) => {
        const word = unit.active === 'active' ? 'active' : unit.load === 'not-found' ? 'not installed' : unit.active;
        // Only an active unit's port is news: an inactive unit serving nothing is already said by its state.
        const unserved = container.ports
          .filter((port) => unit.active === 'active' && port.unit === unit.name && port.served === false)
          .map((port) => port.port);
        const served = unserved.length === 0 ? '' : ` ${color.red(`port ${unserved.join(', ')} not served`)}`;
        return `${unit.name.replace(/\.service$/, '')} ${good(unit.active === 'active', word)}${served}`;
      })
      .join(', ');
    const { resources } = container;
    containerRows.push([
      container.name,
      stateCell(container, good),
      ...(clustered ? [container.member?.name ?? '-'] : []),
      container.declaredIp,
      good(ipOk, container.actualIps.join(' ') || '-'),
      cpuCell(resources, rates.get(container.name)),
      memoryCell(resources),
      resources?.diskBytes === null || resources === null ? '-' : formatBytes(resources.diskBytes),
      resources === null ? '-' : String(resources.processes),
      units || '-',
    ]);
  }
  lines.push(...table(containerRows));
  const proxies = status.containers.flatMap((container) =>
    container.proxies.map(
      (proxy) => `${proxy.listen} → ${container.name} ${good(proxy.present, proxy.present ? 'present' : 'missing')}`,
    ),
  );
  if (proxies.length > 0) lines.push('', color.bold('exposed'), ...proxies);

  if (status.services.length > 0) {
    lines.push('', color.bold('services'));
    const serviceRows: string[][] = [['NAME', 'URL', 'HEALTH', 'READY']];
    for (const service of status.services)
      serviceRows.push([
        service.name,
        service.url,
        good(service.health.ok, describeProbe(service.health)),
        good(service.ready.ok, readiness(service.ready)),
      ]);
    lines.push(...table(serviceRows));
  }

  const { replicaSets, standalones } = status.databases;
  if (replicaSets.length + standalones.length > 0) {
    lines.push('', color.bold('databases'));
    const dbRows: string[][] = [['NAME', 'MEMBER', 'STATE', 'HEALTH', 'LAG']];
    for (const set of replicaSets) {
      if (!set.reachable) {
        dbRows.push([set.name, '-', color.red(set.reason), '-', '-']);
        continue;
      }
      for (const member of set.members) {
        const ok = member.state === 'PRIMARY' || member.state === 'SECONDARY';
        dbRows.push([
          set.name,
          member.host,
          good(ok, member.state),
          member.health === null ? '?' : String(member.health),
          member.lagSeconds === null ? '-' : `${member.lagSeconds} s`,
        ]);
      }
    }
    for (const standalone of standalones) {
      dbRows.push([
        standalone.name,
        standalone.host,
        good(standalone.reachable, standalone.reachable ? 'reachable' : standalone.reason),
        '-',
        '-',
      ]);
    }
    lines.push(...table(dbRows));
  }

  lines.push('');
  if (status.differences.length === 0) lines.push(color.green('Everything is as declared.'));
  else
    lines.push(
      color.red(
        `${status.differences.length} difference${status.differences.length === 1 ? '' : 's'} from the topology:`,
      ),
      ...status.differences.map((difference) => `  - ${difference}`),
    );
  return lines.join('\n');
}

/** `/ready` in a few words: which dependencies are unreachable. */
function readiness(probe: ProbeResult): string {
  if (probe.status === null) return describeProbe(probe);
  const body = probe.body as { shards?: Record<string, string>; database?: string; authServer?: string } | string;
  if (typeof body !== 'object' || body === null) return describeProbe(probe);
  const down = [
    ...Object.entries(body.shards ?? {})
      .filter(([, state]) => state !== 'reachable')
      .map(([name]) => name),
    ...(body.database && body.database !== 'reachable' ? ['database'] : []),
    ...(body.authServer && body.authServer !== 'reachable' ? ['auth-server'] : []),
  ];
  return probe.ok ? 'ready' : down.length > 0 ? `down: ${down.join(', ')}` : describeProbe(probe);
}

/** A container's state; on a member that is not Online, that says it all: `unreachable (member m2 Offline)`. */
function stateCell(container: ContainerStatus, good: (ok: boolean, text: string) => string): string {
  const member = container.member;
  if (member && member.state !== null && member.state !== 'Online')
    return good(false, `${memberAway(member.state)} (member ${member.name} ${member.state})`);
  return good(container.state === 'Running', container.state.toLowerCase());
}
