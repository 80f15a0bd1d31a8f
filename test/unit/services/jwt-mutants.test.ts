// Exact claims and exact refusals of the token service: each test pins one thing a
// mutation of src/services/shared/jwt.ts would change (see bench/RESULTS-mutation.md).
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/services/shared/errors.js';
import { createTokenService, MIN_SECRET_LENGTH, type JwtSettings } from '../../../src/services/shared/jwt.js';

const SECRET = 's'.repeat(MIN_SECRET_LENGTH);
const T0 = new Date('2026-01-01T00:00:00Z');
const T0_SECONDS = T0.getTime() / 1000;
const settings = (now: Date = T0, over: Partial<JwtSettings> = {}): JwtSettings => ({
  secret: SECRET,
  issuer: 'iss-a',
  audience: 'aud-a',
  now: () => now,
  ...over,
});
const ALICE = { userId: 'u-1', username: 'alice', role: 'user', tokenVersion: 3 } as const;

/** A token with chosen claims, signed with the service's secret, so only the claim under test is wrong. */
async function forged(
  payload: Record<string, unknown>,
  options: { alg?: string; secret?: string; sub?: string | null; exp?: number | null } = {},
): Promise<string> {
  let jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .setIssuer('iss-a')
    .setAudience('aud-a')
    .setIssuedAt(T0_SECONDS);
  if (options.sub !== null) jwt = jwt.setSubject(options.sub ?? 'u-1');
  if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? T0_SECONDS + 60);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

async function refusal(
  token: string,
  at: Date = T0,
  over: Partial<JwtSettings> = {},
): Promise<{ status: number; code: string; message: string }> {
  const error = await createTokenService(settings(at, over))
    .verify(token)
    .then(
      () => null,
      (caught: unknown) => caught,
    );
  expect(error).toBeInstanceOf(ApiError);
  const { status, code, message } = error as ApiError;
  return { status, code, message };
}

const INVALID = { status: 401, code: 'INVALID_TOKEN', message: 'token is not valid for this service; log in again' };
const LACKS_CLAIMS = { status: 401, code: 'INVALID_TOKEN', message: 'token lacks the user claims this service issues' };

describe('token service: what a signed token says', () => {
  it('has exactly the header HS256/JWT and the claims sub, username, role, ver, iss, aud, iat and exp = iat + 3600', async () => {
    const token = await createTokenService(settings()).sign(ALICE);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(decodeJwt(token)).toEqual({
      sub: 'u-1',
      username: 'alice',
      role: 'user',
      ver: 3,
      iss: 'iss-a',
      aud: 'aud-a',
      iat: T0_SECONDS,
      exp: T0_SECONDS + 3600,
    });
  });

  it('rounds the issue time down to whole seconds', async () => {
    const token = await createTokenService(settings(new Date(T0.getTime() + 999))).sign(ALICE);
    expect(decodeJwt(token).iat).toBe(T0_SECONDS);
  });

  it('verifies its own token back to the same claims, for both roles', async () => {
    const service = createTokenService(settings());
    expect(await service.verify(await service.sign(ALICE))).toEqual(ALICE);
    const admin = { userId: 'u-2', username: 'root', role: 'admin', tokenVersion: 0 } as const;
    expect(await service.verify(await service.sign(admin))).toEqual(admin);
  });
});

describe('token service: what it refuses, and how it says so', () => {
  it('a token one second before expiry is valid; at expiry it is refused as expired', async () => {
    const token = await createTokenService(settings()).sign(ALICE);
    expect(await createTokenService(settings(new Date((T0_SECONDS + 3599) * 1000))).verify(token)).toEqual(ALICE);
    expect(await refusal(token, new Date((T0_SECONDS + 3600) * 1000))).toEqual({
      status: 401,
      code: 'TOKEN_EXPIRED',
      message: 'token expired; log in again',
    });
  });

  it('another issuer, another audience or another secret is refused', async () => {
    const token = await createTokenService(settings()).sign(ALICE);
    expect(await refusal(token, T0, { issuer: 'iss-b' })).toEqual(INVALID);
    expect(await refusal(token, T0, { audience: 'aud-b' })).toEqual(INVALID);
    expect(await refusal(token, T0, { secret: 't'.repeat(MIN_SECRET_LENGTH) })).toEqual(INVALID);
  });

  it('another algorithm, even with the right secret, is refused', async () => {
    expect(await refusal(await forged({ username: 'alice', role: 'user', ver: 0 }, { alg: 'HS512' }))).toEqual(INVALID);
  });

  it('a token without exp or without sub is refused', async () => {
    expect(await refusal(await forged({ username: 'alice', role: 'user', ver: 0 }, { exp: null }))).toEqual(INVALID);
    expect(await refusal(await forged({ username: 'alice', role: 'user', ver: 0 }, { sub: null }))).toEqual(INVALID);
  });

  it('a role other than admin or user, or a missing or non-string username, is refused', async () => {
    expect(await refusal(await forged({ username: 'alice', role: 'root', ver: 0 }))).toEqual(LACKS_CLAIMS);
    expect(await refusal(await forged({ username: 'alice', ver: 0 }))).toEqual(LACKS_CLAIMS);
    expect(await refusal(await forged({ role: 'user', ver: 0 }))).toEqual(LACKS_CLAIMS);
    expect(await refusal(await forged({ username: 7, role: 'admin', ver: 0 }))).toEqual(LACKS_CLAIMS);
  });

  it('a subject that is not a string is refused, though jose only checks that sub is present', async () => {
    for (const sub of [42, true, { id: 'u-1' }, ['u-1']]) {
      const token = await forged({ sub, username: 'alice', role: 'user', ver: 0 }, { sub: null });
      expect(decodeJwt(token).sub).toEqual(sub);
      expect(await refusal(token)).toEqual(LACKS_CLAIMS);
    }
  });

  it('a token version that is missing, not a number, negative, fractional or unsafe is refused', async () => {
    for (const ver of [undefined, '1', -1, 1.5, 2 ** 53]) {
      expect(await refusal(await forged({ username: 'alice', role: 'user', ver }))).toEqual(LACKS_CLAIMS);
    }
  });

  it('accepts a hand-signed token with exactly the claims it issues, version 0 included', async () => {
    const verify = createTokenService(settings()).verify;
    expect(await verify(await forged({ username: 'bob', role: 'admin', ver: 0 }))).toEqual({
      userId: 'u-1',
      username: 'bob',
      role: 'admin',
      tokenVersion: 0,
    });
    expect(await verify(await forged({ username: 'bob', role: 'user', ver: 7 }))).toEqual({
      userId: 'u-1',
      username: 'bob',
      role: 'user',
      tokenVersion: 7,
    });
  });

  it('garbage is refused as invalid, not as expired', async () => {
    expect(await refusal('not.a.token')).toEqual(INVALID);
  });
});
