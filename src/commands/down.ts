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
import type { Plan } from '../plan/types.js';
import { dataHeldBy, dataLoss } from './data-bearing.js';
import type { CommandResult } from './result.js';

/** Options of `distctl down`, merged by the CLI. */
export interface DownOptions {
  readonly file: string;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly confirm: (question: string) => Promise<boolean>;
  readonly stateDirFor: (project: string) => string;
  /** Keep every container that holds a database (and so the network, project and secrets): --keep-data. */
  readonly keepData?: boolean;
  /** Delete the secrets even though Incus shows no project for them: --forget-state. */
  readonly forgetState?: boolean;
}

/**
 * `distctl down`: removes the instances, network and project distctl created
 * for this topology, and nothing else. The confirmation names every container
 * that holds a database, with its databases. Once the project itself is gone,
 * the deployment's host-side state (its secrets) goes too: nothing is left
 * that they could open. While anything remains, they are kept; when Incus
 * shows no project at all, they are kept unless --forget-state says otherwise.
 */
export async function downCommand(options: DownOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  return whileLocked(options.stateDirFor(desired.project), 'down', () => tearDown(options, desired));
}

async function tearDown(options: DownOptions, desired: DesiredState): Promise<CommandResult> {
  const { ui, client } = options;
  const observed = await observeIncus(client, desired);
  const full = planDown(desired, observed);
  const plan = options.keepData ? keepingData(full, desired) : full;
  for (const notice of plan.notices) ui.step({ event: 'info', message: `${notice.subject} ${notice.message}` });
  const stateDir = options.stateDirFor(desired.project);
  if (plan.actions.length === 0) return nothingInIncus(options, desired, observed.project === null, stateDir);
  const deleted = plan.actions.flatMap((action) => (action.kind === 'delete-instance' ? [action.container] : []));
  const lost = dataLoss(deleted, desired);
  // Shown even with --yes, so a log of the run says what data went.
  for (const line of lost) ui.step({ event: 'info', message: `data lost with ${line}` });
  const removesProject = plan.actions.some((action) => action.kind === 'delete-project');
  const question = [
    `Remove ${plan.actions
      .map(describeAction)
      .map((line) => line.replace(/^- /, ''))
      .join(', ')}?`,
    lost.length > 0
      ? `These containers hold data that is lost: ${lost.join('; ')}.`
      : 'All data in these containers is lost.',
    removesProject ? `The deployment's secrets in ${stateDir} are deleted too.` : '',
    'To keep a copy, run `distctl export` first; `distctl down --keep-data` keeps the database containers.',
  ]
    .filter((part) => part !== '')
    .join(' ');
  if (!(await options.confirm(question))) {
    throw new DistctlError('ABORTED', 'down aborted: nothing was removed', {
      hint: 'Run again and confirm, or pass --yes.',
    });
  }
  await applyPlan(client, plan, { onProgress: (event) => ui.step(event) });
  const removedState = removesProject && (await removeState(stateDir));
  const removed = [...plan.actions.map(describeAction), ...(removedState ? [`- state ${stateDir} (secrets)`] : [])];
  return {
    exitCode: 0,
    human:
      `${ui.color.green('down:')} removed ${plan.actions.length} resource${plan.actions.length === 1 ? '' : 's'}` +
      (removedState
        ? " and the deployment's secrets"
        : removesProject
          ? ''
          : `; secrets kept in ${stateDir} while resources remain`),
    json: { ok: true, removed, dataLost: lost, notices: plan.notices, incusCalls: client.calls },
  };
}

/**
 * Nothing of the deployment is visible in Incus. That may mean it is gone —
 * or that the client looks at another remote, or through a restricted view —
 * so the secrets, without which the databases cannot be opened, are deleted
 * only when the operator says so with --forget-state.
 */
async function nothingInIncus(
  options: DownOptions,
  desired: DesiredState,
  noProject: boolean,
  stateDir: string,
): Promise<CommandResult> {
  // Taking the lock made the directory; empty, it is no state to keep. (The lock file itself lives outside it.)
  const entries = await readdir(stateDir).catch(() => null);
  const holdsState = (entries?.length ?? 0) > 0;
  if (noProject && entries !== null && !holdsState) await rm(stateDir, { recursive: true, force: true });
  const removedState = noProject && holdsState && options.forgetState === true && (await removeState(stateDir));
  const kept = noProject && holdsState && !removedState;
  const keptNote = kept
    ? ` Its secrets stay in ${stateDir}: Incus shows no project ${desired.project} here, which is also what ` +
      'another remote or a restricted view looks like. If the deployment is really gone, delete them with ' +
      '`distctl down --forget-state`.'
    : '';
  return {
    exitCode: 0,
    human:
      `Nothing to remove in Incus: no distctl resources for project ${desired.project}.` +
      `${removedState ? ` Removed its leftover state ${stateDir}.` : ''}${keptNote}`,
    json: {
      ok: true,
      removed: removedState ? [`state ${stateDir}`] : [],
      keptState: kept ? stateDir : null,
      dataLost: [],
      notices: [],
    },
  };
}

/** The down plan without the containers that hold databases, nor the network and project they still need. */
function keepingData(plan: Plan, desired: DesiredState): Plan {
  const held = dataHeldBy(desired);
  const keeps = plan.actions.some((action) => action.kind === 'delete-instance' && held.has(action.container));
  if (!keeps) return plan;
  const actions = plan.actions.filter(
    (action) =>
      !(action.kind === 'delete-instance' && held.has(action.container)) &&
      action.kind !== 'delete-network' &&
      action.kind !== 'delete-project',
  );
  return { ...plan, actions };
}

/**
 * Deletes a deployment's state directory; false when it held nothing (or did not exist). The lock this run holds
 * is not in it (see lockFile), so it stays held.
 */
async function removeState(stateDir: string): Promise<boolean> {
  const entries = await readdir(stateDir).catch(() => null);
  if (entries === null) return false;
  await rm(stateDir, { recursive: true, force: true });
  return entries.length > 0;
}
