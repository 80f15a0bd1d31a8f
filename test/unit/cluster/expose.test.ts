// `distctl expose` on a cluster remote: the proxy device is added to the instance (addressed on the remote),
// so Incus listens on the member the container runs on; expose says which member that is.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exposeCommand } from '../../../src/commands/expose.js';
import { PROVISION_TOPOLOGY, testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;

const expose = (options: { target?: string; listen?: string } = {}) =>
  exposeCommand({
    file: t.file,
    remove: false,
    client: t.client(),
    ui: t.ui,
    stateDirFor: t.stateDirFor,
    ...(options.target ? { target: options.target } : {}),
    ...(options.listen ? { listen: options.listen } : {}),
  });

beforeEach(async () => {
  const topology = PROVISION_TOPOLOGY.replace(
    'project: model-unit\n',
    'project: model-unit\nincus: { remote: cl }\n',
  ).replace('{ name: db-a, ipv4: 10.97.0.11 }', '{ name: db-a, ipv4: 10.97.0.11, target: m3 }');
  t = await testDeployment(topology, { remote: 'cl', members: ['m1', 'm2', 'm3'] });
  const up = await t.up();
  expect(up.exitCode).toBe(0);
});

afterEach(async () => {
  await t.cleanup();
});

describe('expose on a cluster', () => {
  it('adds the proxy to the instance on the remote and names the member that listens', async () => {
    const from = t.model.calls.length;
    const result = await expose({ target: 'db-a:27017', listen: '127.0.0.1:27999' });
    expect(result.exitCode).toBe(0);
    expect(
      t.model.calls
        .slice(from)
        .filter((argv) => !argv.includes('--format'))
        .map((argv) => argv.join(' ')),
    ).toEqual([
      '--project model-unit config device add -- cl:db-a expose-27999 proxy listen=tcp:127.0.0.1:27999 ' +
        'connect=tcp:127.0.0.1:27017 bind=host',
    ]);
    expect(result.human).toBe(`expose: ${t.file} exposes db-a:27017 on 127.0.0.1:27999 of cluster member m3`);
    expect(t.model.instance('model-unit', 'db-a')?.devices['expose-27999']).toEqual({
      type: 'proxy',
      listen: 'tcp:127.0.0.1:27999',
      connect: 'tcp:127.0.0.1:27017',
      bind: 'host',
    });
    const listed = await expose();
    expect(listed.human.split('\n')).toEqual([
      `127.0.0.1:3000 on member ${t.model.instance('model-unit', 'web')?.location ?? '?'} → web port 3000  present`,
      '127.0.0.1:27999 on member m3 → db-a port 27017  present',
    ]);
    expect((await t.replan()).actions).toEqual([]);
  });
});
