import { dirname } from 'node:path';
import { applyPlan, waitForAddresses, type Progress } from '../apply/index.js';
import type { Ui } from './ui.js';
import type { DesiredState } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { IncusContainerOps } from '../incus/container-ops.js';
import { IncusProxyAccess } from '../mongo/bootstrap.js';
import { DriverMongoAdmin } from '../mongo/driver-admin.js';
import { ensureMongoTier } from '../mongo/up.js';
import { deployServices, startServiceProbes, summarizeDeploy } from '../deploy/index.js';
import type { ContainerProbe } from '../deploy/probe.js';
import { ExecaRunner } from '../exec/runner.js';
import { buildImage, ensureRecipeImages, type ImageBuilder, type RecipeImageOutcome } from '../image/index.js';
import { instanceAddresses, observeIncus } from '../observe/incus.js';
import { describeAction } from '../plan/calls.js';
import { planUp } from '../plan/index.js';
import { openSecretStore, type SecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { assertNoConflicts, loadDeployment, whileLocked, type Deployment } from './context.js';
import { dataLoss } from './data-bearing.js';
import type { CommandResult } from './result.js';

/** Options of `distctl up`, already merged from flags and defaults by the CLI. */
export interface UpOptions {
  readonly file: string;
  readonly prune: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly confirm: (question: string) => Promise<boolean>;
  readonly addressTimeoutMs: number;
  readonly concurrency: number;
  /** Host-side state directory of a deployment (its secrets), by project name. */
  readonly stateDirFor: (project: string) => string;
  /** Builds a missing `{ build: ... }` image; default: debootstrap on this host (tests pass a fake). */
  readonly buildImage?: ImageBuilder;
}

/** The outcome of one stage of `up`. */
export interface StageOutcome {
  readonly stage: string;
  readonly status: 'ok' | 'failed' | 'skipped';
  readonly summary: string;
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly details: readonly string[];
    readonly hint: string | null;
  };
}

/** What a later stage gets to work with once the containers exist. */
interface StageContext {
  readonly desired: DesiredState;
  readonly ops: IncusContainerOps;
  readonly client: IncusClient;
  readonly secrets: SecretStore;
  /** The deployment's host-side state directory. */
  readonly stateDir: string;
  readonly topologyDir: string;
  readonly progress: Progress;
  /** The services' probes, started before the databases stage so that they run beside it. */
  readonly serviceProbes?: ReadonlyMap<string, Promise<ContainerProbe>>;
}

/**
 * Stages after the containers: each runs even when an earlier one failed (the
 * services tolerate absent databases), and `up` reports every failed stage.
 */
const LATER_STAGES: readonly {
  readonly name: string;
  readonly applies: (desired: DesiredState) => boolean;
  readonly run: (context: StageContext) => Promise<string>;
}[] = [
  {
    name: 'databases',
    applies: (desired) => desired.replicaSets.length + desired.standalones.length > 0,
    run: async ({ desired, ops, client, secrets, topologyDir, progress }) => {
      const admin = new DriverMongoAdmin();
      try {
        const localhost = new IncusProxyAccess(client, desired);
        const result = await ensureMongoTier(desired, {
          ops,
          admin,
          localhost,
          secrets,
          topologyDir,
          onProgress: (message) => progress({ event: 'start', message }),
        });
        const sets = result.replicaSets
          .map((set) => `${set.name} ${set.initiated ? 'initiated' : 'healthy'}`)
          .join(', ');
        return `${result.changed ? 'converged' : 'unchanged'}${sets ? `: ${sets}` : ''}`;
      } finally {
        await admin.close();
      }
    },
  },
  {
    name: 'services',
    applies: (desired) => desired.services.length > 0,
    run: async ({ desired, ops, secrets, stateDir, progress, serviceProbes }) =>
      summarizeDeploy(
        (
          await deployServices({
            desired,
            ops,
            secrets,
            stateDir,
            onProgress: progress,
            ...(serviceProbes === undefined ? {} : { probes: serviceProbes }),
          })
        ).services,
      ),
  },
];

