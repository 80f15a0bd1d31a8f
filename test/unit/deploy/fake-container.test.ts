// The deploy tier's container fake is as strict as systemd and the shell:
// what it was not told about fails the test instead of passing silently.
import { describe, expect, it } from 'vitest';
import { FakeContainers } from './fake-container.js';

describe('FakeContainers', () => {
  it("cannot start, restart or enable a unit whose file was never written, in systemd's words", async () => {
    const ops = new FakeContainers(() => 'sha');
    expect(await ops.exec('web', ['systemctl', 'start', 'web-server.service'])).toEqual({
      exitCode: 5,
      stdout: '',
      stderr: 'Failed to start web-server.service: Unit web-server.service not found.\n',
      timedOut: false,
    });
    expect((await ops.exec('web', ['systemctl', 'restart', 'web-server.service'])).exitCode).toBe(5);
    expect(await ops.exec('web', ['systemctl', 'enable', '--quiet', 'web-server.service'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'Failed to enable unit: Unit file web-server.service does not exist.\n',
      timedOut: false,
    });
    expect(ops.unit('web', 'web-server.service').starts).toBe(0);
  });

  it('starts a unit once its file is written, and reports it to status as loaded and active', async () => {
    const ops = new FakeContainers(() => 'sha');
    await ops.writeFile('web', '/etc/systemd/system/web-server.service', '[Unit]\n');
    expect((await ops.exec('web', ['systemctl', 'start', 'web-server.service'])).exitCode).toBe(0);
    const shown = await ops.exec('web', [
      'systemctl',
      'show',
      '--property=Id,LoadState,ActiveState',
      '--',
      'web-server.service',
      'mongod-27017.service',
    ]);
    expect(shown.stdout).toBe(
      'Id=web-server.service\nLoadState=loaded\nActiveState=active\n\nId=mongod-27017.service\nLoadState=not-found\nActiveState=inactive\n',
    );
  });

  it('fails the test on a command or systemctl verb it was not told about', async () => {
    const ops = new FakeContainers(() => 'sha');
    await expect(ops.exec('web', ['rm', '-rf', '/'])).rejects.toThrow(
      'FakeContainers: unscripted exec in web: rm -rf /',
    );
    await expect(ops.exec('web', ['systemctl', 'mask', 'web-server.service'])).rejects.toThrow(
      'unscripted systemctl in web: mask web-server.service',
    );
  });
});
