import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { statusCommand } from '../../../src/commands/status.js';
import { recordNodeRuntime } from '../../../src/deploy/node-runtime.js';
import { FakeIncus } from '../transfer/fake-incus.js';

const TOPOLOGY = `version: 1
project: node-unit
image: debian12-distctl
network: { name: dnode0, subnet: 10.96.0.0/24, gateway: 10.96.0.1 }
containers:
  - { name: app, ipv4: 10.96.0.10 }
`;
const ui = createUi({ json: true, isTty: false, noColor: true, ci: true, columns: 0 });
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-node-status-'));
  await writeFile(join(dir, 'topology.yaml'), TOPOLOGY);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('status --json', () => {
  it('shows the version and sha256 of the Node runtime the deployment recorded, and null before any deploy', async () => {
    const stateDirFor = (project: string): string => join(dir, 'state', project);
    const status = () =>
      statusCommand({
        file: join(dir, 'topology.yaml'),
        client: new FakeIncus().client,
        ui,
        stateDirFor,
        watchSeconds: null,
        write: () => undefined,
      });
    expect(((await status()).json as { nodeRuntime: unknown }).nodeRuntime).toBeNull();
    await mkdir(stateDirFor('node-unit'), { recursive: true });
    await recordNodeRuntime(
      stateDirFor('node-unit'),
      { path: '/usr/bin/node', version: 'v20.20.2', sha256: 'b'.repeat(64) },
      new Date('2026-11-28T12:00:00Z'),
    );
    expect(((await status()).json as { nodeRuntime: unknown }).nodeRuntime).toEqual({
      version: 'v20.20.2',
      sha256: 'b'.repeat(64),
      path: '/usr/bin/node',
      recordedAt: '2026-11-28T12:00:00.000Z',
    });
  });
});
