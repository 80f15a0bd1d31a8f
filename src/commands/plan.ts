import type { IncusClient } from '../incus/client.js';
import { buildCache } from '../deploy/bundle.js';
import { callArgv } from '../incus/client.js';
import { IncusContainerOps } from '../incus/container-ops.js';
import { missingRecipeImages, recipeImages, type RecipeImage } from '../image/index.js';
import type { MongoAdmin } from '../mongo/admin.js';
import { runningContainers, runningOnly } from '../observe/deployment.js';
import { observeIncus } from '../observe/incus.js';
import { describeAction, incusCallsFor } from '../plan/calls.js';
import { planUp } from '../plan/index.js';
import { planStages, type StageChange } from '../plan/stages.js';
import type { Plan } from '../plan/types.js';
import { SecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import type { Ui } from './ui.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';
import { isDeployed } from './status.js';

/** Exit code of `plan --detailed-exitcode` when `up` would change something (as Terraform's). */
export const EXIT_PLAN_CHANGES = 2;

/** Options of `distctl plan`, merged by the CLI. */
export interface PlanOptions {
  readonly file: string;
  readonly prune: boolean;
  readonly showCalls: boolean;
  /** 0 no changes, 2 changes, 1 error or conflict (Terraform's `-detailed-exitcode`). */
  readonly detailedExitCode?: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  /** Where the deployment's secrets are read from (never written). */
  readonly stateDirFor: (project: string) => string;
  /** The MongoDB admin for replica-set status; default the driver (only ever asked about running containers). */
  readonly mongo?: MongoAdmin;
}

/** Everything `up` would do: Incus changes, images to build, and the databases and services stages. */
export interface FullPlan {
  readonly incus: Plan;
  readonly deployed: boolean;
  readonly images: readonly RecipeImage[];
  readonly stages: readonly StageChange[];
}

/**
 * `distctl plan`: everything `up` would do, without changing anything or
 * creating any state: the Incus diff, images to build, and what the
 * databases and services stages would install, write, (re)start and initiate,
 * read from running containers only. Conflicts end it as a blocking summary.
 */
export async function planCommand(options: PlanOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const observed = await observeIncus(options.client, desired);
  const incus = planUp(desired, observed, { prune: options.prune });
  const creating = incus.actions.flatMap((action) => (action.kind === 'create-instance' ? [action.container] : []));
  const images = await missingRecipeImages(options.client, recipeImages(creating));
  const running = runningContainers(desired, observed);
  // The driver is loaded only when a container runs that could be asked.
  const load = async () => new (await import('../mongo/driver-admin.js')).DriverMongoAdmin();
  const driver = running.size > 0 && !options.mongo ? await load() : null;
  const mongo = options.mongo ?? driver;
  let stages: StageChange[];
  try {
    stages = await planStages(desired, {
      ops: new IncusContainerOps(options.client, desired),
      secrets: SecretStore.openReadOnly(secretsDir(options.stateDirFor(desired.project))),
      mongo: runningOnly(mongo ?? refusingAdmin, running),
      running,
      cache: buildCache(options.stateDirFor(desired.project), true),
    });
  } finally {
    await driver?.close();
  }
  const plan: FullPlan = { incus, deployed: isDeployed(observed), images, stages };
  const changes = changeCount(plan);
  const blocked = incus.conflicts.length > 0;
  return {
    exitCode: blocked ? 1 : options.detailedExitCode && changes > 0 ? EXIT_PLAN_CHANGES : 0,
    human: renderPlan(plan, options.ui, options.showCalls),
    json: {
      ...planJson(incus),
      deployed: plan.deployed,
      images: images.map((image) => ({ alias: image.alias, build: recipeName(image), containers: image.containers })),
      stages,
      totalChanges: changes,
      blocked,
      incusCalls: options.client.calls,
    },
  };
}

function recipeName(image: RecipeImage): string {
  return `${image.recipe.distro}/${image.recipe.suite}`;
}

/** With no container running, no mongod is ever asked anything. */
const refusingAdmin: MongoAdmin = {
  command: () => Promise.reject(new Error('no container is running')),
  close: () => Promise.resolve(),
};

function changeCount(plan: FullPlan): number {
  return plan.incus.actions.length + plan.images.length + plan.stages.length;
}

/** The Incus part of a plan as stable JSON: actions with their description and incus calls, conflicts, notices. */
export function planJson(plan: Plan): Record<string, unknown> {
  return {
    project: plan.project,
    changes: plan.actions.length,
    actions: plan.actions.map((action) => ({
      kind: action.kind,
      description: describeAction(action),
      calls: incusCallsFor(action, plan).map((call) => callArgv(call)),
    })),
    conflicts: plan.conflicts,
    notices: plan.notices,
  };
}

/** The plan as a coloured diff for a terminal; conflicts come last, as what blocks `up`. */
export function renderPlan(plan: FullPlan, ui: Ui, showCalls: boolean): string {
  const { color } = ui;
  const paint = (text: string) =>
    text.startsWith('+') ? color.green(text) : text.startsWith('-') ? color.red(text) : color.yellow(text);
  const { incus } = plan;
  const lines: string[] = [];
  if (!plan.deployed) {
    lines.push(`${color.bold(`project ${incus.project}`)}: not deployed — \`distctl up\` creates everything below.`);
  }
  for (const image of plan.images) {
    const containers = image.containers.join(', ');
    lines.push(paint(`+ image ${image.alias} (build ${recipeName(image)} with debootstrap, for ${containers})`));
  }
  for (const action of incus.actions) {
    lines.push(paint(describeAction(action)));
    if (!showCalls) continue;
    for (const call of incusCallsFor(action, incus)) lines.push(color.dim(`    $ ${callArgv(call).join(' ')}`));
  }
  for (const stage of ['databases', 'services'] as const) {
    const changes = plan.stages.filter((change) => change.stage === stage);
    if (changes.length === 0) continue;
    lines.push(color.bold(stage));
    for (const change of changes) lines.push(paint(`${change.sign} ${change.subject}: ${change.change}`));
  }
  for (const notice of incus.notices) lines.push(`${color.cyan('note:')} ${notice.subject} ${notice.message}`);
  const changes = changeCount(plan);
  const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
  const conflicts = incus.conflicts.length;
  if (conflicts > 0) {
    const until = conflicts === 1 ? 'it is' : 'they are';
    lines.push(
      color.red(
        `Plan blocked: ${plural(conflicts, 'conflict')} with what exists in Incus; ` +
          `\`up\` would change nothing until ${until} resolved:`,
      ),
      ...incus.conflicts.map((conflict) => `  ${color.red('!')} ${conflict.message}\n    ${conflict.hint}`),
    );
  } else if (changes === 0) {
    lines.push('No changes: everything matches the topology.');
  } else {
    const images = plan.images.length > 0 ? `, ${plural(plan.images.length, 'image')}` : '';
    const parts = `${incus.actions.length} in Incus${images}, ${plan.stages.length} in the databases and services`;
    lines.push(`Plan: ${plural(changes, 'change')} (${parts}) in project ${incus.project}.`);
  }
  return lines.join('\n');
}
