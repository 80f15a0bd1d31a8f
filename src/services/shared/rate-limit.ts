/**
 * Throttles: counted attempts per key within a window (429 with Retry-After
 * past the limit), and a cap on concurrent requests per client. Keys use the
 * client's address as express resolves it: the socket's, or, from a trusted
 * proxy only (web-server), the address that proxy forwards.
 */
import type { Request, RequestHandler } from 'express';
import { rateLimit, ipKeyGenerator, type RateLimitInfo, type RateLimitRequestHandler } from 'express-rate-limit';
import { ApiError } from './errors.js';

/** How many counted requests are tolerated per window. */
export interface LoginLimit {
  readonly limit: number;
  readonly windowMs: number;
}

/** Default: 5 failed logins per client and account per 15 minutes. */
export const DEFAULT_LOGIN_LIMIT: LoginLimit = { limit: 5, windowMs: 15 * 60 * 1000 };

/** The client address, with IPv6 clients grouped by /56 so one host cannot rotate addresses. */
export function clientKey(req: Request): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

/**
 * Middleware counting requests per `key` and answering 429 past the limit.
 * With `onlyFailures`, requests answered below 400 are not counted.
 */
export function attemptLimiter(
  settings: LoginLimit,
  key: (req: Request) => string,
  options: { onlyFailures: boolean; what: string },
): RateLimitRequestHandler {
  return rateLimit({
    windowMs: settings.windowMs,
    limit: settings.limit,
    skipSuccessfulRequests: options.onlyFailures,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: key,
    handler: (req, _res, next, limiterOptions) => {
      const resetAt = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime?.getTime();
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil((resetAt === undefined ? limiterOptions.windowMs : resetAt - Date.now()) / 1000),
      );
      next(
        new ApiError(429, 'TOO_MANY_ATTEMPTS', `${options.what}; retry in ${retryAfterSeconds} s`, {
          headers: { 'Retry-After': String(retryAfterSeconds) },
        }),
      );
    },
  });
}

/** Middleware counting failed (status ≥ 400) logins per `key` and answering 429 past the limit. */
export function failedLoginLimiter(settings: LoginLimit, key: (req: Request) => string): RateLimitRequestHandler {
  return attemptLimiter(settings, key, { onlyFailures: true, what: 'too many failed logins' });
}

/**
 * Lets at most `limit` requests per client run at once; one more gets 429 at
 * once. Put in front of bcrypt, it keeps one client from occupying the CPU.
 */
export function concurrencyLimiter(limit: number, key: (req: Request) => string): RequestHandler {
  const running = new Map<string, number>();
  return (req, res, next) => {
    const client = key(req);
    const now = running.get(client) ?? 0;
    if (now >= limit) {
      next(
        new ApiError(
          429,
          'TOO_MANY_ATTEMPTS',
          `${limit} login(s) from this client are already being checked; retry in 1 s`,
          { headers: { 'Retry-After': '1' } },
        ),
      );
      return;
    }
    running.set(client, now + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (running.get(client) ?? 1) - 1;
      if (left <= 0) running.delete(client);
      else running.set(client, left);
    };
    res.once('finish', release);
    res.once('close', release);
    next();
  };
}
