import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createServiceMetrics,
  metricsAllowList,
  metricsAllowed,
  metricsHandler,
  requestMetrics,
} from '../../../src/services/shared/metrics.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A small app with the metrics middleware and endpoint, listening on 127.0.0.1 port 0. */
async function start(allow: string): Promise<{ base: string; metrics: ReturnType<typeof createServiceMetrics> }> {
  const metrics = createServiceMetrics('web-server');
  const app = express();
  app.use(requestMetrics(metrics));
  app.get('/metrics', metricsHandler(metrics, metricsAllowList(allow)));
  app.get('/products/:id', (_req, res) => {
    res.status(200).json({ ok: true });
  });
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, metrics };
}

describe('/metrics', () => {
  it('serves the text format to an allowed client: request durations by route pattern, never by raw path', async () => {
    const { base } = await start('127.0.0.0/8');
    expect((await fetch(`${base}/products/abc`)).status).toBe(200);
    expect((await fetch(`${base}/products/def`)).status).toBe(200);
    expect((await fetch(`${base}/nowhere/at/all`)).status).toBe(404);
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain(
      'http_request_duration_seconds_count{service="web-server",method="GET",route="/products/:id",status="200"} 2',
    );
    expect(text).toContain(
      'http_request_duration_seconds_count{service="web-server",method="GET",route="unmatched",status="404"} 1',
    );
    expect(text).not.toContain('/products/abc');
    expect(text).toContain('process_cpu_user_seconds_total{service="web-server"}');
  });

  it('refuses everyone outside METRICS_ALLOW with a JSON 403, loopback included', async () => {
    const { base } = await start('10.10.10.0/24');
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({
      error: { code: 'FORBIDDEN', message: '/metrics is readable only from the platform network' },
    });
  });

  it('counts what the services record, with their labels', async () => {
    const { base, metrics } = await start('127.0.0.1/32');
    metrics.productOperations.inc({ operation: 'create', shard: 'rsA', outcome: 'ok' });
    metrics.shardMoves.inc({ event: 'repaired' });
    metrics.loginFailures.inc({ reason: 'bad_password' });
    metrics.throttled.inc({ limiter: 'login' });
    metrics.tokenRejections.inc({ reason: 'revoked' });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain(
      'product_operations_total{operation="create",shard="rsA",outcome="ok",service="web-server"} 1',
    );
    expect(text).toContain('shard_moves_total{event="repaired",service="web-server"} 1');
    expect(text).toContain('login_failures_total{reason="bad_password",service="web-server"} 1');
    expect(text).toContain('throttled_requests_total{limiter="login",service="web-server"} 1');
    expect(text).toContain('token_rejections_total{reason="revoked",service="web-server"} 1');
  });
});

describe('metricsAllowList / metricsAllowed', () => {
  it('matches IPv4, IPv4-mapped IPv6 and IPv6 clients against the CIDRs; empty allows nobody', () => {
    const allow = metricsAllowList('10.10.10.0/24, fd00::/8');
    expect(metricsAllowed(allow, '10.10.10.1')).toBe(true);
    expect(metricsAllowed(allow, '::ffff:10.10.10.200')).toBe(true);
    expect(metricsAllowed(allow, '10.10.11.1')).toBe(false);
    expect(metricsAllowed(allow, '127.0.0.1')).toBe(false);
    expect(metricsAllowed(allow, 'fd12::1')).toBe(true);
    expect(metricsAllowed(allow, undefined)).toBe(false);
    expect(metricsAllowed(metricsAllowList(''), '10.10.10.1')).toBe(false);
  });

  it('refuses a malformed entry, naming it', () => {
    expect(() => metricsAllowList('10.10.10.0')).toThrow(
      'METRICS_ALLOW entry "10.10.10.0" is not a CIDR such as 10.10.10.0/24',
    );
    expect(() => metricsAllowList('10.10.10.0/33')).toThrow('METRICS_ALLOW entry "10.10.10.0/33"');
    expect(() => metricsAllowList('host/24')).toThrow('METRICS_ALLOW entry "host/24"');
  });
});
