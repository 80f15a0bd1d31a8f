import type { Ui } from './ui.js';
import type { Runner } from '../exec/runner.js';
import { buildImage } from '../image/index.js';
import type { CommandResult } from './result.js';

/** `distctl image build`: a Debian base image built offline with debootstrap and imported under an alias. */
export async function imageBuildCommand(options: {
  alias: string;
  suite?: string;
  mirror?: string;
  force: boolean;
  runner: Runner;
  ui: Ui;
}): Promise<CommandResult> {
  const { ui } = options;
  const result = await buildImage({
    alias: options.alias,
    force: options.force,
    runner: options.runner,
    ...(options.suite ? { suite: options.suite } : {}),
    ...(options.mirror ? { mirror: options.mirror } : {}),
    onProgress: (step) => ui.step({ event: 'start', message: step }),
  });
  const megabytes = (result.sizeBytes / 1024 / 1024).toFixed(1);
  return {
    exitCode: 0,
    human: [
      `${ui.color.green('image built:')} ${result.alias} (${result.fingerprint.slice(0, 12)}, ${megabytes} MiB, ` +
        `Debian ${result.suite}) in ${result.seconds.toFixed(0)} s`,
      result.replaced
        ? `replaced image ${result.replaced.fingerprint.slice(0, 12)}` +
          (result.replaced.deleted ? ' (deleted)' : ' (kept: other aliases use it)')
        : '',
      `Use it with \`image: ${result.alias}\` in topology.yaml.`,
    ]
      .filter(Boolean)
      .join('\n'),
    json: { ok: true, ...result },
  };
}
