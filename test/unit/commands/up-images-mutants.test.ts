// `distctl up` in-process on the in-memory Incus model: the recipe image stage as it is reported
// (progress while building, one line per image, first stage of the summary), and a failure that is not
// a distctl error surfacing as it is instead of being reported as a failed stage.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { ImageBuilder } from '../../../src/image/index.js';
import { recipeAlias } from '../../../src/image/recipe.js';
import { MongoSecretNames } from '../../../src/mongo/users.js';
import { PROVISION_TOPOLOGY, testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;
afterEach(async () => t.cleanup());

const up = (buildImage?: ImageBuilder) => t.up(buildImage ? { buildImage } : {});

it('a missing recipe image is built before the containers, with its progress, and reported first', async () => {
  t = await testDeployment(PROVISION_TOPOLOGY.replace('image: debian12-distctl', 'image: { build: debian/bookworm }'));
  const alias = recipeAlias({ distro: 'debian', suite: 'bookworm' });
  const build: ImageBuilder = async (request) => {
    request.onProgress?.('debootstrap');
    t.model.images.add(request.alias);
    return {
      alias: request.alias,
      fingerprint: 'f'.repeat(64),
      sizeBytes: 1,
      seconds: 80.4,
      mirror: 'm',
      suite: 'bookworm',
      project: 'default',
      replaced: undefined,
    };
  };
  const result = await up(build);
  expect(result.exitCode).toBe(0);
  const label = `image ${alias} (debian/bookworm)`;
  const messages = t.ui.events.map((event) => `${event.event} ${event.message}`);
  expect(messages.slice(1, 6)).toEqual([
    'start reading Incus state',
    `start ${label}: building with debootstrap, once per recipe`,
    `start ${label}: debootstrap`,
    `done image ${alias} built (80 s)`,
    'info applying 12 changes',
  ]);
  expect((result.json as { stages: unknown[] }).stages[0]).toEqual({
    stage: 'images',
    status: 'ok',
    summary: `${alias} built (80 s)`,
  });
  expect(result.human.split('\n')[0]).toBe(`✔ images: ${alias} built (80 s)`);
});

it('a failure in a stage that is not a distctl error stops up with that error, not a failed stage', async () => {
  t = await testDeployment(`${PROVISION_TOPOLOGY}
mongodb:
  source: image
  standalones:
    - { name: users, container: db-a, port: 27017, database: auth_db, env: DB3_URL }
`);
  // A directory where the admin password file belongs: reading it fails with EISDIR.
  await mkdir(join(t.stateDirFor('model-unit'), 'secrets', MongoSecretNames.adminPassword), { recursive: true });
  await expect(up()).rejects.toMatchObject({ code: 'EISDIR' });
  expect(t.ui.events.map((event) => `${event.event} ${event.message}`).at(-1)).toBe('start databases: converging');
});
