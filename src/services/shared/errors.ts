/**
 * Errors the bundled services turn into JSON responses. Every failure a client
 * can see is `{error: {code, message, field?}}` with a fitting status, so the
 * dashboard and scripts can branch on `code` instead of parsing prose.
 */

/**
 * A service cannot start because its environment is wrong: the message says
 * what, the hint how to fix it. Services print both on one line and exit 1.
 */
export class ConfigError extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'ConfigError';
    this.hint = hint;
  }
}

/** A failure with an HTTP status and a stable machine-readable code. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  /** Extra body keys next to `code`/`message` (e.g. which shards were unreachable). */
  readonly extra: Readonly<Record<string, unknown>>;
  /** Response headers to set (e.g. `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      field?: string;
      extra?: Record<string, unknown>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = options.field;
    this.extra = options.extra ?? {};
    this.headers = options.headers ?? {};
  }
}

/**
 * A database (a users db or one product shard) could not be reached. Stores
 * throw this instead of driver errors so handlers never depend on the driver
 * and can answer 503 naming exactly what is down.
 */
export class StoreUnavailableError extends Error {
  /** Replica-set or database name, as shown to clients. */
  readonly store: string;
  constructor(store: string, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super(`database ${store} is unreachable${why}`, cause === undefined ? undefined : { cause });
    this.name = 'StoreUnavailableError';
    this.store = store;
  }
}

/** A store refused a write because a unique key (e.g. a username) already exists. */
export class DuplicateKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DuplicateKeyError';
  }
}

/** 400 for one field breaking one rule, e.g. `validationError('price', 'must be a number ≥ 0')`. */
export function validationError(field: string, rule: string): ApiError {
  return new ApiError(400, 'VALIDATION_FAILED', `${field}: ${rule}`, { field });
}

/** 503 for stores that could not be reached, naming each of them. */
export function unavailableError(stores: readonly string[], what: string): ApiError {
  const names = [...new Set(stores)].sort();
  return new ApiError(
    503,
    'DATABASE_UNAVAILABLE',
    `${what}: ${names.join(', ')} unreachable; retry once ${names.length > 1 ? 'they are' : 'it is'} back`,
    {
      extra: { unavailable: names },
    },
  );
}
