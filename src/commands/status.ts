import type { Ui } from './ui.js';
import type { IncusClient } from '../incus/client.js';
import { IncusContainerOps } from '../incus/container-ops.js';
import { DriverMongoAdmin } from '../mongo/driver-admin.js';
import { existingAdminCredentials } from '../mongo/users.js';
import { describeProbe, observeDeployment, type DeploymentStatus } from '../observe/deployment.js';
import type { ProbeResult } from '../observe/http.js';
import { openSecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

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
}

/**
 * `distctl status`: containers (state, declared vs actual IP), their units,
 * proxies, service health/readiness and replica-set members, as a table or
 * JSON. Exit 0 only when everything is as declared.
 */
export async function statusCommand(options: StatusOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const secrets = await openSecretStore(secretsDir(options.stateDirFor(desired.project)));
  const credentials = await existingAdminCredentials(secrets);
  const mongo = new DriverMongoAdmin();
  const observe = () =>
    observeDeployment(desired, {
      client: options.client,
      ops: new IncusContainerOps(options.client, desired.project),
      mongo,
      ...(credentials ? { credentials } : {}),
    });
  try {
    let status = await observe();
    if (options.watchSeconds !== null) {
      let stop = false;
      void options.stopped?.then(() => {
        stop = true;
      });
      for (;;) {
        options.write(options.ui.json ? `${JSON.stringify(statusJson(status))}\n` : `\x1b[2J\x1b[H${renderStatus(status, options.ui)}\n(refreshing every ${options.watchSeconds} s; Ctrl-C to stop)\n`);
        await Promise.race([new Promise((resolve) => setTimeout(resolve, (options.watchSeconds ?? 2) * 1000)), options.stopped]);
        if (stop) break;
        status = await observe();
      }
    }
    return { exitCode: status.differences.length === 0 ? 0 : 1, human: renderStatus(status, options.ui), json: { ...statusJson(status), incusCalls: options.client.calls } };
  } finally {
    await mongo.close();
  }
}

/** Stable JSON of a status report. */
export function statusJson(status: DeploymentStatus): Record<string, unknown> {
  return {
    ok: status.differences.length === 0,
    project: status.project,
    network: status.network,
    containers: status.containers.map((container) => ({
      ...container,
      ipOk: container.actualIps.length === 1 && container.actualIps[0] === container.declaredIp,
      units: container.units.map((unit) => ({ ...unit, ok: unit.active === 'active' })),
    })),
    services: status.services,
    databases: status.databases,
    differences: status.differences,
  };
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows.reduce<number[]>((max, row) => row.map((cell, index) => Math.max(max[index] ?? 0, visibleLength(cell))), []);
  return rows.map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell + ' '.repeat((widths[index] ?? 0) - visibleLength(cell)))).join('  '));
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** The status as tables for a terminal. */
export function renderStatus(status: DeploymentStatus, ui: Ui): string {
  const { color } = ui;
  const good = (ok: boolean, text: string) => (ok ? color.green(text) : color.red(text));
  const lines: string[] = [color.bold(`project ${status.project}`), ''];
  lines.push(`network ${status.network.name}: ${status.network.exists ? good(status.network.address === status.network.declared, status.network.address ?? 'no address') : color.red('missing')}`, '');

  lines.push(color.bold('containers'));
  const containerRows: string[][] = [['NAME', 'STATE', 'DECLARED IP', 'ACTUAL IP', 'UNITS']];
  for (const container of status.containers) {
    const ipOk = container.actualIps.length === 1 && container.actualIps[0] === container.declaredIp;
    const units = container.units.map((unit) => `${unit.name.replace(/\.service$/, '')} ${good(unit.active === 'active', unit.active === 'active' ? 'active' : unit.load === 'not-found' ? 'not installed' : unit.active)}`).join(', ');
    containerRows.push([container.name, good(container.state === 'Running', container.state.toLowerCase()), container.declaredIp, good(ipOk, container.actualIps.join(' ') || '-'), units || '-']);
  }
  lines.push(...table(containerRows));
  const proxies = status.containers.flatMap((container) => container.proxies.map((proxy) => `${proxy.listen} → ${container.name} ${good(proxy.present, proxy.present ? 'present' : 'missing')}`));
  if (proxies.length > 0) lines.push('', color.bold('exposed'), ...proxies);

  if (status.services.length > 0) {
    lines.push('', color.bold('services'));
    const serviceRows: string[][] = [['NAME', 'URL', 'HEALTH', 'READY']];
    for (const service of status.services) serviceRows.push([service.name, service.url, good(service.health.ok, describeProbe(service.health)), good(service.ready.ok, readiness(service.ready))]);
    lines.push(...table(serviceRows));
  }

  const { replicaSets, standalones } = status.databases;
  if (replicaSets.length + standalones.length > 0) {
    lines.push('', color.bold('databases'));
    const dbRows: string[][] = [['NAME', 'MEMBER', 'STATE', 'HEALTH', 'LAG']];
    for (const set of replicaSets) {
      if (!set.reachable) {
        dbRows.push([set.name, '-', color.red('unreachable'), '-', '-']);
        continue;
      }
      for (const member of set.members) {
        const ok = member.state === 'PRIMARY' || member.state === 'SECONDARY';
        dbRows.push([set.name, member.host, good(ok, member.state), member.health === null ? '?' : String(member.health), member.lagSeconds === null ? '-' : `${member.lagSeconds} s`]);
      }
    }
    for (const standalone of standalones) {
      dbRows.push([standalone.name, standalone.host, good(standalone.reachable, standalone.reachable ? 'reachable' : 'unreachable'), '-', '-']);
    }
    lines.push(...table(dbRows));
  }

  lines.push('');
  if (status.differences.length === 0) lines.push(color.green('Everything is as declared.'));
  else lines.push(color.red(`${status.differences.length} difference${status.differences.length === 1 ? '' : 's'} from the topology:`), ...status.differences.map((difference) => `  - ${difference}`));
  return lines.join('\n');
}

/** `/ready` in a few words: which dependencies are unreachable. */
function readiness(probe: ProbeResult): string {
  if (probe.status === null) return describeProbe(probe);
  const body = probe.body as { shards?: Record<string, string>; database?: string; authServer?: string } | string;
  if (typeof body !== 'object' || body === null) return describeProbe(probe);
  const down = [
    ...Object.entries(body.shards ?? {}).filter(([, state]) => state !== 'reachable').map(([name]) => name),
    ...(body.database && body.database !== 'reachable' ? ['database'] : []),
    ...(body.authServer && body.authServer !== 'reachable' ? ['auth-server'] : []),
  ];
  return probe.ok ? 'ready' : down.length > 0 ? `down: ${down.join(', ')}` : describeProbe(probe);
}
