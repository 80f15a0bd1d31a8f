import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DerivedService } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import { directlyReachable, hostFetch, NotOnHostNetworkError, type HostInterfaces } from '../../../src/exec/reach.js';
import { waitForHealth } from '../../../src/deploy/health.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import { MongoUnreachableError } from '../../../src/mongo/admin.js';
import { acceptsConnections } from '../../../src/mongo/driver-admin.js';
import { probeHttp } from '../../../src/observe/http.js';

// If a guard below were broken, the code would open a real connection to a documentation address (TEST-NET-2):
// the socket layer is replaced so that such a bug fails the test instead of sending a packet.
const connect = vi.hoisted(() =>
  vi.fn(() => {
    throw new Error('a connection was attempted');
  }),
);
vi.mock('node:net', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:net')>()), connect }));

/** Nowhere on this host: 198.51.100.0/24 is reserved for documentation. */
const ELSEWHERE = '198.51.100.7';

const interfaces: HostInterfaces = {
  lo: [
    {
      address: '127.0.0.1',
      netmask: '255.0.0.0',
      family: 'IPv4',
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '127.0.0.1/8',
    },
  ],
  incusbr0: [
    {
      address: '10.10.10.1',
      netmask: '255.255.255.0',
      family: 'IPv4',
      mac: '02:00:00:00:00:01',
      internal: false,
      cidr: '10.10.10.1/24',
    },
  ],
  eth0: [
    {
      address: 'fe80::1',
      netmask: 'ffff:ffff:ffff:ffff::',
      family: 'IPv6',
      mac: '02:00:00:00:00:02',
      internal: false,
      cidr: 'fe80::1/64',
      scopeid: 2,
    },
  ],
};

afterEach(() => {
  vi.unstubAllGlobals();
  connect.mockClear();
});

describe('directlyReachable: only loopback and the subnets of the host’s own interfaces', () => {
  it('takes an address on an interface’s subnet, with or without a port', () => {
    expect(directlyReachable('10.10.10.12', interfaces)).toBe(true);
    expect(directlyReachable('10.10.10.255:27017', interfaces)).toBe(true);
  });

  it('refuses an address reached only through a gateway, just outside the subnet too', () => {
    expect(directlyReachable('10.10.11.12', interfaces)).toBe(false);
    expect(directlyReachable('10.10.9.255:5000', interfaces)).toBe(false);
    expect(directlyReachable(ELSEWHERE, interfaces)).toBe(false);
  });

  it('always takes loopback (all of 127/8) and names, which are not addresses', () => {
    expect(directlyReachable('127.0.0.1:27017', {})).toBe(true);
    expect(directlyReachable('127.45.0.9', {})).toBe(true);
    expect(directlyReachable('localhost', {})).toBe(true);
  });
});

describe('the host-side connections refuse an address no interface of the host is on, sending nothing', () => {
  it('hostFetch rejects before the platform fetch is called, and passes loopback through', async () => {
    const platformFetch = vi.fn(async () => new Response('ok'));
    vi.stubGlobal('fetch', platformFetch);

    const refused = await hostFetch(`http://${ELSEWHERE}:5000/health`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(NotOnHostNetworkError);
    expect((refused as Error).message).toBe(
      `${ELSEWHERE} is not on a network of this host (no interface in its subnet); distctl does not send traffic ` +
        `through a gateway — run it on a host with a leg on the deployment's network`,
    );
    expect(platformFetch).not.toHaveBeenCalled();

    await hostFetch('http://127.0.0.1:9/health');
    expect(platformFetch).toHaveBeenCalledTimes(1);
  });

  it('a status probe reports the refusal as its error, by default', async () => {
    const platformFetch = vi.fn(async () => new Response('ok'));
    vi.stubGlobal('fetch', platformFetch);
    const result = await probeHttp(`http://${ELSEWHERE}:3000/ready`);
    expect(result).toEqual({ ok: false, status: null, error: new NotOnHostNetworkError(ELSEWHERE).message });
    expect(platformFetch).not.toHaveBeenCalled();
  });

  it('the deploy health wait stops at once with HOST_NOT_ON_NETWORK instead of waiting out its timeout', async () => {
    const platformFetch = vi.fn(async () => new Response('ok'));
    vi.stubGlobal('fetch', platformFetch);
    const ops = { exec: vi.fn() } as unknown as ContainerOps;
    const service = {
      name: 'web-server',
      container: 'web',
      unitName: 'web-server.service',
      url: `http://${ELSEWHERE}:3000`,
    };
    const error = await waitForHealth(service as unknown as DerivedService, {
      ops,
      fetch: hostFetch,
      timeoutMs: 60_000,
      sleep: () => Promise.reject(new Error('the wait went on')),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('HOST_NOT_ON_NETWORK');
    expect(platformFetch).not.toHaveBeenCalled();
    expect(ops.exec).not.toHaveBeenCalled();
  });

  it('a mongod address is refused before any socket is opened', async () => {
    const error = await acceptsConnections(`${ELSEWHERE}:27017`, 1_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect((error as MongoUnreachableError).message).toContain(`${ELSEWHERE}:27017 is not on a network of this host`);
    expect(connect).not.toHaveBeenCalled();
  });
});
