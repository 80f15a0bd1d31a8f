import pLimit from 'p-limit';
import type { Progress } from '../apply/index.js';
import type { DerivedService, DesiredState, ServiceKind } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { execChecked, type ContainerOps } from '../incus/container-ops.js';
import { hostFetch } from '../exec/reach.js';
import type { SecretStore } from '../secrets/store.js';
import {
  artifactHash,
  renderEnvFile,
  renderMarker,
  renderServiceUnit,
  serviceEnvironment,
  servicePaths,
  serviceUser,
  sha256,
  type ArtifactHashes,
} from './artifacts.js';
import { buildCache, bundleService, DEFAULT_SERVICES_ROOT, type ServiceBundle } from './bundle.js';
import { waitForHealth, type UnitState } from './health.js';
import { ensureContainerNode, hostNode, recordNodeRuntime, type HostNode } from './node-runtime.js';
import { probeContainer, type ContainerProbe, type ServiceProbe } from './probe.js';

/** Options of deployServices. */
export interface DeployServicesOptions {
  readonly desired: DesiredState;
  readonly ops: ContainerOps;
  readonly secrets: SecretStore;
  /** The deployment's state directory: where the Node runtime pushed into the containers is recorded. */
  readonly stateDir?: string;
  /** Deploy only these services (by name); default all of the topology's. */
  readonly only?: readonly string[];
  /** Directory holding `auth/main.ts` and `web/main.ts`; default this package's `src/services`. */
  readonly sourceRoot?: string;
  readonly onProgress?: Progress;
  /** How long each service may take to answer `/health` (default 60 s). */
  readonly healthTimeoutMs?: number;
  /**
   * How long a (re)started service must have been up before its 200 counts
   * (default 2 s): long enough for a process that cannot bind its port to
   * have exited, while something else answers on that port.
   */
  readonly healthSettleMs?: number;
  readonly fetch?: typeof fetch;
  /** Probes already under way (startServiceProbes), by container; a container without one is probed here. */
  readonly probes?: ReadonlyMap<string, Promise<ContainerProbe>>;
}

/**
 * Starts the one probe exec of every container that runs services and no mongod, so that `up` reads them while
 * the databases stage works in the other containers (that stage never touches these). deployServices takes the
 * result as `probes`; a probe that fails is reported by the deploy that awaits it.
 */
export function startServiceProbes(
  desired: DesiredState,
  ops: ContainerOps,
): ReadonlyMap<string, Promise<ContainerProbe>> {
  const withMongod = new Set([
    ...desired.replicaSets.flatMap((set) => set.members.map((member) => member.container)),
    ...desired.standalones.map((standalone) => standalone.process.container),
  ]);
  const byContainer = new Map<string, DerivedService[]>();
  for (const service of desired.services)
    if (!withMongod.has(service.container))
      byContainer.set(service.container, [...(byContainer.get(service.container) ?? []), service]);
  return new Map(
    [...byContainer].map(([container, services]) => {
      const probe = probeContainer(ops, container, services);
      // Awaited by the deploy; until then a failure must not count as unhandled.
      probe.catch(() => undefined);
      return [container, probe] as const;
    }),
  );
}

/** What happened to one service. */
export interface DeployedService {
  readonly name: string;
  readonly container: string;
  /** Something (bundle, unit, environment, Node runtime) differed and was pushed. */
  readonly changed: boolean;
  /** The unit was restarted (changed) or started (it was not running). */
  readonly restarted: boolean;
  /** `/health` answered 200 from the host. */
  readonly healthy: boolean;
  /** Hash over bundle, unit, environment and Node binary, as stored in the container. */
  readonly artifactHash: string;
}

/** A service with everything it is deployed as, rendered on the host. */
interface PreparedService {
  readonly service: DerivedService;
  readonly bundle: ServiceBundle;
  readonly unit: string;
  readonly envFile: string;
  readonly parts: ArtifactHashes;
}

/** The services to deploy: all, or the named ones (an unknown name is an error listing the known ones). */
export function selectServices(desired: DesiredState, only?: readonly string[]): DerivedService[] {
  if (only === undefined || only.length === 0) return [...desired.services];
  const known = new Set(desired.services.map((service) => service.name));
  const unknown = only.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new DistctlError(
      'UNKNOWN_SERVICE',
      `unknown service${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`,
      {
        hint:
          known.size > 0
            ? `The topology defines: ${[...known].join(', ')}.`
            : 'The topology defines no services (add them under `services:`).',
      },
    );
  }
  return desired.services.filter((service) => only.includes(service.name));
}

/**
 * Deploys the bundled services into their containers: one esbuild bundle per
 * service kind, the host's Node runtime, a 0600 environment file with the
 * secrets, and a hardened systemd unit running as the service's own user.
 * Only services whose artifacts changed are pushed and restarted (a
 * marker in the container holds the hashes of what was deployed), and every
 * selected service must then answer `/health` from the host.
 */
