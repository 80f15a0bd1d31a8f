/** web-server's revocation check: what it asks auth-server, and how long it keeps an answer. */
import { describe, expect, it } from 'vitest';
import type { AuthUpstream, UpstreamResponse } from '../../../src/services/web/auth-upstream.js';
import { createTokenCheck, REFRESH_AFTER_MS, REVOCATION_CACHE_MS } from '../../../src/services/web/token-check.js';
import { testClock, tokenService } from './helpers.js';

/** An auth-server stand-in answering /verify with whatever `answer` holds, counting calls. */
function scriptedAuth() {
  const state = {
    calls: 0,
    answer: { status: 200, body: { id: 'u1', username: 'ana', role: 'user' }, retryAfter: null } as UpstreamResponse,
  };
  const auth: AuthUpstream = {
    forward: async (method, path, options) => {
      expect([method, path]).toEqual(['GET', '/verify']);
      expect(options?.authorization).toMatch(/^Bearer /);
      state.calls += 1;
      return state.answer;
    },
    reachable: async () => true,
  };
  return { auth, state };
}

describe('createTokenCheck', () => {
  it('asks auth-server once per token per period, refreshes ahead after REFRESH_AFTER_MS, and forgets a refused token', async () => {
    const clock = testClock();
    const tokens = tokenService(clock.now);
    const token = await tokens.sign({ userId: 'u1', username: 'ana', role: 'admin', tokenVersion: 0 });
    const { auth, state } = scriptedAuth();
    const check = createTokenCheck(tokens, auth, clock.now);

    await expect(Promise.all([check(token), check(token)])).resolves.toEqual([
      { userId: 'u1', username: 'ana', role: 'user' }, // the stored role, not the claim
      { userId: 'u1', username: 'ana', role: 'user' },
    ]);
    expect(state.calls).toBe(1);
    expect(REFRESH_AFTER_MS).toBeLessThan(REVOCATION_CACHE_MS);
    clock.advance(REFRESH_AFTER_MS - 1);
    await check(token);
    expect(state.calls).toBe(1);
    clock.advance(1);
    state.answer = { status: 401, body: { error: { code: 'TOKEN_REVOKED', message: 'gone' } }, retryAfter: null };
    // Still within the bound: the kept answer, while the refresh runs in the background...
    expect((await check(token)).username).toBe('ana');
    await expect.poll(() => state.calls).toBe(2);
    // ...whose refusal ends the kept answer at once.
    await expect(check(token)).rejects.toMatchObject({ status: 401, code: 'TOKEN_REVOKED' });
  });

  it('never keeps an answer past REVOCATION_CACHE_MS, and fails closed when auth-server cannot answer', async () => {
    const clock = testClock();
    const tokens = tokenService(clock.now);
    const token = await tokens.sign({ userId: 'u1', username: 'ana', role: 'user', tokenVersion: 0 });
    const { auth, state } = scriptedAuth();
    const check = createTokenCheck(tokens, auth, clock.now);
    await check(token);
    state.answer = {
      status: 503,
      body: { error: { code: 'DATABASE_UNAVAILABLE', message: 'down' } },
      retryAfter: null,
    };
    clock.advance(REVOCATION_CACHE_MS);
    await expect(check(token)).rejects.toMatchObject({ status: 503, code: 'AUTH_UNAVAILABLE' });
    await expect(check('not-a-token')).rejects.toMatchObject({ status: 401 });
    expect(state.calls).toBe(2);
  });
});
