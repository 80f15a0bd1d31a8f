/**
 * A deployment under test: a topology file in a temporary directory, the
 * in-memory Incus model behind a real IncusClient, a Ui that records
 * progress, and the stage helpers every apply/down test ends with —
 * `replan()` (observe → plan, which must come back empty) and `owned()`
 * (what distctl owns in Incus, which must be nothing after down).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chalk } from 'chalk';
import type { ProgressEvent, Ui } from '../../../src/cli/ui.js';
import { loadDeployment } from '../../../src/commands/context.js';
import type { CommandResult } from '../../../src/commands/result.js';
import { upCommand, type UpOptions } from '../../../src/commands/up.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { IncusClient } from '../../../src/incus/client.js';
import { OWNER_KEY } from '../../../src/incus/types.js';
import { observeIncus } from '../../../src/observe/incus.js';
import { planUp } from '../../../src/plan/index.js';
import type { Plan } from '../../../src/plan/types.js';
import { IncusModel } from './incus-model.js';

/** The containers-only topology most Incus-level tests converge: three containers on a bridge, one port exposed. */
export const PROVISION_TOPOLOGY = `
version: 1
project: model-unit
image: debian12-distctl
network: { name: dmodel0, subnet: 10.97.0.0/24, gateway: 10.97.0.1 }
containers:
  - { name: web, ipv4: 10.97.0.10 }
  - { name: db-a, ipv4: 10.97.0.11 }
  - { name: db-b, ipv4: 10.97.0.12 }
expose:
  - { container: web, port: 3000, listen: 127.0.0.1:3000 }
`;

/** A Ui that prints nothing and keeps every progress event. */
export function recordingUi(): Ui & { readonly events: ProgressEvent[] } {
  const events: ProgressEvent[] = [];
  return {
    json: false,
    color: new Chalk({ level: 0 }),
    errorColor: new Chalk({ level: 0 }),
    clearScreen: '',
    events,
    step: (event) => void events.push(event),
    stop: () => undefined,
  };
}

export interface TestDeployment {
  readonly dir: string;
  readonly file: string;
  readonly model: IncusModel;
  /** A fresh client per command, as the CLI makes one per run (its call count starts at 0). */
  client(): IncusClient;
  readonly ui: ReturnType<typeof recordingUi>;
  readonly stateDirFor: (project: string) => string;
  desired(): Promise<DesiredState>;
  /** Rewrites the topology file. */
  write(topology: string): Promise<void>;
  /** Observe → plan (as `distctl plan` does); an empty `actions` means converged. */
  /** `distctl up` of this deployment, in-process on the model, answering yes, waiting for no address. */
  up(overrides?: Partial<UpOptions>): Promise<CommandResult>;
  replan(options?: { prune?: boolean }): Promise<Plan>;
  /** What in Incus still carries this deployment's owner mark (plus its project), by kind. */
  owned(): Promise<{ project: boolean; networks: string[]; instances: string[] }>;
  /** Runs `incus` argv in the deployment's project, as a person would by hand (drift). */
  incus(...args: string[]): Promise<string>;
  /** Removes the directory; fails when any argv the model does not know was run, even if the command caught it. */
  cleanup(): Promise<void>;
}

/**
 * Sets up a deployment of `topology` on an empty model that has the `debian12-distctl` image; `incus` makes
 * the model a named remote and/or a cluster (`{ remote: 'cl', members: ['m1', 'm2', 'm3'] }`).
 */
export async function testDeployment(
  topology: string = PROVISION_TOPOLOGY,
  incus: { remote?: string; members?: readonly string[] } = {},
): Promise<TestDeployment> {
  const dir = await mkdtemp(join(tmpdir(), 'distctl-model-'));
  const file = join(dir, 'topology.yaml');
  await writeFile(file, topology);
  const model = new IncusModel({ images: ['debian12-distctl'], ...incus });
  const desired = async () => (await loadDeployment(file)).desired;
  const ui = recordingUi();
  const stateDirFor = (project: string): string => join(dir, 'state', project);
  return {
    dir,
    file,
    model,
    client: () => new IncusClient(model),
    ui,
    stateDirFor,
    desired,
    write: (text) => writeFile(file, text),
    up(overrides = {}) {
      return upCommand({
        file,
        prune: false,
        client: new IncusClient(model),
        ui,
        confirm: async () => true,
        addressTimeoutMs: 0,
        concurrency: 4,
        stateDirFor,
        ...overrides,
      });
    },
    async replan(options = {}) {
      const wanted = await desired();
      return planUp(wanted, await observeIncus(new IncusClient(model), wanted), options);
    },
    async owned() {
      const wanted = await desired();
      const observed = await observeIncus(new IncusClient(model), wanted);
      return {
        project: observed.project !== null,
        networks: observed.networks
          .filter((network) => network.config[OWNER_KEY] === wanted.project)
          .map((network) => network.name),
        instances: observed.instances
          .filter((instance) => instance.config[OWNER_KEY] === wanted.project)
          .map((instance) => instance.name),
      };
    },
    async incus(...args) {
      return model.incus(['--project', (await desired()).project, ...args]);
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
      // A command that caught the model's refusal to guess must still fail its test.
      if (model.unmodelled.length > 0)
        throw new Error(`argv the Incus model does not know was run:\n${model.unmodelled.join('\n')}`);
    },
  };
}