export async function deployServices(options: DeployServicesOptions): Promise<{ services: DeployedService[] }> {
  const progress = options.onProgress ?? (() => undefined);
  const selected = selectServices(options.desired, options.only);
  if (selected.length === 0) return { services: [] };

  // Bundles and the Node digest are cached in the deployment's state directory: unchanged, they cost a stat each.
  const cache = options.stateDir === undefined ? undefined : buildCache(options.stateDir);
  const host = await hostNode(undefined, undefined, cache);
  const bundles = new Map<ServiceKind, Promise<ServiceBundle>>();
  const bundleOf = (kind: ServiceKind): Promise<ServiceBundle> => {
    let bundle = bundles.get(kind);
    if (bundle === undefined) {
      progress({ event: 'start', message: `bundling the ${kind} service`, subject: kind });
      bundle = bundleService(kind, options.sourceRoot ?? DEFAULT_SERVICES_ROOT, cache);
      bundles.set(kind, bundle);
    }
    return bundle;
  };
  const prepared = await Promise.all(selected.map((service) => prepareService(service, options, host, bundleOf)));

  const byContainer = new Map<string, PreparedService[]>();
  for (const item of prepared)
    byContainer.set(item.service.container, [...(byContainer.get(item.service.container) ?? []), item]);
  const limit = pLimit(4);
  const outcomes = await Promise.allSettled(
    [...byContainer].map(([container, items]) =>
      limit(() => deployContainer(container, items, options.ops, host, progress, options.probes?.get(container))),
    ),
  );
  const deployed = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? outcome.value : []));
  throwFirst(outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : [])));
  if (options.stateDir !== undefined) await recordNodeRuntime(options.stateDir, host);

  const fetchImpl = options.fetch ?? hostFetch;
  const health = await Promise.allSettled(
    deployed.map(async (result) => {
      progress({
        event: 'wait',
        message: `${result.service.name}: waiting for ${result.service.url}/health`,
        subject: result.service.name,
      });
      const seconds = await waitForHealth(result.service, {
        ops: options.ops,
        fetch: fetchImpl,
        timeoutMs: options.healthTimeoutMs ?? 60_000,
        ...(result.restarted
          ? { restartBaseline: 0, settleMs: options.healthSettleMs ?? 2_000 }
          : { firstState: result.unit }),
      });
      progress({
        event: 'done',
        message: `${result.service.name}: healthy in container ${result.service.container}${result.restarted ? ` (checked ${seconds.toFixed(1)} s after start)` : ''}`,
        subject: result.service.name,
      });
    }),
  );
  throwFirst(health.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : [])));

  const order = new Map(selected.map((service, index) => [service.name, index]));
  return {
    services: deployed
      .sort((a, b) => (order.get(a.service.name) ?? 0) - (order.get(b.service.name) ?? 0))
      .map((result) => ({
        name: result.service.name,
        container: result.service.container,
        changed: result.changed,
        restarted: result.restarted,
        healthy: true,
        artifactHash: result.artifactHash,
      })),
  };
}

async function prepareService(
  service: DerivedService,
  options: DeployServicesOptions,
  host: HostNode,
  bundleOf: (kind: ServiceKind) => Promise<ServiceBundle>,
): Promise<PreparedService> {
  const [bundle, unit, env] = await Promise.all([
    bundleOf(service.kind),
    renderServiceUnit(service),
    serviceEnvironment(options.desired, service, options.secrets),
  ]);
  const envFile = renderEnvFile(service.name, env);
  return {
    service,
    bundle,
    unit,
    envFile,
    parts: { bundle: bundle.hash, unit: sha256(unit), env: sha256(envFile), node: host.sha256 },
  };
}

interface ContainerOutcome {
  readonly service: DerivedService;
  readonly changed: boolean;
  readonly restarted: boolean;
  readonly artifactHash: string;
  /** The unit as the probe found it, before anything was (re)started. */
  readonly unit: UnitState;
}

/**
 * One container: read what is deployed (one exec), bring its Node runtime
 * to the host's, push the changed parts of changed services, then reload,
 * enable and (re)start exactly the units that need it.
 */
