import { describe, expect, it } from 'vitest';
import { deploymentStateDir, secretsDir, SYSTEM_STATE_DIR } from '../../../src/state/paths.js';

describe('deploymentStateDir', () => {
  it("puts root's state in /var/lib/distctl whatever $HOME and $XDG_STATE_HOME sudo passed on", () => {
    expect(SYSTEM_STATE_DIR).toBe('/var/lib/distctl');
    expect(deploymentStateDir('plat', { HOME: '/home/alice' }, 0)).toBe('/var/lib/distctl/plat');
    expect(deploymentStateDir('plat', { HOME: '/root', XDG_STATE_HOME: '/home/alice/.local/state' }, 0)).toBe(
      '/var/lib/distctl/plat',
    );
    expect(secretsDir(deploymentStateDir('plat', {}, 0))).toBe('/var/lib/distctl/plat/secrets');
  });

  it('keeps XDG for other users', () => {
    expect(deploymentStateDir('plat', { XDG_STATE_HOME: '/home/alice/.state' }, 1000)).toBe(
      '/home/alice/.state/distctl/plat',
    );
  });

  it('lets $DISTCTL_STATE_DIR override both', () => {
    expect(deploymentStateDir('plat', { DISTCTL_STATE_DIR: '/srv/distctl' }, 0)).toBe('/srv/distctl/plat');
    expect(deploymentStateDir('plat', { DISTCTL_STATE_DIR: '/srv/distctl' }, 1000)).toBe('/srv/distctl/plat');
  });
});
