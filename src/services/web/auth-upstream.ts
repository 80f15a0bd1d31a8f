/**
 * web-server's client for auth-server: forwards register/login/user calls and
 * never hangs — every call has a deadline, and an unreachable or silent
 * auth-server becomes a 503 JSON error instead of a stuck request.
 */
import { ApiError } from '../shared/errors.js';

/** An auth-server answer, passed through to the web client. */
export interface UpstreamResponse {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfter: string | null;
}

/** What a forwarded call carries besides method and path. */
export interface ForwardOptions {
  readonly body?: unknown;
  readonly authorization?: string;
  readonly clientAddress?: string;
}

/** The calls web-server makes to auth-server. */
export interface AuthUpstream {
  /**
   * Sends a request; throws ApiError 503 if auth-server cannot be reached in time.
   * `clientAddress` goes out as X-Forwarded-For, which auth-server believes only
   * from web-server's address (its TRUSTED_PROXIES), so its throttles see the real client.
   */
  forward(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, options?: ForwardOptions): Promise<UpstreamResponse>;
  /** Whether auth-server answers its /health. */
  reachable(): Promise<boolean>;
}

/** Default deadline for one auth-server call; login includes a bcrypt compare (~0.1 s). */
export const AUTH_TIMEOUT_MS = 5000;

/** An AuthUpstream over HTTP to `baseUrl` (AUTH_SERVER_URL). */
export function createAuthUpstream(baseUrl: string, timeoutMs: number = AUTH_TIMEOUT_MS): AuthUpstream {
  const root = baseUrl.replace(/\/+$/, '');
  return {
    async forward(method, path, options = {}) {
      let response: Response;
      try {
        response = await fetch(`${root}${path}`, {
          method,
          signal: AbortSignal.timeout(timeoutMs),
          headers: {
            accept: 'application/json',
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
            ...(options.clientAddress === undefined ? {} : { 'x-forwarded-for': options.clientAddress }),
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        });
      } catch (err) {
        const why =
          err instanceof Error && err.name === 'TimeoutError'
            ? `no answer within ${timeoutMs} ms`
            : 'connection failed';
        throw new ApiError(503, 'AUTH_UNAVAILABLE', `auth-server at ${root} is unreachable (${why}); retry shortly`, {
          cause: err,
        });
      }
      const text = await response.text();
      if (response.status === 204 || text === '')
        return { status: response.status, body: null, retryAfter: response.headers.get('retry-after') };
      try {
        return {
          status: response.status,
          body: JSON.parse(text) as unknown,
          retryAfter: response.headers.get('retry-after'),
        };
      } catch {
        throw new ApiError(
          502,
          'AUTH_BAD_RESPONSE',
          `auth-server answered ${response.status} with a body that is not JSON`,
        );
      }
    },
    async reachable() {
      try {
        const response = await fetch(`${root}/health`, { signal: AbortSignal.timeout(Math.min(timeoutMs, 2000)) });
        await response.arrayBuffer();
        return response.ok;
      } catch {
        return false;
      }
    },
  };
}
