// Static addressing: `up` gives eth0 its address in raw.lxc (set by LXC before
// the container's init) and writes the ifupdown file (manual eth0, resolver)
// before each container's first start, on the in-memory Incus model. The image
// is an ifupdown image with no DHCP client at all, so a container holds its
// address only if what distctl wrote is right; every run ends with an empty
// re-plan.
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
  "# Written by distctl: eth0's address (10.97.0.11/24 via 10.97.0.1) comes from raw.lxc.",
  'auto lo',
  'iface lo inet loopback',
  '',
  'auto eth0',
  'iface eth0 inet manual',
  '',
].join('\n');

const RAW_DB_A = 'lxc.net.0.ipv4.address = 10.97.0.11/24 10.97.0.255\nlxc.net.0.ipv4.gateway = 10.97.0.1\n';

const rawLxc = (name: string) => t.model.instance('model-unit', name)?.config['raw.lxc'];

describe('static addressing', () => {
  it('writes each address before the first start, so containers are addressed without DHCP', async () => {
    const result = await up();
    expect(result.exitCode).toBe(0);
    expect(interfaces('db-a')).toBe(STATIC_DB_A);
    expect(t.model.instance('model-unit', 'db-a')?.files['/etc/resolv.conf']).toBe(
      "# Written by distctl: the bridge's DNS.\nnameserver 10.97.0.1\n",
    );
    expect(t.model.instance('model-unit', 'db-a')?.config[STATIC_ADDRESS_KEY]).toBe('10.97.0.11/24 via 10.97.0.1');
    expect(rawLxc('db-a')).toBe(RAW_DB_A);
    // The Incus reservation stays, so Incus and the container agree.
    expect(t.model.instance('model-unit', 'db-a')?.devices.eth0?.['ipv4.address']).toBe('10.97.0.11');
    expect([held('web'), held('db-a'), held('db-b')]).toEqual(['10.97.0.10', '10.97.0.11', '10.97.0.12']);
    // The file goes in while the container is stopped: before its start, in the same chain.
    const calls = t.model.calls.map((argv) => argv.join(' '));
    expect(calls.filter((line) => / db-a(\/| |$)/.test(line))).toEqual([
      '--project model-unit create -- debian12-distctl db-a',
      '--project model-unit file push --create-dirs --mode 0644 -- - db-a/etc/network/interfaces',
      '--project model-unit file push --create-dirs --mode 0644 -- - db-a/etc/resolv.conf',
      `--project model-unit config set -- db-a raw.lxc=${RAW_DB_A} user.distctl.static-ipv4=10.97.0.11/24 via 10.97.0.1`,
      '--project model-unit start -- db-a',
    ]);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a changed address in the topology moves the reservation and the file together, and restarts', async () => {
    expect((await up()).exitCode).toBe(0);
    await t.write(PROVISION_TOPOLOGY.replace('{ name: db-a, ipv4: 10.97.0.11 }', '{ name: db-a, ipv4: 10.97.0.31 }'));
    expect(actions(await up())).toEqual([
      '~ container db-a: eth0 10.97.0.11 → 10.97.0.31 on dmodel0',
      '~ container db-a: eth0 static 10.97.0.31/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf) ' +
        '(was 10.97.0.11/24 via 10.97.0.1)',
      '~ container db-a: restart (take its new static address)',
    ]);
    expect(interfaces('db-a')).toBe(STATIC_DB_A.replace('10.97.0.11/24', '10.97.0.31/24'));
    expect(rawLxc('db-a')).toBe(RAW_DB_A.replace('10.97.0.11/24', '10.97.0.31/24'));
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
      '~ container db-b: eth0 static 10.97.0.12/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf) ' +
        '(was 10.97.0.99/24 via 10.97.0.1)',
      '~ container db-b: restart (take its new static address)',
    ]);
    expect(t.model.instance('model-unit', 'db-b')?.config[STATIC_ADDRESS_KEY]).toBe('10.97.0.12/24 via 10.97.0.1');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a raw.lxc changed or removed by hand is written again, with a restart that puts the address back', async () => {
    expect((await up()).exitCode).toBe(0);
    await t.incus('config', 'set', 'db-b', 'raw.lxc=lxc.net.0.ipv4.address = 10.97.0.77/24');
    await t.incus('restart', 'db-b');
    expect(held('db-b')).toBe('10.97.0.77');
    expect(actions(await up())).toEqual([
      '~ container db-b: eth0 static 10.97.0.12/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf) ' +
        '(was 10.97.0.12/24 via 10.97.0.1, with a different raw.lxc)',
      '~ container db-b: restart (take its new static address)',
    ]);
    expect(rawLxc('db-b')).toBe(RAW_DB_A.replaceAll('10.97.0.11', '10.97.0.12'));
    expect(held('db-b')).toBe('10.97.0.12');
    expect((await t.replan()).actions).toEqual([]);
  });

  it('an image that does not read ifupdown still holds the address raw.lxc gives it', async () => {
    t.model.ifupdown.clear();
    expect((await up()).exitCode).toBe(0);
    expect([held('web'), held('db-a'), held('db-b')]).toEqual(['10.97.0.10', '10.97.0.11', '10.97.0.12']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a failed write is not recorded, so the next up writes it again', async () => {
    const push = (argv: readonly string[]) => argv.includes('push') && argv.includes('db-b/etc/network/interfaces');
    t.model.failOn(push, 'Error: disk full');
    await expect(up()).rejects.toMatchObject({ code: 'APPLY_FAILED' });
    expect(t.model.instance('model-unit', 'db-b')?.config[STATIC_ADDRESS_KEY]).toBeUndefined();
    expect(rawLxc('db-b')).toBeUndefined();
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

describe('the Incus model checks raw.lxc as Incus does', () => {
  it('refuses lxc.net keys other than an address or gateway, a line without a value, and the log file', async () => {
    expect((await up()).exitCode).toBe(0);
    const set = (value: string) =>
      t.incus('config', 'set', 'db-a', `raw.lxc=${value}`).then(
        () => 'accepted',
        (error: unknown) => (error as Error).message,
      );
    expect(await set('lxc.net.0.link = br0')).toContain('Only interface-specific ipv4/ipv6 lxc.net. keys are allowed');
    expect(await set('lxc.net.0.ipv4.address')).toContain('Invalid raw.lxc line: lxc.net.0.ipv4.address');
    expect(await set('lxc.logfile = /tmp/x')).toContain('Setting lxc.logfile is not allowed');
    expect(rawLxc('db-a')).toBe(RAW_DB_A);
    expect(await set('# a comment\nlxc.net.0.ipv6.gateway = fd00::1')).toBe('accepted');
  });
});