async function deployContainer(
  container: string,
  items: readonly PreparedService[],
  ops: ContainerOps,
  host: HostNode,
  progress: Progress,
  started?: Promise<ContainerProbe>,
): Promise<ContainerOutcome[]> {
  // A probe started earlier read every service of the container: these among them.
  const probe = await (started ??
    probeContainer(
      ops,
      container,
      items.map((item) => item.service),
    ));
  if (await ensureContainerNode(ops, container, { sha256: probe.nodeSha256 }, host)) {
    progress({
      event: 'done',
      message: `${container}: Node ${host.version} installed at /usr/local/bin/node`,
      subject: container,
    });
  }

  const plans = items.map((item) => {
    const current: ServiceProbe = probe.services.get(item.service.name) ?? {
      deployed: null,
      active: 'inactive',
      unit: { activeState: 'inactive', subState: 'dead', restarts: 0 },
      enabled: '',
    };
    const hash = artifactHash(item.parts);
    const changed = current.deployed?.artifact !== hash;
    return {
      item,
      current,
      hash,
      changed,
      start: !changed && current.active !== 'active',
      enable: current.enabled !== 'enabled',
    };
  });
  const changed = plans.filter((plan) => plan.changed);

  if (changed.length > 0) {
    const dirs = changed.map((plan) => servicePaths(plan.item.service).dir);
    const users = changed.map((plan) => serviceUser(plan.item.service.name));
    // Directories first and world-readable: writeFile creates missing parents with umask 077, which the service user could not enter.
    await execChecked(
      ops,
      container,
      ['sh', '-c', PREPARE_SCRIPT, 'sh', String(users.length), ...users, ...dirs],
      'creating service users and directories',
    );
  }
  let unitsChanged = false;
  for (const { item, current } of changed) {
    const paths = servicePaths(item.service);
    const pushed: string[] = [];
    if (current.deployed?.bundle !== item.parts.bundle) {
      await ops.writeFile(container, paths.main, item.bundle.code, { mode: 0o644 });
      pushed.push(`bundle (${(item.bundle.code.length / 1024 / 1024).toFixed(1)} MiB)`);
    }
    if (current.deployed?.env !== item.parts.env) {
      await ops.writeFile(container, paths.envFile, item.envFile, { mode: 0o600 });
      pushed.push('environment');
    }
    if (current.deployed?.unit !== item.parts.unit) {
      await ops.writeFile(container, paths.unitFile, item.unit, { mode: 0o644 });
      unitsChanged = true;
      pushed.push('unit');
    }
    progress({
      event: 'done',
      message: `${item.service.name}: pushed ${pushed.length > 0 ? pushed.join(', ') : 'nothing new'} to ${container}${current.deployed !== null && current.deployed.node !== item.parts.node ? ' (new Node runtime)' : ''}`,
      subject: item.service.name,
    });
  }

  const units = (select: (plan: (typeof plans)[number]) => boolean): string[] =>
    plans.filter(select).map((plan) => plan.item.service.unitName);
  const systemctl = async (argv: string[], what: string): Promise<void> => {
    await execChecked(ops, container, ['systemctl', ...argv], what, {
      timeoutMs: 120_000,
      hint: `See \`distctl logs ${container} UNIT\` for why.`,
    });
  };
  if (unitsChanged) await systemctl(['daemon-reload'], 'reloading systemd units');
  const toEnable = units((plan) => plan.enable);
  if (toEnable.length > 0) await systemctl(['enable', '--quiet', ...toEnable], `enabling ${toEnable.join(', ')}`);
  const toRestart = units((plan) => plan.changed);
  if (toRestart.length > 0) await systemctl(['restart', ...toRestart], `restarting ${toRestart.join(', ')}`);
  const toStart = units((plan) => plan.start);
  if (toStart.length > 0) await systemctl(['start', ...toStart], `starting ${toStart.join(', ')}`);
  for (const unit of [...toRestart, ...toStart])
    progress({
      event: 'done',
      message: `${container}: ${toRestart.includes(unit) ? 'restarted' : 'started'} ${unit}`,
      subject: container,
    });

  // Markers last: a deployment interrupted before this point is redone by the next run.
  for (const { item } of changed)
    await ops.writeFile(container, servicePaths(item.service).marker, renderMarker(item.parts), { mode: 0o600 });

  return plans.map((plan) => ({
    service: plan.item.service,
    changed: plan.changed,
    restarted: plan.changed || plan.start,
    artifactHash: plan.hash,
    unit: plan.current.unit,
  }));
}

/** Arguments: COUNT, COUNT user names, then the service directories. Users are system users without a home or login shell. */
const PREPARE_SCRIPT = [
  'set -e',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  getent passwd "$1" >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1"',
  '  shift; n=$((n - 1))',
  'done',
  'install -d -m 0755 /opt/distctl "$@"',
  'install -d -m 0700 /etc/distctl',
].join('\n');

/** Rethrows the first failure; the others become details, so nothing is lost. */
function throwFirst(errors: readonly unknown[]): void {
  if (errors.length === 0) return;
  const [first, ...rest] = errors;
  if (rest.length === 0) throw first;
  const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));
  if (first instanceof DistctlError) {
    throw new DistctlError(first.code, first.message, {
      details: [
        ...first.details,
        ...rest.flatMap((error) => [
          `also: ${describe(error)}`,
          ...(error instanceof DistctlError ? error.details.map((line) => `  ${line}`) : []),
        ]),
      ],
      hint: first.hint,
      cause: first,
    });
  }
  throw first;
}

/** A deploy's outcome in one line, e.g. `web-server restarted; auth-server unchanged`; `up` reports its services stage with it too. */
export function summarizeDeploy(services: readonly DeployedService[]): string {
  if (services.length === 0) return 'no services declared';
  const word = (service: DeployedService): string =>
    service.changed ? 'deployed and restarted' : service.restarted ? 'unchanged, started' : 'unchanged';
  return services.map((service) => `${service.name} ${word(service)}`).join('; ');
}
