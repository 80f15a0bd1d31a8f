// Static addressing: `up` writes eth0's address into each container before its
// first start, on the in-memory Incus model. The image is an ifupdown image
// with no DHCP client at all, so a container holds its address only if the
// file distctl wrote is right; every run ends with an empty re-plan.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { incusCallsFor } from '../../../src/plan/calls.js';
import { planUp } from '../../../src/plan/index.js';
import { STATIC_ADDRESS_KEY } from '../../../src/plan/static-address.js';
import { IncusClient } from '../../../src/incus/client.js';
import { emptyIncus, referenceDesired } from '../plan/fixtures.js';
import { PROVISION_TOPOLOGY, testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;

beforeEach(async () => {
  t = await testDeployment();
  t.model.ifupdown.add('debian12-distctl');
  t.model.dhcpless.add('debian12-distctl');
});

afterEach(async () => {
  await t.cleanup();
});

const up = () => t.up();

const actions = (result: Awaited<ReturnType<typeof up>>) => (result.json as { actions: string[] }).actions;

const interfaces = (name: string) => t.model.instance('model-unit', name)?.files['/etc/network/interfaces'];

/** The IPv4 address eth0 holds now, as Incus reports it. */
const held = (name: string) => t.model.instance('model-unit', name)?.lease;

const STATIC_DB_A = [
  '# Written by distctl: eth0 holds the address Incus reserves for this container (user.distctl.static-ipv4).',
  'auto lo',
  'iface lo inet loopback',
  '',
  'auto eth0',
  'iface eth0 inet static',
  '    address 10.97.0.11/24',
  '    gateway 10.97.0.1',
  '    up echo nameserver 10.97.0.1 > /etc/resolv.conf',
  '',
].join('\n');

describe('static addressing', () => {
  it('writes each address before the first start, so containers are addressed without DHCP', async () => {
    const result = await up();
    expect(result.exitCode).toBe(0);
    expect(interfaces('db-a')).toBe(STATIC_DB_A);
    expect(t.model.instance('model-unit', 'db-a')?.config[STATIC_ADDRESS_KEY]).toBe('10.97.0.11/24 via 10.97.0.1');
    // The Incus reservation stays, so Incus and the container agree.
    expect(t.model.instance('model-unit', 'db-a')?.devices.eth0?.['ipv4.address']).toBe('10.97.0.11');
    expect([held('web'), held('db-a'), held('db-b')]).toEqual(['10.97.0.10', '10.97.0.11', '10.97.0.12']);
    // The file goes in while the container is stopped: before its start, in the same chain.
    const calls = t.model.calls.map((argv) => argv.join(' '));
    expect(calls.filter((line) => / db-a(\/| |$)/.test(line))).toEqual([
      '--project model-unit create -- debian12-distctl db-a',
      '--project model-unit file push --create-dirs --mode 0644 -- - db-a/etc/network/interfaces',
      '--project model-unit config set -- db-a user.distctl.static-ipv4=10.97.0.11/24 via 10.97.0.1',
      '--project model-unit start -- db-a',
    ]);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a changed address in the topology moves the reservation and the file together, and restarts', async () => {
    expect((await up()).exitCode).toBe(0);
    await t.write(PROVISION_TOPOLOGY.replace('{ name: db-a, ipv4: 10.97.0.11 }', '{ name: db-a, ipv4: 10.97.0.31 }'));
    expect(actions(await up())).toEqual([
      '~ container db-a: eth0 10.97.0.11 → 10.97.0.31 on dmodel0',
      '~ container db-a: eth0 static 10.97.0.31/24 via 10.97.0.1 in /etc/network/interfaces ' +
        '(was 10.97.0.11/24 via 10.97.0.1)',
      '~ container db-a: restart (take its new static address)',
    ]);
    expect(interfaces('db-a')).toBe(STATIC_DB_A.replace('10.97.0.11/24', '10.97.0.31/24'));
    expect(t.model.instance('model-unit', 'db-a')?.devices.eth0?.['ipv4.address']).toBe('10.97.0.31');
    expect(held('db-a')).toBe('10.97.0.31');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a reservation changed by hand is set back; the file, still right, is not rewritten', async () => {
    expect((await up()).exitCode).toBe(0);
    await t.incus('config', 'device', 'set', 'db-a', 'eth0', 'ipv4.address=10.97.0.50');
    const from = t.model.calls.length;
    expect(actions(await up())).toEqual([
      '~ container db-a: eth0 10.97.0.50 → 10.97.0.11 on dmodel0',
      '~ container db-a: restart (renew its DHCP lease for the new address)',
    ]);
    expect(t.model.calls.slice(from).some((argv) => argv.includes('push'))).toBe(false);
    expect(held('db-a')).toBe('10.97.0.11');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a container whose record differs (say, written by hand) gets the file again and a restart', async () => {
    expect((await up()).exitCode).toBe(0);
    await t.incus('config', 'set', 'db-b', `${STATIC_ADDRESS_KEY}=10.97.0.99/24 via 10.97.0.1`);
    expect(actions(await up())).toEqual([
      '~ container db-b: eth0 static 10.97.0.12/24 via 10.97.0.1 in /etc/network/interfaces ' +
        '(was 10.97.0.99/24 via 10.97.0.1)',
      '~ container db-b: restart (take its new static address)',
    ]);
    expect(t.model.instance('model-unit', 'db-b')?.config[STATIC_ADDRESS_KEY]).toBe('10.97.0.12/24 via 10.97.0.1');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('an image that does not read ifupdown ignores the file and takes the address by DHCP', async () => {
    t.model.ifupdown.clear();
    t.model.dhcpless.clear();
    expect((await up()).exitCode).toBe(0);
    expect([held('web'), held('db-a'), held('db-b')]).toEqual(['10.97.0.10', '10.97.0.11', '10.97.0.12']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a failed write is not recorded, so the next up writes it again', async () => {
    const push = (argv: readonly string[]) => argv.includes('push') && argv.includes('db-b/etc/network/interfaces');
    t.model.failOn(push, 'Error: disk full');
    await expect(up()).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    expect(t.model.instance('model-unit', 'db-b')?.config[STATIC_ADDRESS_KEY]).toBeUndefined();
    expect(t.model.instance('model-unit', 'db-b')?.status).toBe('Stopped');
    expect((await up()).exitCode).toBe(0);
    expect(held('db-b')).toBe('10.97.0.12');
    expect((await t.replan()).actions).toEqual([]);
  });
});

describe('the Incus model refuses what incus refuses', () => {
  it('a file push into an instance that does not exist', async () => {
    const desired = referenceDesired();
    const write = planUp(desired, emptyIncus).actions.find((action) => action.kind === 'write-address');
    if (write === undefined) throw new Error('no write-address action');
    const [push] = incusCallsFor(write, 'model-unit');
    await t.model.incus(['project', 'create', 'model-unit']);
    const result = await new IncusClient(t.model).run(push!).catch((error: unknown) => error);
    expect((result as Error).message).toContain(
      'Failed to fetch instance "auth-server" in project "model-unit": Instance not found',
    );
  });
});
