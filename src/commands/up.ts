import { applyPlan, waitForAddresses } from '../apply/index.js';
import type { Ui } from '../cli/ui.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { instanceAddresses, observeIncus } from '../observe/incus.js';
import { describeAction } from '../plan/calls.js';
import { planUp } from '../plan/index.js';
import { assertNoConflicts, loadDeployment } from './context.js';
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
}

/**
 * `distctl up`: converge Incus to the topology (project, bridge, containers
 * with static addresses, proxies), then wait until every container holds its
 * declared address. A second run plans nothing and returns after one read.
 */
export async function upCommand(options: UpOptions): Promise<CommandResult> {
  const started = Date.now();
  const { ui, client } = options;
  const deployment = await loadDeployment(options.file);
  for (const warning of deployment.warnings) ui.step({ event: 'info', message: `topology warning: ${warning}` });
  const { desired } = deployment;

  ui.step({ event: 'start', message: 'reading Incus state' });
  const observed = await observeIncus(client, desired.project);
  const plan = planUp(desired, observed, { prune: options.prune });
  assertNoConflicts(plan);
  for (const notice of plan.notices) ui.step({ event: 'info', message: `${notice.subject} ${notice.message}` });

  const deletions = plan.actions.filter((action) => action.kind === 'delete-instance');
  if (deletions.length > 0 && !(await options.confirm(`Delete ${deletions.map(describeAction).join(', ')}?`))) {
    throw new DistctlError('ABORTED', 'up aborted: deletions were not confirmed; nothing was changed', { hint: 'Run again and confirm, or pass --yes.' });
  }

  ui.step({ event: 'info', message: plan.actions.length === 0 ? 'Incus matches the topology: no changes' : `applying ${plan.actions.length} change${plan.actions.length === 1 ? '' : 's'}` });
  const { applied } = await applyPlan(client, plan, { concurrency: options.concurrency, onProgress: (event) => ui.step(event) });

  const alreadyAddressed = plan.actions.length === 0 && desired.containers.every((container) => {
    const instance = observed.instances.find((candidate) => candidate.name === container.name);
    const addresses = instance ? instanceAddresses(instance) : [];
    return instance?.status === 'Running' && addresses.length === 1 && addresses[0] === container.ipv4;
  });
  let addressSeconds = 0;
  if (!alreadyAddressed) {
    ui.step({ event: 'wait', message: 'waiting for every container to hold its address' });
    addressSeconds = (await waitForAddresses(client, desired.project, desired.containers, { timeoutMs: options.addressTimeoutMs, onProgress: (event) => ui.step(event) })).seconds;
  }
  ui.step({ event: 'done', message: `${desired.containers.length} containers running with their declared addresses` });

  const seconds = (Date.now() - started) / 1000;
  return {
    exitCode: 0,
    human: `${ui.color.green('up:')} ${applied} change${applied === 1 ? '' : 's'} applied in ${seconds.toFixed(1)} s (${client.calls} incus calls)`,
    json: {
      ok: true,
      project: desired.project,
      applied,
      actions: plan.actions.map(describeAction),
      notices: plan.notices,
      seconds,
      addressWaitSeconds: addressSeconds,
      incusCalls: client.calls,
      containers: desired.containers.map((container) => ({ name: container.name, ipv4: container.ipv4 })),
    },
  };
}