/**
 * `distctl up`: converge Incus to the topology (project, bridge, containers
 * with static addresses, proxies), wait until every container holds its
 * declared address, then converge the databases and services inside them.
 * A second run plans nothing and changes nothing.
 */
export async function upCommand(options: UpOptions): Promise<CommandResult> {
  const deployment = await loadDeployment(options.file);
  return whileLocked(options.stateDirFor(deployment.desired.project), 'up', () => converge(options, deployment));
}

/** Converges a loaded deployment, stage by stage; the caller (`up`, `import`, named by `command`) holds the deployment's lock. */
export async function converge(
  options: UpOptions,
  deployment: Deployment,
  command: 'up' | 'import' = 'up',
): Promise<CommandResult> {
  const started = Date.now();
  const { ui, client } = options;
  for (const warning of deployment.warnings) ui.step({ event: 'info', message: `topology warning: ${warning}` });
  const { desired } = deployment;

  const containers = await convergeContainers(options, desired);
  const stages: StageOutcome[] = [
    ...(containers.images.length === 0
      ? []
      : [{ stage: 'images', status: 'ok' as const, summary: describeImages(containers.images) }]),
    { stage: 'containers', status: 'ok', summary: containers.summary },
  ];

  const ops = new IncusContainerOps(client, desired);
  const context: StageContext = {
    desired,
    ops,
    // Read-only, and about containers the databases stage leaves alone: started now, they run beside it.
    ...(desired.services.length > 0 ? { serviceProbes: startServiceProbes(desired, ops) } : {}),
    client,
    secrets: await openSecretStore(secretsDir(options.stateDirFor(desired.project))),
    stateDir: options.stateDirFor(desired.project),
    topologyDir: dirname(options.file),
    progress: (event) => ui.step(event),
  };
  for (const stage of LATER_STAGES) {
    if (!stage.applies(desired)) {
      stages.push({ stage: stage.name, status: 'skipped', summary: 'nothing declared' });
      continue;
    }
    ui.step({ event: 'start', message: `${stage.name}: converging` });
    try {
      const summary = await stage.run(context);
      ui.step({ event: 'done', message: `${stage.name}: ${summary}` });
      stages.push({ stage: stage.name, status: 'ok', summary });
    } catch (error) {
      if (!(error instanceof DistctlError)) throw error;
      ui.step({ event: 'fail', message: `${stage.name}: ${error.message}` });
      stages.push({
        stage: stage.name,
        status: 'failed',
        summary: error.message,
        error: { code: error.code, message: error.message, details: error.details, hint: error.hint ?? null },
      });
    }
  }

  const failed = stages.filter((stage) => stage.status === 'failed');
  const seconds = (Date.now() - started) / 1000;
  const { color } = ui;
  const lines = stages.map((stage) => {
    const mark = stage.status === 'ok' ? color.green('✔') : stage.status === 'failed' ? color.red('✖') : color.dim('-');
    const body = [`${mark} ${stage.stage}: ${stage.summary}`];
    if (stage.error)
      body.push(
        ...stage.error.details.map((line) => `    ${line}`),
        ...(stage.error.hint ? [`    ${color.cyan('hint:')} ${stage.error.hint}`] : []),
      );
    return body.join('\n');
  });
  lines.push(
    failed.length === 0
      ? `${color.green(`${command}:`)} done in ${seconds.toFixed(1)} s (${client.calls} incus calls)`
      : `${color.red(`${command}:`)} ${failed.length} stage${failed.length === 1 ? '' : 's'} failed: ${failed.map((stage) => stage.stage).join(', ')} (${seconds.toFixed(1)} s). What succeeded is kept; fix the cause and run \`distctl up${command === 'import' ? ` -f ${options.file}` : ''}\` again.`,
  );
  return {
    exitCode: failed.length === 0 ? 0 : 1,
    human: lines.join('\n'),
    json: {
      ok: failed.length === 0,
      project: desired.project,
      stages,
      failedStages: failed.map((stage) => stage.stage),
      applied: containers.applied,
      actions: containers.actions,
      seconds,
      incusCalls: client.calls,
      containers: desired.containers.map((container) => ({ name: container.name, ipv4: container.ipv4 })),
    },
  };
}

