import type { IncusClient } from '../incus/client.js';
import { callArgv } from '../incus/client.js';
import { observeIncus } from '../observe/incus.js';
import { describeAction, incusCallsFor } from '../plan/calls.js';
import { planUp } from '../plan/index.js';
import type { Plan } from '../plan/types.js';
import type { Ui } from './ui.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

/** `distctl plan`: what `up` would change in Incus, as a diff, without changing anything. */
export async function planCommand(options: { file: string; prune: boolean; showCalls: boolean; client: IncusClient; ui: Ui }): Promise<CommandResult> {
  const deployment = await loadDeployment(options.file);
  const observed = await observeIncus(options.client, deployment.desired.project);
  const plan = planUp(deployment.desired, observed, { prune: options.prune });
  return {
    exitCode: plan.conflicts.length > 0 ? 1 : 0,
    human: renderPlan(plan, options.ui, options.showCalls),
    json: { ...planJson(plan), incusCalls: options.client.calls },
  };
}

/** The plan as stable JSON: actions with their description and incus calls, conflicts, notices. */
export function planJson(plan: Plan): Record<string, unknown> {
  return {
    project: plan.project,
    changes: plan.actions.length,
    actions: plan.actions.map((action) => ({ kind: action.kind, description: describeAction(action), calls: incusCallsFor(action, plan.project).map((call) => callArgv(call)) })),
    conflicts: plan.conflicts,
    notices: plan.notices,
  };
}

/** The plan as a coloured diff for a terminal. */
export function renderPlan(plan: Plan, ui: Ui, showCalls: boolean): string {
  const { color } = ui;
  const lines: string[] = [];
  for (const action of plan.actions) {
    const text = describeAction(action);
    lines.push(text.startsWith('+') ? color.green(text) : text.startsWith('-') ? color.red(text) : color.yellow(text));
    if (showCalls) for (const call of incusCallsFor(action, plan.project)) lines.push(color.dim(`    $ ${callArgv(call).join(' ')}`));
  }
  for (const conflict of plan.conflicts) lines.push(`${color.red('! conflict:')} ${conflict.message}\n    ${conflict.hint}`);
  for (const notice of plan.notices) lines.push(`${color.cyan('note:')} ${notice.subject} ${notice.message}`);
  lines.push(plan.actions.length === 0 ? 'No changes: Incus matches the topology.' : `Plan: ${plan.actions.length} change${plan.actions.length === 1 ? '' : 's'} in project ${plan.project}.`);
  return lines.join('\n');
}
