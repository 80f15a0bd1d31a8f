import { CommandFailedError, formatCommand, type ErrorCode } from '../errors/index.js';
import type { CommandResult } from '../exec/runner.js';

/** An `incus` call that failed, classified so callers and users know what it means. */
export class IncusError extends CommandFailedError {
  readonly kind: IncusErrorKind;
  constructor(argv: readonly string[], result: CommandResult, kind: IncusErrorKind, message: string, hint: string) {
    super(argv, result.exitCode, result.stderr, { code: INCUS_ERROR_CODES[kind], message, hint });
    this.name = 'IncusError';
    this.kind = kind;
  }
}

export type IncusErrorKind =
  'daemon-down' | 'permission-denied' | 'not-found' | 'image-not-found' | 'already-exists' | 'timeout' | 'failed';

/** The error code each kind of failure is reported under. */
const INCUS_ERROR_CODES = {
  'daemon-down': 'INCUS_DAEMON_DOWN',
  'permission-denied': 'INCUS_PERMISSION_DENIED',
  'not-found': 'INCUS_NOT_FOUND',
  'image-not-found': 'INCUS_IMAGE_NOT_FOUND',
  'already-exists': 'INCUS_ALREADY_EXISTS',
  timeout: 'INCUS_TIMEOUT',
  failed: 'INCUS_FAILED',
} as const satisfies Record<IncusErrorKind, ErrorCode>;

/** What incus says when an image is not there, locally or on a remote. */
const IMAGE_MISSING = new RegExp(
  [
    String.raw`image\b[^\n]*\bnot found`,
    'couldn.t find.*image',
    'Failed getting remote image info',
    `The remote ".*" doesn't exist`,
  ].join('|'),
  'i',
);

/** Maps an incus failure to a message that names the cause and the fix. */
export function classifyIncusFailure(argv: readonly string[], result: CommandResult): IncusError {
  const said = result.stderr.trim() || result.stdout.trim();
  const shown = formatCommand(argv);
  const last = said.split('\n').slice(-4).join('\n');
  if (result.timedOut) {
    return new IncusError(
      argv,
      result,
      'timeout',
      `\`${shown}\` did not finish in time`,
      'Check that the Incus daemon is responsive (`incus info`), then run the command again.',
    );
  }
  if (
    (/permission denied/i.test(said) && /unix\.socket|\/1\.0/.test(said)) ||
    /needed permissions to talk to the incus daemon/i.test(said)
  ) {
    return new IncusError(
      argv,
      result,
      'permission-denied',
      `permission denied talking to the Incus daemon (\`${shown}\`)`,
      'Run distctl as root, or add your user to the `incus-admin` group ' +
        '(`sudo usermod -aG incus-admin $USER`, then log in again).',
    );
  }
  if (
    /unix\.socket.*(no such file|connection refused)|daemon.*(not running|doesn't appear)|Is the daemon running/i.test(
      said,
    )
  ) {
    return new IncusError(
      argv,
      result,
      'daemon-down',
      `the Incus daemon is not running (\`${shown}\` could not connect)`,
      'Start it (`systemctl start incus`, or on hosts without systemd `incusd --group incus-admin &` then ' +
        '`incus admin waitready`), then retry. `distctl doctor` checks the host.',
    );
  }
  if (IMAGE_MISSING.test(said)) {
    return new IncusError(
      argv,
      result,
      'image-not-found',
      `image not available: ${last}`,
      'Check `image:` in topology.yaml; list local images with `incus image list`, or build one offline with ' +
        '`distctl image build --alias NAME` and name it in the topology.',
    );
  }
  if (/already exists/i.test(said)) {
    return new IncusError(
      argv,
      result,
      'already-exists',
      `\`${shown}\` failed: ${last}`,
      'Something with that name exists already; `distctl plan` shows what distctl owns.',
    );
  }
  if (/not found/i.test(said)) {
    return new IncusError(
      argv,
      result,
      'not-found',
      `\`${shown}\` failed: ${last}`,
      'The object does not exist (any more); run `distctl plan` to see the current state.',
    );
  }
  return new IncusError(
    argv,
    result,
    'failed',
    `\`${shown}\` failed (exit ${result.exitCode}): ${last}`,
    'See the Incus message above; `distctl doctor` checks the host.',
  );
}
