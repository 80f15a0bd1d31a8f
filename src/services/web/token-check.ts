/**
 * Who a request's token belongs to, as auth-server says now. web-server
 * checks the signature locally, then asks auth-server's /verify — which
 * refuses tokens of deleted users and tokens issued before a role change —
 * and keeps the answer for REVOCATION_CACHE_MS. So a revoked token stops
 * working here at most that long after the change, while steady traffic
 * costs one auth-server call per token per period, not one per request.
 * After REFRESH_AFTER_MS a request still gets the kept answer but starts the
 * next check in the background, so busy tokens do not all wait on auth-server
 * each time their answer expires.
 */
import { z } from 'zod';
import { ApiError } from '../shared/errors.js';
import type { Role, TokenService } from '../shared/jwt.js';
import type { AuthUpstream } from './auth-upstream.js';

/** How long web-server trusts auth-server's last word on a token: the revocation bound (goal ≤ 5 s). */
export const REVOCATION_CACHE_MS = 4000;
/**
 * Age after which a request, still served from the kept answer, starts the next
 * check in the background. The 3 s left until the bound are for that check: on
 * a saturated web-server the answer waits its turn in the event loop, and every
 * request on the token would otherwise wait with it.
 */
export const REFRESH_AFTER_MS = 1000;
/** Tokens remembered at most; the oldest are forgotten first. */
const MAX_CACHED_TOKENS = 10_000;

/** The token's user as auth-server reported it (the role is the stored one, not the token's claim). */
export interface CurrentUser {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
}

const verifyAnswer = z.object({ id: z.string(), username: z.string(), role: z.enum(['admin', 'user']) });
const errorAnswer = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** Checks tokens against auth-server with a short cache; `now` is injectable so tests can move time. */
export function createTokenCheck(
  tokens: TokenService,
  auth: AuthUpstream,
  now: () => Date,
  cacheMs: number = REVOCATION_CACHE_MS,
  refreshAfterMs: number = REFRESH_AFTER_MS,
): (token: string) => Promise<CurrentUser> {
  const cache = new Map<string, { user: CurrentUser; refreshAt: number; until: number }>();
  const inFlight = new Map<string, Promise<CurrentUser>>();

  const ask = async (token: string): Promise<CurrentUser> => {
    const answer = await auth.forward('GET', '/verify', { authorization: `Bearer ${token}` });
    if (answer.status === 200) {
      const parsed = verifyAnswer.safeParse(answer.body);
      if (!parsed.success)
        throw new ApiError(502, 'AUTH_BAD_RESPONSE', 'auth-server answered /verify without {id, username, role}');
      const user = { userId: parsed.data.id, username: parsed.data.username, role: parsed.data.role };
      if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value ?? '');
      const checkedAt = now().getTime();
      cache.set(token, { user, refreshAt: checkedAt + refreshAfterMs, until: checkedAt + cacheMs });
      return user;
    }
    const error = errorAnswer.safeParse(answer.body);
    if (answer.status === 401) {
      throw new ApiError(
        401,
        error.success ? error.data.error.code : 'INVALID_TOKEN',
        error.success ? error.data.error.message : 'token refused by auth-server',
      );
    }
    throw new ApiError(
      503,
      'AUTH_UNAVAILABLE',
      `auth-server could not check the token (it answered ${answer.status}); retry shortly`,
    );
  };

  /** The one check of `token` in flight, started if there is none. */
  const check = (token: string): Promise<CurrentUser> => {
    let pending = inFlight.get(token);
    if (!pending) {
      pending = ask(token).finally(() => inFlight.delete(token));
      inFlight.set(token, pending);
    }
    return pending;
  };

  return async (token) => {
    // Signature, algorithm, issuer, audience and expiry locally first: forged or expired tokens never reach
    // auth-server.
    await tokens.verify(token);
    const cached = cache.get(token);
    const at = now().getTime();
    if (cached && cached.until > at) {
      if (cached.refreshAt <= at) {
        // A refused token must not keep its old answer: the failed refresh drops it.
        check(token).catch(() => cache.delete(token));
      }
      return cached.user;
    }
    cache.delete(token);
    return check(token);
  };
}
