/**
 * Throttling of failed logins: after `limit` failures within `windowMs` from
 * one key, further attempts get 429 with Retry-After until the window ends.
 * Successful logins do not count, so a user who types the password right is
 * never slowed down.
 */
import type { Request, RequestHandler } from 'express';
import { rateLimit, ipKeyGenerator, type RateLimitInfo } from 'express-rate-limit';
import { ApiError } from './errors.js';

/** How many failed logins are tolerated per window. */
export interface LoginLimit {
  readonly limit: number;
  readonly windowMs: number;
}

/** Default: 5 failures per client per 15 minutes. */
export const DEFAULT_LOGIN_LIMIT: LoginLimit = { limit: 5, windowMs: 15 * 60 * 1000 };

/** The client address, with IPv6 clients grouped by /56 so one host cannot rotate addresses. */
export function clientKey(req: Request): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

/** Middleware counting failed (status ≥ 400) requests per `key` and answering 429 past the limit. */
export function failedLoginLimiter(settings: LoginLimit, key: (req: Request) => string): RequestHandler {
  return rateLimit({
    windowMs: settings.windowMs,
    limit: settings.limit,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: key,
    handler: (req, _res, next, options) => {
      const resetAt = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit?.resetTime?.getTime();
      const retryAfterSeconds = Math.max(1, Math.ceil((resetAt === undefined ? options.windowMs : resetAt - Date.now()) / 1000));
      next(
        new ApiError(429, 'TOO_MANY_ATTEMPTS', `too many failed logins; retry in ${retryAfterSeconds} s`, {
          headers: { 'Retry-After': String(retryAfterSeconds) },
        }),
      );
    },
  });
}
