import { applyPlan } from '../apply/index.js';
import type { Ui } from './ui.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { observeIncus } from '../observe/incus.js';
import { describeAction } from '../plan/calls.js';
import { planDown } from '../plan/index.js';
import { loadDeployment, whileLocked } from './context.js';
import type { DesiredState } from '../derive/types.js';
import { readdir, rm } from 'node:fs/promises';
import type { CommandResult } from './result.js';

/** Options of `distctl down`, merged by the CLI. */
export interface DownOptions {
  readonly file: string;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly confirm: (question: string) => Promise<boolean>;
  readonly stateDirFor: (project: string) => string;
}

/**
 * `distctl down`: removes the instances, network and project distctl created
 * for this topology, and nothing else. Once the project itself is gone, the
 * deployment's host-side state (its secrets) goes too: nothing is left that
 * they could open. While anything remains, they are kept.
 */
export async function downCommand(options: DownOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  return whileLocked(options.stateDirFor(desired.project), 'down', () => tearDown(options, desired));
}

async function tearDown(options: DownOptions, desired: DesiredState): Promise<CommandResult> {
  const { ui, client } = options;
  const observed = await observeIncus(client, desired.project);
  const plan = planDown(desired, observed);
  for (const notice of plan.notices) ui.step({ event: 'info', message: `${notice.subject} ${notice.message}` });
  const stateDir = options.stateDirFor(desired.project);
  if (plan.actions.length === 0) {
    const removedState = observed.project === null && (await removeState(stateDir));
    return {
      exitCode: 0,
      human: `Nothing to remove in Incus: no distctl resources for project ${desired.project}.${removedState ? ` Removed its leftover state ${stateDir}.` : ''}`,
      json: { ok: true, removed: removedState ? [`state ${stateDir}`] : [], notices: plan.notices },
    };
  }
  const question = `Remove ${plan.actions.map(describeAction).map((line) => line.replace(/^- /, '')).join(', ')}? All data in these containers is lost.`;
  if (!(await options.confirm(question))) {
    throw new DistctlError('ABORTED', 'down aborted: nothing was removed', { hint: 'Run again and confirm, or pass --yes.' });
  }
  await applyPlan(client, plan, { onProgress: (event) => ui.step(event) });
  const projectRemoved = plan.actions.some((action) => action.kind === 'delete-project');
  const removedState = projectRemoved && (await removeState(stateDir));
  const removed = [...plan.actions.map(describeAction), ...(removedState ? [`- state ${stateDir} (secrets)`] : [])];
  return {
    exitCode: 0,
    human: `${ui.color.green('down:')} removed ${plan.actions.length} resource${plan.actions.length === 1 ? '' : 's'}${removedState ? ' and the deployment\'s secrets' : projectRemoved ? '' : `; secrets kept in ${stateDir} while resources remain`}`,
    json: { ok: true, removed, notices: plan.notices, incusCalls: client.calls },
  };
}

/** Deletes a deployment's state directory; false when it held nothing but this run's own lock (or did not exist). */
async function removeState(stateDir: string): Promise<boolean> {
  const entries = await readdir(stateDir).catch(() => null);
  if (entries === null) return false;
  await rm(stateDir, { recursive: true, force: true });
  return entries.some((entry) => entry !== 'lock');
}
