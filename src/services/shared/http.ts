/**
 * Express plumbing both services share: JSON body parsing with a size cap,
 * the JSON error format, 404s for unknown routes, and listening on a port.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import { ApiError, StoreUnavailableError, unavailableError } from './errors.js';

/** Largest JSON body accepted; products and users are a few hundred bytes. */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * The policy of every response that does not set its own (JSON answers and
 * errors): load nothing, never be framed. HTML pages replace it with theirs.
 */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Headers every response carries: no MIME sniffing, no referrer leaks, no framing. */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Content-Security-Policy': API_CSP,
    'X-Frame-Options': 'DENY',
  });
  next();
};

/** A fresh express app with security headers, JSON parsing (capped) and no framework banner. */
export function createBaseApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders);
  app.use(express.json({ limit: MAX_BODY_BYTES, strict: true }));
  return app;
}

/** The body as a plain object, or a 400 that says the body must be one. */
export function jsonObjectBody(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(
      400,
      'INVALID_BODY',
      'request body must be a JSON object sent with Content-Type: application/json',
    );
  }
  return body as Record<string, unknown>;
}

/** The token of an `Authorization: Bearer <token>` header, or a 401. */
export function bearerToken(req: Request): string {
  const header = req.get('authorization') ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match?.[1]) throw new ApiError(401, 'UNAUTHENTICATED', 'missing Authorization: Bearer <token> header');
  return match[1];
}

/** 404 JSON for any route not matched. */
export const notFoundHandler: RequestHandler = (req) => {
  throw new ApiError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
};

interface BodyParserError {
  type?: string;
  status?: number;
}

/**
 * Maps anything thrown in a handler to the JSON error format. Body-parser
 * failures become 400/413, unreachable stores 503, and anything else is a bug:
 * logged with its stack and answered as a bare 500 without internals.
 */
export function errorHandler(log: (line: string) => void): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const apiError = toApiError(err);
    if (apiError === null) {
      log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    const shown = apiError ?? new ApiError(500, 'INTERNAL', 'internal error; see the service log');
    res
      .status(shown.status)
      .set(shown.headers)
      .json({
        error: {
          code: shown.code,
          message: shown.message,
          ...(shown.field === undefined ? {} : { field: shown.field }),
          ...shown.extra,
        },
      });
  };
}

function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof StoreUnavailableError) return unavailableError([err.store], 'database unavailable');
  const parser = err as BodyParserError;
  if (parser?.type === 'entity.too.large') {
    return new ApiError(413, 'BODY_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  if (parser?.type === 'entity.parse.failed')
    return new ApiError(400, 'MALFORMED_JSON', 'request body is not valid JSON');
  if (typeof parser?.status === 'number' && parser.status >= 400 && parser.status < 500) {
    return new ApiError(parser.status, 'BAD_REQUEST', err instanceof Error ? err.message : 'bad request');
  }
  return null;
}

/** A listening server and the base URL it answers on. */
export interface RunningServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts `app` on host:port (port 0 picks a free one) and resolves once it listens. */
export function listen(app: Express, port: number, host: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        server,
        url: `http://${shownHost}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