/** `distctl-debian-bookworm-… built (80 s)`, `… reused`: one phrase per recipe image. */
function describeImages(images: readonly RecipeImageOutcome[]): string {
  const outcome = (image: RecipeImageOutcome) =>
    image.outcome === 'built' ? `built (${(image.seconds ?? 0).toFixed(0)} s)` : 'reused (same recipe)';
  return images.map((image) => `${image.alias} ${outcome(image)}`).join(', ');
}

/**
 * The containers stage: plan against Incus, build the recipe images that
 * containers to be created need, apply, wait for addresses. Any failure here stops `up`.
 */
async function convergeContainers(
  options: UpOptions,
  desired: DesiredState,
): Promise<{ applied: number; actions: string[]; summary: string; images: RecipeImageOutcome[] }> {
  const { ui, client } = options;
  ui.step({ event: 'start', message: 'reading Incus state' });
  const observed = await observeIncus(client, desired);
  const plan = planUp(desired, observed, { prune: options.prune });
  assertNoConflicts(plan);
  for (const notice of plan.notices) ui.step({ event: 'info', message: `${notice.subject} ${notice.message}` });

  const deletions = plan.actions.filter((action) => action.kind === 'delete-instance');
  if (deletions.length > 0) ui.stop();
  const lost = dataLoss(
    deletions.flatMap((action) => (action.kind === 'delete-instance' ? [action.container] : [])),
    desired,
  );
  // Shown even with --yes, so a log of the run says what data went.
  for (const line of lost) ui.step({ event: 'info', message: `data lost with ${line}` });
  const question = `Delete ${deletions.map(describeAction).join(', ')}? Everything stored in ${deletions.length === 1 ? 'it' : 'them'} is lost${lost.length > 0 ? ` (${lost.join('; ')})` : ''}; \`distctl export\` first keeps a copy.`;
  if (deletions.length > 0 && !(await options.confirm(question))) {
    throw new DistctlError('ABORTED', 'up aborted: deletions were not confirmed; nothing was changed', {
      hint: 'Run again and confirm, or pass --yes.',
    });
  }
  const creating = plan.actions.flatMap((action) => (action.kind === 'create-instance' ? [action.container] : []));
  const build = options.buildImage ?? ((request) => buildImage({ ...request, runner: new ExecaRunner() }));
  const onProgress = (message: string) => ui.step({ event: 'start', message });
  const images = await ensureRecipeImages(creating, { client, build, onProgress });
  for (const image of images) ui.step({ event: 'done', message: `image ${describeImages([image])}` });
  if (plan.actions.length > 0)
    ui.step({
      event: 'info',
      message: `applying ${plan.actions.length} change${plan.actions.length === 1 ? '' : 's'}`,
    });
  const { applied } = await applyPlan(client, plan, {
    concurrency: options.concurrency,
    onProgress: (event) => ui.step(event),
  });

  const alreadyAddressed =
    plan.actions.length === 0 &&
    desired.containers.every((container) => {
      const instance = observed.instances.find((candidate) => candidate.name === container.name);
      const addresses = instance ? instanceAddresses(instance) : [];
      return instance?.status === 'Running' && addresses.length === 1 && addresses[0] === container.ipv4;
    });
  if (!alreadyAddressed) {
    ui.step({ event: 'wait', message: 'waiting for every container to hold its address' });
    await waitForAddresses(client, desired, desired.containers, {
      timeoutMs: options.addressTimeoutMs,
      onProgress: (event) => ui.step(event),
    });
  }
  const summary = `${desired.containers.length} running with their declared addresses (${applied === 0 ? 'no changes' : `${applied} change${applied === 1 ? '' : 's'}`})`;
  return { applied, actions: plan.actions.map(describeAction), summary, images };
}
