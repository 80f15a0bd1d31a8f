/**
 * Session tokens: HS256 only, 1 hour, issuer and audience set and checked.
 * Pinning one algorithm on both sides (jose's `algorithms` option) closes the
 * `alg: none` / algorithm-confusion holes of hand-rolled JWT checks.
 */
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { ApiError } from './errors.js';

/** The only signing algorithm issued or accepted. */
export const JWT_ALGORITHM = 'HS256';
/** Token lifetime: one hour, as the original. */
export const TOKEN_TTL_SECONDS = 3600;
/** Shortest accepted secret; HS256 wants at least 256 bits of key. */
export const MIN_SECRET_LENGTH = 32;

/** Roles a user can have; `register` creates `user`. */
export type Role = 'admin' | 'user';

/** What a verified token says about its bearer. */
export interface TokenClaims {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  /** The user's tokenVersion when the token was issued (claim `ver`); a later role change revokes it. */
  readonly tokenVersion: number;
}

/** Settings shared by the signer (auth-server) and the verifiers (both services). */
export interface JwtSettings {
  readonly secret: string;
  readonly issuer: string;
  readonly audience: string;
  /** Injected so tests can expire tokens without waiting an hour. */
  readonly now: () => Date;
}

/** Signs and verifies tokens with one pinned algorithm. */
export interface TokenService {
  sign(claims: TokenClaims): Promise<string>;
  /** The claims of a valid token, or an ApiError 401 saying why it is not. */
  verify(token: string): Promise<TokenClaims>;
}

/** Builds the token service for a secret; the secret length is checked at env parsing. */
export function createTokenService(settings: JwtSettings): TokenService {
  const key = new TextEncoder().encode(settings.secret);
  return {
    async sign(claims) {
      const issuedAt = Math.floor(settings.now().getTime() / 1000);
      return new SignJWT({ username: claims.username, role: claims.role, ver: claims.tokenVersion })
        .setProtectedHeader({ alg: JWT_ALGORITHM, typ: 'JWT' })
        .setSubject(claims.userId)
        .setIssuer(settings.issuer)
        .setAudience(settings.audience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + TOKEN_TTL_SECONDS)
        .sign(key);
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [JWT_ALGORITHM],
          issuer: settings.issuer,
          audience: settings.audience,
          currentDate: settings.now(),
          requiredClaims: ['exp', 'sub'],
        });
        const { sub, username, role, ver } = payload;
        const versionOk = typeof ver === 'number' && Number.isSafeInteger(ver) && ver >= 0;
        if (
          typeof sub !== 'string' ||
          typeof username !== 'string' ||
          (role !== 'admin' && role !== 'user') ||
          !versionOk
        ) {
          throw new ApiError(401, 'INVALID_TOKEN', 'token lacks the user claims this service issues');
        }
        return { userId: sub, username, role, tokenVersion: ver };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (err instanceof joseErrors.JWTExpired)
          throw new ApiError(401, 'TOKEN_EXPIRED', 'token expired; log in again');
        throw new ApiError(401, 'INVALID_TOKEN', 'token is not valid for this service; log in again');
      }
    },
  };
}
