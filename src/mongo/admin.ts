import type { Document } from 'mongodb';

/**
 * One mongod, addressed both ways distctl can reach it: over the network (`host`) and from inside its container
 * (`container` + `port`).
 */
export interface MongoTarget {
  readonly container: string;
  /** `IP:port` as the host and the replica-set config see it. */
  readonly host: string;
  readonly port: number;
}

/** SCRAM credentials of a user defined in the `admin` database. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Runs single commands on one specific mongod. The smallest surface the bootstrap code needs; also what the localhost-
 * exception path offers.
 */
export interface MongoCommandChannel {
  /**
   * Runs `cmd` on database `db` of exactly `target` (never a discovered
   * primary). Resolves with the reply when `ok: 1`; rejects with
   * MongoCommandError for an `ok: 0` reply and MongoUnreachableError when no
   * reply could be had.
   */
  command(target: MongoTarget, db: string, cmd: Document): Promise<Document>;
}

/** A command channel from the host over the network, optionally authenticated per call. */
export interface MongoAdmin extends MongoCommandChannel {
  command(target: MongoTarget, db: string, cmd: Document, options?: { credentials?: Credentials }): Promise<Document>;
  /** Releases connections; the admin is unusable afterwards. */
  close(): Promise<void>;
}

/** MongoDB error codes distctl reacts to (names as in the server's error_codes.yml). */
export const MongoErrorCode = {
  Unauthorized: 13,
  AuthenticationFailed: 18,
  AlreadyInitialized: 23,
  NodeNotFound: 74,
  InvalidReplicaSetConfig: 93,
  NotYetInitialized: 94,
  UserAlreadyExists: 51003,
  NotWritablePrimary: 10107,
  PrimarySteppedDown: 189,
  InterruptedDueToReplStateChange: 11602,
  NotPrimaryNoSecondaryOk: 13435,
  NotPrimaryOrSecondary: 13436,
  ShutdownInProgress: 91,
  ConfigurationInProgress: 109,
  CurrentConfigNotCommittedYet: 308,
  NewReplicaSetConfigurationIncompatible: 103,
} as const;

/**
 * Answers that mean "this member is not (or no longer) the writable primary":
 * during an election, a stepdown or a priority takeover. The same command
 * succeeds on the primary a moment later.
 */
export const TRANSITION_CODES: ReadonlySet<number> = new Set([
  MongoErrorCode.NotWritablePrimary,
  MongoErrorCode.PrimarySteppedDown,
  MongoErrorCode.InterruptedDueToReplStateChange,
  MongoErrorCode.NotPrimaryNoSecondaryOk,
  MongoErrorCode.NotPrimaryOrSecondary,
  MongoErrorCode.ShutdownInProgress,
]);

/** True for an answer in TRANSITION_CODES. */
export function isTransition(error: unknown): boolean {
  return error instanceof MongoCommandError && TRANSITION_CODES.has(error.code);
}

/** mongod answered with `ok: 0`. */
export class MongoCommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  constructor(code: number, codeName: string, message: string) {
    super(message);
    this.name = 'MongoCommandError';
    this.code = code;
    this.codeName = codeName;
  }
}

/** mongod could not be reached (refused, timed out, connection lost) — no answer to judge. */
export class MongoUnreachableError extends Error {
  readonly host: string;
  constructor(host: string, message: string) {
    super(message);
    this.name = 'MongoUnreachableError';
    this.host = host;
  }
}

/** Builds MongoCommandError from an `ok: 0` reply document. */
export function commandErrorFromReply(reply: Document): MongoCommandError {
  const code = typeof reply.code === 'number' ? reply.code : 0;
  const codeName = typeof reply.codeName === 'string' ? reply.codeName : 'UnknownError';
  const message = typeof reply.errmsg === 'string' ? reply.errmsg : `command failed (${codeName})`;
  return new MongoCommandError(code, codeName, message);
}

/** True when `error` is a MongoCommandError carrying `code`. */
export function hasCode(error: unknown, code: number): boolean {
  return error instanceof MongoCommandError && error.code === code;
}

/** A short human description of any error from a channel, for messages and status values. */
export function describeMongoError(error: unknown): string {
  if (error instanceof MongoCommandError) return `${error.codeName} (${error.code}): ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
