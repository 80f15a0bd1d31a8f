import { readFile, writeFile } from 'node:fs/promises';
import { parseDocument, YAMLSeq } from 'yaml';
import { applyPlan } from '../apply/index.js';
import type { Ui } from './ui.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { instanceMember, observeIncus, proxyInPlace } from '../observe/incus.js';
import { describeAction } from '../plan/calls.js';
import { planUp } from '../plan/index.js';
import { formatProblem, parseTopology } from '../topology/load.js';
import { deriveDesiredState } from '../derive/index.js';
import { loadDeployment, whileLocked } from './context.js';
import type { DesiredState } from '../derive/types.js';
import type { CommandResult } from './result.js';

/** Options of `distctl expose`. */
export interface ExposeOptions {
  readonly file: string;
  /** `CONTAINER:PORT`, or undefined to list what is exposed. */
  readonly target?: string;
  /** Host side `ADDRESS:PORT`; default 127.0.0.1 and the container port. */
  readonly listen?: string;
  readonly remove: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly stateDirFor: (project: string) => string;
}

/**
 * `distctl expose`: the imperative face of the topology's `expose:` list. It
 * edits topology.yaml (comments and layout kept), validates the result, and
 * applies only the proxy devices, so the file stays the source of truth and the
 * next `up` agrees with what was done. Without a target it lists the exposures.
 */
export async function exposeCommand(options: ExposeOptions): Promise<CommandResult> {
  if (options.target === undefined) return listExposures(options);
  const match = /^([^:]+):(\d{1,5})$/.exec(options.target);
  if (!match) {
    throw new DistctlError('EXPOSE_TARGET_INVALID', `"${options.target}" is not CONTAINER:PORT`, {
      hint: 'For example: distctl expose web-server:3000 --listen 127.0.0.1:3000',
    });
  }
  const container = match[1] ?? '';
  const port = Number(match[2]);
  const listen = options.listen ?? `127.0.0.1:${port}`;

  const text = await readFile(options.file, 'utf8');
  const document = parseDocument(text);
  const list = document.get('expose');
  const entries = list instanceof YAMLSeq ? list : new YAMLSeq();
  const index = entries.items.findIndex((item) => {
    const entry = (item as { toJSON?: () => unknown }).toJSON?.() as
      { container?: string; port?: number; listen?: string } | undefined;
    return options.remove
      ? entry?.container === container &&
          entry.port === port &&
          (options.listen === undefined || entry.listen === listen)
      : entry?.listen === listen;
  });
  if (options.remove) {
    if (index < 0)
      throw new DistctlError('EXPOSE_NOT_FOUND', `${container}:${port} is not exposed in ${options.file}`, {
        hint: 'Run `distctl expose` to list what is exposed.',
      });
    entries.items.splice(index, 1);
  } else {
    const entry = document.createNode({ container, port, listen });
    entry.flow = true;
    if (index >= 0) entries.items[index] = entry;
    else entries.items.push(entry);
  }
  if (!(list instanceof YAMLSeq)) document.set('expose', entries);
  const updated = document.toString();

  const report = parseTopology(updated, options.file);
  if (report.topology === null) {
    throw new DistctlError(
      'EXPOSE_INVALID',
      `exposing ${container}:${port} on ${listen} would make ${options.file} invalid; nothing was changed`,
      {
        details: report.errors.map(formatProblem),
        hint: 'Check the container name and port against the topology.',
      },
    );
  }
  const desired = deriveDesiredState(report.topology);
  return whileLocked(options.stateDirFor(desired.project), 'expose', () =>
    applyExposure(options, desired, updated, { container, port, listen }),
  );
}

async function applyExposure(
  options: ExposeOptions,
  desired: DesiredState,
  updated: string,
  target: { container: string; port: number; listen: string },
): Promise<CommandResult> {
  const { container, port, listen } = target;
  const observed = await observeIncus(options.client, desired);
  // Proxies of containers that do not exist yet are left to `up`, which creates them with their container.
  const exists = (name: string) => observed.instances.some((instance) => instance.name === name);
  const proxyActions = planUp(desired, observed).actions.filter(
    (action) =>
      action.kind === 'remove-proxy' ||
      ((action.kind === 'add-proxy' || action.kind === 'set-proxy') && exists(action.proxy.container)),
  );
  await writeFile(options.file, updated);
  await applyPlan(
    options.client,
    { project: desired.project, remote: desired.remote, actions: proxyActions, conflicts: [], notices: [] },
    { onProgress: (event) => options.ui.step(event) },
  );
  // A proxy device belongs to its instance: Incus listens on the host the container runs on (its cluster member).
  const member = instanceMember(observed.instances.find((instance) => instance.name === container));
  const verb = options.remove
    ? `no longer exposes ${container}:${port}`
    : `exposes ${container}:${port} on ${listen}${member === null ? '' : ` of cluster member ${member}`}`;
  const pending =
    !options.remove && !exists(container)
      ? `; ${container} does not exist yet, so \`distctl up\` creates the proxy with it`
      : proxyActions.length === 0
        ? ' (already in place)'
        : '';
  return {
    exitCode: 0,
    human: `${options.ui.color.green('expose:')} ${options.file} ${verb}${pending}`,
    json: { ok: true, file: options.file, applied: proxyActions.map(describeAction) },
  };
}

async function listExposures(options: ExposeOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const observed = await observeIncus(options.client, desired);
  const rows = desired.proxies.map((proxy) => ({
    container: proxy.container,
    listen: proxy.listen,
    connect: proxy.connect,
    present: proxyInPlace(
      observed.instances.find((instance) => instance.name === proxy.container),
      proxy,
    ),
    member: instanceMember(observed.instances.find((instance) => instance.name === proxy.container)),
  }));
  const { color } = options.ui;
  const human =
    rows.length === 0
      ? 'Nothing is exposed. Expose a port with: distctl expose CONTAINER:PORT [--listen ADDRESS:PORT]'
      : rows
          .map(
            (row) =>
              `${row.listen.replace(/^tcp:/, '')}${row.member === null ? '' : ` on member ${row.member}`} → ` +
              `${row.container} ${row.connect.replace(/^tcp:127\.0\.0\.1:/, 'port ')}  ` +
              `${row.present ? color.green('present') : color.red('missing (run distctl up)')}`,
          )
          .join('\n');
  return {
    exitCode: rows.every((row) => row.present) ? 0 : 1,
    human,
    json: { ok: rows.every((row) => row.present), exposures: rows },
  };
}
