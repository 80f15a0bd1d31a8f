import { resolve } from 'node:path';
import type { Ui } from './ui.js';
import type { DesiredState } from '../derive/types.js';
import { deployServices, selectServices, summarizeDeploy } from '../deploy/index.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { IncusContainerOps } from '../incus/container-ops.js';
import { observeIncus } from '../observe/incus.js';
import { openSecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment, whileLocked, type Deployment } from './context.js';
import type { CommandResult } from './result.js';

/** Options of `distctl deploy`, merged by the CLI. */
export interface DeployOptions {
  readonly file: string;
  /** Service names to deploy; empty for all. */
  readonly services: readonly string[];
  readonly client: IncusClient;
  readonly ui: Ui;
  /** Host-side state directory of a deployment (its secrets), by project name. */
  readonly stateDirFor: (project: string) => string;
  /** Directory with `auth/main.ts` and `web/main.ts` to bundle instead of the bundled services (e.g. a patched copy). */
  readonly servicesSource?: string;
  readonly healthTimeoutMs?: number;
  /**
   * How the services' /health is probed from the host, and how long a
   * restarted one must stay up; the defaults for real runs, fakes in tests.
   */
  readonly fetch?: typeof fetch;
  readonly healthSettleMs?: number;
}

/**
 * `distctl deploy [SERVICE...]`: push the services' code, environment and
 * units to their (existing) containers and restart only what changed.
 */
export async function deployCommand(options: DeployOptions): Promise<CommandResult> {
  const deployment = await loadDeployment(options.file);
  return whileLocked(options.stateDirFor(deployment.desired.project), 'deploy', () => deploy(options, deployment));
}

async function deploy(options: DeployOptions, { desired, warnings }: Deployment): Promise<CommandResult> {
  const started = Date.now();
  const { ui, client } = options;
  for (const warning of warnings) ui.step({ event: 'info', message: `topology warning: ${warning}` });
  const selected = selectServices(desired, options.services);
  await requireRunningContainers(client, desired, [...new Set(selected.map((service) => service.container))]);

  const result = await deployServices({
    desired,
    ops: new IncusContainerOps(client, desired),
    secrets: await openSecretStore(secretsDir(options.stateDirFor(desired.project))),
    stateDir: options.stateDirFor(desired.project),
    only: options.services,
    ...(options.servicesSource === undefined ? {} : { sourceRoot: resolve(options.servicesSource) }),
    ...(options.healthTimeoutMs === undefined ? {} : { healthTimeoutMs: options.healthTimeoutMs }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ...(options.healthSettleMs === undefined ? {} : { healthSettleMs: options.healthSettleMs }),
    onProgress: (event) => ui.step(event),
  });
  const seconds = (Date.now() - started) / 1000;
  const changed = result.services.filter((service) => service.changed);
  return {
    exitCode: 0,
    human: `${ui.color.green('deploy:')} ${summarizeDeploy(result.services)} (${seconds.toFixed(1)} s)`,
    json: {
      ok: true,
      project: desired.project,
      services: result.services,
      changed: changed.map((service) => service.name),
      seconds,
    },
  };
}

/** The containers the services run in must exist and run; deploy never creates them (that is `up`'s job). */
async function requireRunningContainers(
  client: IncusClient,
  desired: DesiredState,
  containers: readonly string[],
): Promise<void> {
  const observed = await observeIncus(client, desired);
  const byName = new Map(observed.instances.map((instance) => [instance.name, instance.status]));
  const problems = containers.flatMap((name) => {
    const status = byName.get(name);
    if (status === undefined)
      return [
        `${name}: does not exist${observed.project === null ? ` (project ${desired.project} does not exist)` : ''}`,
      ];
    return status === 'Running' ? [] : [`${name}: ${status.toLowerCase()}`];
  });
  if (problems.length > 0) {
    throw new DistctlError(
      'CONTAINERS_NOT_READY',
      `cannot deploy: ${problems.length === 1 ? 'a container is' : 'containers are'} not running in project ${desired.project}`,
      {
        details: problems,
        hint: 'Run `distctl up` first: it creates and starts the containers (and deploys the services itself).',
      },
    );
  }
}
