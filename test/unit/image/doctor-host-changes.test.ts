import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { doctorCommand, parseHostChanges } from '../../../src/commands/doctor.js';
import { IncusClient } from '../../../src/incus/client.js';
import { ScriptedRunner } from '../support/scripted-runner.js';

const script = readFileSync(join(import.meta.dirname, '../../../bin/ensure-incus.sh'), 'utf8');
const reference = join(import.meta.dirname, '../../../topology.yaml');

/** What bin/ensure-incus.sh prints on a bare host: steps, and one CHANGE line per change. */
const SCRIPT_OUTPUT = [
  '[ensure-incus] added bookworm-backports source (/etc/apt/sources.list.d/distctl-backports.sources)',
  '[ensure-incus] CHANGE apt source bookworm-backports added (/etc/apt/sources.list.d/distctl-backports.sources) | undo: rm /etc/apt/sources.list.d/distctl-backports.sources && apt-get update',
  '[ensure-incus] CHANGE package incus installed from bookworm-backports | undo: apt-get purge incus && apt-get autoremove (deletes /var/lib/incus: every instance and image)',
  '[ensure-incus] CHANGE IPv4 forwarding turned on host-wide (net.ipv4.ip_forward=1: every interface routes; not persisted, a reboot resets it) | undo: sysctl -w net.ipv4.ip_forward=0 (only if nothing else on the host needs forwarding)',
  '[ensure-incus] ok: incus 6.0.4 ready',
].join('\n');

describe('doctor --fix', () => {
  it('prints every host change bin/ensure-incus.sh made, with how to undo it', async () => {
    const runner = new ScriptedRunner((cmd) => {
      if (cmd.bin === 'bash') return { stdout: SCRIPT_OUTPUT };
      if (cmd.bin === 'incus' && cmd.args[0] === 'version')
        return { stdout: 'Client version: 6.0.4\nServer version: unreachable\n' };
      if (cmd.bin === 'incus')
        return {
          exitCode: 1,
          stderr:
            'Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: no such file or directory',
        };
      // doctor also reads the transparent-hugepage settings MongoDB cares about.
      if (cmd.bin === 'cat' && cmd.args[0]?.startsWith('/sys/kernel/mm/transparent_hugepage/'))
        return { stdout: 'always [madvise] never\n' };
      return undefined;
    });
    const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
    const result = await doctorCommand({ file: reference, fix: true, client: new IncusClient(runner), runner, ui });
    expect(result.human).toContain('fixed: host prepared with bin/ensure-incus.sh (3 changes)');
    expect(result.human).toContain(
      'host change: IPv4 forwarding turned on host-wide (net.ipv4.ip_forward=1: every interface routes; not persisted, a reboot resets it)\n    undo: sysctl -w net.ipv4.ip_forward=0 (only if nothing else on the host needs forwarding)',
    );
    expect((result.json as { hostChanges: unknown[] }).hostChanges).toEqual(parseHostChanges(SCRIPT_OUTPUT));
    expect(parseHostChanges(SCRIPT_OUTPUT).map((change) => change.change.split(' ').slice(0, 2).join(' '))).toEqual([
      'apt source',
      'package incus',
      'IPv4 forwarding',
    ]);
  });
});

describe('bin/ensure-incus.sh', () => {
  it('announces each kind of change it can make, each with an undo', () => {
    const announced = [...script.matchAll(/^\s*change "([^"]+)" "([^"]+)"$/gm)].map((match) => match[1]!);
    expect(announced.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'apt source',
      'package incus',
      'packages ${missing[*]}',
      'incus.service started',
      'incusd started',
      'storage pool',
      'storage pool',
      'root disk',
      'IPv4 forwarding',
    ]);
    // Every command that changes the host is followed, in its branch, by its announcement.
    for (const command of [
      '>"$BACKPORTS_FILE"',
      'apt-get install -y -qq -t',
      'apt-get install -y -qq "${missing[@]}"',
      'systemctl start incus',
      'setsid nohup',
      'storage create "$POOL_NAME" btrfs',
      'storage create "$POOL_NAME" dir',
      'profile device add default root',
      'sysctl -qw net.ipv4.ip_forward=1',
    ]) {
      const at = script.indexOf(command);
      expect(at, command).toBeGreaterThan(0);
      const branchEnd = script.slice(at).search(/\n\s*(else|fi)\b/);
      expect(script.slice(at, at + branchEnd), command).toMatch(/\n\s*change "/);
    }
  });
});
