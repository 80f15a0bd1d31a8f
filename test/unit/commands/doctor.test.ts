// `distctl doctor` in-process: Incus is the in-memory model (version, query,
// storage, profile, images, networks in the recorded shapes), host routes a
// strict scripted runner. Exit 0 only when every check passes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { doctorCommand, type Check } from '../../../src/commands/doctor.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { PROVISION_TOPOLOGY, testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;
let routes: { dst: string; dev: string }[];
let host: ScriptedRunner;

const doctor = () => doctorCommand({ file: t.file, fix: false, client: t.client(), runner: host, ui: t.ui });
const checks = (result: Awaited<ReturnType<typeof doctor>>) => (result.json as { checks: Check[] }).checks;
const failed = (result: Awaited<ReturnType<typeof doctor>>) =>
  checks(result)
    .filter((check) => check.status !== 'ok')
    .map(({ name, status, detail }) => ({ name, status, detail }));

beforeEach(async () => {
  t = await testDeployment();
  routes = [
    { dst: 'default', dev: 'eth0' },
    { dst: '192.168.1.0/24', dev: 'eth0' },
  ];
  host = new ScriptedRunner((cmd) =>
    cmd.bin === 'ip' && cmd.args.join(' ') === '-4 -j route show' ? { stdout: JSON.stringify(routes) } : undefined,
  );
});

afterEach(async () => {
  // doctor tolerates a failing route lookup; a command it was not told about must still fail the test.
  expect(host.unexpected).toEqual([]);
  await t.cleanup();
});

describe('doctor', () => {
  it('exits 0 when the host is ready, naming each check', async () => {
    const result = await doctor();
    expect(checks(result).map(({ name, status, detail }) => [name, status, detail])).toEqual([
      ['topology', 'ok', `${t.file} is valid`],
      ['incus binary', 'ok', 'incus client 6.0.4'],
      ['incus daemon', 'ok', 'answering (server 6.0.4)'],
      ['storage', 'ok', 'default (btrfs)'],
      ['default profile', 'ok', 'root disk on pool default'],
      ['subnet', 'ok', '10.97.0.0/24 is free'],
      ['image debian12-distctl', 'ok', 'available locally'],
    ]);
    expect(result.exitCode).toBe(0);
  });

  it('fails when the image is not on the host, with the command that builds it', async () => {
    t.model.images.delete('debian12-distctl');
    const result = await doctor();
    expect(failed(result)).toEqual([
      { name: 'image debian12-distctl', status: 'fail', detail: 'no local image with this alias' },
    ]);
    expect(checks(result).at(-1)?.fix).toBe(
      'sudo distctl image build --alias debian12-distctl (or distctl doctor --fix)',
    );
    expect(result.exitCode).toBe(1);
  });

  it('fails when a host route overlaps the subnet', async () => {
    routes.push({ dst: '10.97.0.0/16', dev: 'wg0' });
    const result = await doctor();
    expect(failed(result)).toEqual([
      { name: 'subnet', status: 'fail', detail: '10.97.0.0/24 collides with host route 10.97.0.0/16 via wg0' },
    ]);
    expect(result.exitCode).toBe(1);
  });

  it("fails when another Incus network uses the subnet, or a foreign one has the bridge's name", async () => {
    await t.model.incus(['network', 'create', 'dother0', '--type', 'bridge', 'ipv4.address=10.97.0.129/25']);
    await t.model.incus(['network', 'create', 'dmodel0', '--type', 'bridge', 'ipv4.address=10.98.0.1/24']);
    const result = await doctor();
    expect(failed(result)).toEqual([
      {
        name: 'subnet',
        status: 'fail',
        detail:
          "10.97.0.0/24 collides with Incus network dother0 (10.97.0.129/25); a network named dmodel0 exists and is not this deployment's",
      },
    ]);
    expect(result.exitCode).toBe(1);
  });

  it('fails when the daemon does not answer, and offers --fix', async () => {
    t.model.failOn(
      (argv) => argv.join(' ') === 'query /1.0',
      'Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: no such file or directory',
    );
    const result = await doctor();
    expect(failed(result)).toEqual([
      {
        name: 'incus daemon',
        status: 'fail',
        detail: 'the Incus daemon is not running (`incus query /1.0` could not connect)',
      },
    ]);
    expect(checks(result).find((check) => check.name === 'incus daemon')?.repair).toBe('host');
    expect(result.human).toContain('1 check failed. `distctl doctor --fix` (as root) repairs the ones marked fixable.');
    expect(result.exitCode).toBe(1);
  });

  it('warns, without failing, about an image from a remote', async () => {
    await t.write(PROVISION_TOPOLOGY.replace('image: debian12-distctl', 'image: images:debian/12'));
    const result = await doctor();
    expect(failed(result)).toEqual([
      {
        name: 'image images:debian/12',
        status: 'warn',
        detail: 'comes from the remote "images"; Incus must reach it when containers are created',
      },
    ]);
    expect(result.exitCode).toBe(0);
  });

  it('fails on an invalid topology and still checks the host', async () => {
    await t.write('version: 1\nproject: x\n');
    const result = await doctor();
    expect(checks(result).map((check) => [check.name, check.status])).toEqual([
      ['topology', 'fail'],
      ['incus binary', 'ok'],
      ['incus daemon', 'ok'],
      ['storage', 'ok'],
      ['default profile', 'ok'],
    ]);
    expect(result.exitCode).toBe(1);
  });
});
