/**
 * Every error code distctl reports, one per line in alphabetical order. `code` is a stable interface
 * (tests and `--json` consumers match on it), so it is a closed union rather than a free string:
 * a new code is one added line here, and a typo anywhere else is a type error.
 */
export const ERROR_CODES = [
  'ABORTED',
  'ADDRESS_TIMEOUT',
  'APPLY_FAILED',
  'BAD_GREP',
  'BAD_SINCE',
  'BINARY_NOT_EXECUTABLE',
  'BINARY_NOT_FOUND',
  'BUNDLE_ARCHIVE_OUTSIDE',
  'BUNDLE_BACKUP_UNREADABLE',
  'BUNDLE_DAMAGED',
  'BUNDLE_DECRYPT_FAILED',
  'BUNDLE_INCONSISTENT',
  'BUNDLE_INVALID',
  'BUNDLE_KEY_LOOSE',
  'BUNDLE_KEY_REQUIRED',
  'BUNDLE_KEY_UNREADABLE',
  'BUNDLE_KEY_WEAK',
  'BUNDLE_NOT_AUTHENTIC',
  'BUNDLE_NOT_FOUND',
  'BUNDLE_NOT_SIGNED',
  'BUNDLE_UNEXPECTED_ENTRY',
  'BUNDLE_UNSAFE_ENTRY',
  'BUNDLE_UNSAFE_INSTANCE',
  'BUNDLE_UNVERIFIED',
  'CLUSTER_MEMBER_UNKNOWN',
  'CLUSTER_REQUIRED',
  'COMMAND_FAILED',
  'CONFIRMATION_REQUIRED',
  'CONTAINERS_NOT_READY',
  'CONTAINER_COMMAND_FAILED',
  'CONTAINER_MEMORY_UNKNOWN',
  'CONTAINER_NODE_UNUSABLE',
  'CONTAINER_WRITE_FAILED',
  'DEBOOTSTRAP_FAILED',
  'DEBOOTSTRAP_MISSING',
  'DEPLOYMENT_BUSY',
  'DEPLOYMENT_LOCK_FAILED',
  'DRAIN_PRIMARY_NOT_MOVED',
  'EXPORT_INCOMPLETE_DEPLOYMENT',
  'EXPORT_TARGET_INVALID',
  'EXPORT_TARGET_LOOSE',
  'EXPORT_TARGET_NOT_EMPTY',
  'EXPOSE_INVALID',
  'EXPOSE_NOT_FOUND',
  'EXPOSE_TARGET_INVALID',
  'FAILOVER_MEMBER_EMPTY',
  'FAILOVER_NO_CANDIDATE',
  'FAILOVER_NO_CREDENTIALS',
  'FAILOVER_NO_REPLICA_SET',
  'FAILOVER_SET_UNHEALTHY',
  'FAILOVER_SET_UNREACHABLE',
  'FAILOVER_SET_UNSETTLED',
  'FAILOVER_UNKNOWN_SET',
  'HOST_NODE_TOO_OLD',
  'HOST_NOT_ON_NETWORK',
  'HOST_PREPARATION_FAILED',
  'IMAGE_ALIAS_EXISTS',
  'IMAGE_ARCH_UNSUPPORTED',
  'IMAGE_BUILD_NOT_ROOT',
  'IMAGE_MIRROR_UNKNOWN',
  'IMPORT_FAILED',
  'IMPORT_NO_STORAGE',
  'IMPORT_SECRETS_EXIST',
  'IMPORT_TARGET_NOT_EMPTY',
  'INCUS_ALREADY_EXISTS',
  'INCUS_DAEMON_DOWN',
  'INCUS_FAILED',
  'INCUS_IMAGE_NOT_FOUND',
  'INCUS_NOT_FOUND',
  'INCUS_PERMISSION_DENIED',
  'INCUS_TIMEOUT',
  'INCUS_UNEXPECTED_OUTPUT',
  'INCUS_UNREACHABLE',
  'LOGS_FAILED',
  'MEMBER_LOSS_NO_MAJORITY',
  'MONGODB_USER_UNKNOWN',
  'MONGOD_BIND_ALL',
  'MONGOD_NOT_IN_IMAGE',
  'MONGOD_NOT_RUNNABLE',
  'MONGOD_START_FAILED',
  'MONGO_ADMIN_CREDENTIALS_REJECTED',
  'MONGO_ADMIN_FAILED',
  'MONGO_ARCHIVE_NOT_FOUND',
  'MONGO_BOOTSTRAP_PROXY_FAILED',
  'MONGO_BOOTSTRAP_PROXY_LEFT',
  'MONGO_COMMAND_FAILED',
  'MONGO_DISTRIBUTION_UNSUPPORTED',
  'MONGO_INSTALL_FAILED',
  'MONGO_SIGNING_KEY_UNKNOWN',
  'MONGO_SOURCE_UNREACHABLE',
  'MONGO_STANDALONE_UNREACHABLE',
  'MONGO_VERSION_MISMATCH',
  'NO_UNITS',
  'OS_RELEASE_UNREADABLE',
  'PLAN_CONFLICT',
  'REPLSET_CONFIG_INVALID',
  'REPLSET_INITIATE_FAILED',
  'REPLSET_MEMBER_IN_OTHER_SET',
  'REPLSET_MEMBER_NOT_BACK',
  'REPLSET_MEMBER_UNREACHABLE',
  'REPLSET_NAME_MISMATCH',
  'REPLSET_NOT_ENABLED',
  'REPLSET_NOT_HEALTHY',
  'REPLSET_NO_PRIMARY',
  'REPLSET_NO_WRITABLE_PRIMARY',
  'REPLSET_RECONFIG_REFUSED',
  'REPLSET_RECONFIG_UNSETTLED',
  'REPLSET_STEPDOWN_FAILED',
  'SECRET_NAME_INVALID',
  'SECRET_NOT_GENERATED',
  'SECRET_NOT_WRITTEN',
  'SECRET_STORE_NOT_DIRECTORY',
  'SERVICE_BUNDLE_FAILED',
  'SERVICE_ENV_INVALID',
  'SERVICE_SOURCE_MISSING',
  'SERVICE_UNHEALTHY',
  'STATE_PERMISSION_DENIED',
  'STATUS_FORMAT_WATCH',
  'TEMPLATE_SECTION_NOT_BOOLEAN',
  'TEMPLATE_VARIABLE_MISSING',
  'TOPOLOGY_INVALID',
  'TOPOLOGY_NOT_FOUND',
  'TOPOLOGY_UNREADABLE',
  'UNKNOWN_CONTAINER',
  'UNKNOWN_SERVICE',
  'UNKNOWN_UNIT',
  'USAGE',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * One error base for everything a user can act on. `code` is stable (tests and
 * `--json` consumers match on it), `hint` says what to do. The top-level catch in
 * `src/cli/main.ts` prints these without a stack; anything else is a bug and
 * gets one.
 */
export class DistctlError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  /** Extra lines shown under the message (e.g. a list of validation problems, log lines). */
  readonly details: readonly string[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; details?: readonly string[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DistctlError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }
}

/** The user has already been shown what went wrong (e.g. a validation report); just exit non-zero. */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}

/** A command that was run and failed: carries what was run, where, and what it said. */
export class CommandFailedError extends DistctlError {
  readonly command: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;

  constructor(
    command: readonly string[],
    exitCode: number,
    stderr: string,
    options: { code?: ErrorCode; message?: string; hint?: string } = {},
  ) {
    const shown = formatCommand(command);
    const said = stderr.trim().split('\n').slice(-6).join('\n');
    super(
      options.code ?? 'COMMAND_FAILED',
      options.message ?? `\`${shown}\` failed (exit ${exitCode})${said ? `: ${said}` : ''}`,
      {
        hint: options.hint,
      },
    );
    this.name = 'CommandFailedError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Renders argv for messages, quoting only what needs it. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
