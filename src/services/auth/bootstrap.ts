/**
 * The first admin: distctl passes ADMIN_USERNAME/ADMIN_PASSWORD at deploy
 * time and auth-server makes sure that account exists, retrying while the
 * users database is still starting (the service may come up before db3).
 */
import { randomUUID } from 'node:crypto';
import { DuplicateKeyError, StoreUnavailableError } from '../shared/errors.js';
import { hashPassword } from './passwords.js';
import type { UserStore } from './users.js';

/** What ensureAdmin did. */
export type AdminOutcome = 'created' | 'promoted' | 'present';

/**
 * Creates the admin if missing, or gives an existing account of that name the
 * admin role. An existing password is left alone: re-deploying must not reset
 * a password the admin has since changed.
 */
export async function ensureAdmin(
  users: UserStore,
  username: string,
  password: string,
  now: () => Date,
): Promise<AdminOutcome> {
  const existing = await users.findByUsername(username);
  if (existing) {
    if (existing.role === 'admin') return 'present';
    await users.setRole(username, 'admin');
    return 'promoted';
  }
  try {
    await users.create({
      id: randomUUID(),
      username,
      email: `${username}@localhost`,
      passwordHash: await hashPassword(password),
      role: 'admin',
      createdAt: now(),
      tokenVersion: 0,
    });
    return 'created';
  } catch (err) {
    // Another auth-server instance created it in between: make sure of the role and move on.
    if (err instanceof DuplicateKeyError) return ensureAdmin(users, username, password, now);
    throw err;
  }
}

/** Handle to stop the retry loop on shutdown. */
export interface AdminBootstrap {
  readonly done: Promise<AdminOutcome | 'stopped'>;
  stop(): void;
}

/**
 * Runs ensureAdmin until it succeeds, waiting `retryMs` after each
 * StoreUnavailableError. Other errors end the loop and are logged: they are
 * not going to fix themselves.
 */
export function bootstrapAdmin(
  users: UserStore,
  credentials: { username: string; password: string },
  options: { now: () => Date; retryMs: number; log: (line: string) => void },
): AdminBootstrap {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const pause = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, options.retryMs);
    });
  const done = (async (): Promise<AdminOutcome | 'stopped'> => {
    while (!stopped) {
      try {
        const outcome = await ensureAdmin(users, credentials.username, credentials.password, options.now);
        options.log(`admin user ${credentials.username}: ${outcome}`);
        return outcome;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) {
          const why = err instanceof Error ? err.message : String(err);
          options.log(`admin user ${credentials.username} could not be ensured: ${why}`);
          throw err;
        }
        options.log(`admin user ${credentials.username}: ${err.message}; retrying in ${options.retryMs} ms`);
        await pause();
      }
    }
    return 'stopped';
  })();
  return {
    done,
    stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
    },
  };
}
