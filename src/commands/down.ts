import { applyPlan } from '../apply/index.js';
import type { Ui } from '../cli/ui.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { observeIncus } from '../observe/incus.js';
import { describeAction } from '../plan/calls.js';
import { planDown } from '../plan/index.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

/** `distctl down`: removes the instances, network and project distctl created for this topology, and nothing else. */
export async function downCommand(options: { file: string; client: IncusClient; ui: Ui; confirm: (question: string) => Promise<boolean> }): Promise<CommandResult> {
  const { ui, client } = options;
  const { desired } = await loadDeployment(options.file);
  const observed = await observeIncus(client, desired.project);
  const plan = planDown(desired, observed);
  for (const notice of plan.notices) ui.step({ event: 'info', message: `${notice.subject} ${notice.message}` });
  if (plan.actions.length === 0) {
    return { exitCode: 0, human: `Nothing to remove: no distctl resources for project ${desired.project}.`, json: { ok: true, removed: [], notices: plan.notices } };
  }
  const question = `Remove ${plan.actions.map(describeAction).map((line) => line.replace(/^- /, '')).join(', ')}? All data in these containers is lost.`;
  if (!(await options.confirm(question))) {
    throw new DistctlError('ABORTED', 'down aborted: nothing was removed', { hint: 'Run again and confirm, or pass --yes.' });
  }
  await applyPlan(client, plan, { onProgress: (event) => ui.step(event) });
  return {
    exitCode: 0,
    human: `${ui.color.green('down:')} removed ${plan.actions.length} resource${plan.actions.length === 1 ? '' : 's'}`,
    json: { ok: true, removed: plan.actions.map(describeAction), notices: plan.notices, incusCalls: client.calls },
  };
}
