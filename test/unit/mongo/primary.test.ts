import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import { onPrimary } from '../../../src/mongo/primary.js';
import { adminCredentials, ensureServiceUsers, type OnWritable } from '../../../src/mongo/users.js';
import type { SecretStore } from '../../../src/secrets/store.js';
import { desiredState, fakeMembers, memorySecrets } from './desired.js';
import { FakeMongo, settle, type FakeBehaviour } from './fake-mongo.js';

const desired = {
  ...desiredState(),
  standalones: [],
  services: desiredState().services.filter((s) => s.name === 'web-server'),
};
const set = desired.replicaSets[0]!;
const A = '10.10.10.12:27017';
const B = '10.10.10.12:27018';
const wait = { intervalMs: 1_000, timeoutMs: 30_000 };

describe('writes that need the primary', () => {
  let secrets: SecretStore;
  beforeEach(() => {
    secrets = memorySecrets();
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  /** rsA with A (priority 3) stopped and restarted, so B is primary until A, caught up again, takes over at 9.5 s. */
  async function takeoverUnderway(behaviour: FakeBehaviour = {}): Promise<FakeMongo> {
    const mongo = new FakeMongo(fakeMembers(desired), { latencyMs: 100, ...behaviour });
    const admin = await adminCredentials(secrets);
    mongo.preInitiate('rsA', set.initiateConfig, { [admin.username]: admin.password });
    mongo.stop(A);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(mongo.stateOf(B)).toBe('PRIMARY');
    mongo.start(A);
    return mongo;
  }

  it('retries NotWritablePrimary when a priority takeover lands between finding the primary and writing to it', async () => {
    const mongo = await takeoverUnderway();
    await vi.advanceTimersByTimeAsync(7_350);
    const admin = await adminCredentials(secrets);
    const onWritable: OnWritable = (_deployment, action) =>
      onPrimary(set, mongo.network, wait, 'creating service users', action);
    const outcome = await settle(ensureServiceUsers(desired, mongo.network, admin, secrets, onWritable), vi);

    expect(outcome.value).toEqual(['web-server@rsA']);
    // B answered hello as primary at 9.45 s, stepped down for A at 9.5 s, and refused the write at 9.65 s; A won at
    // 11.5 s.
    expect(mongo.seen.filter((s) => s.name === 'createUser').map((s) => [s.host, s.at])).toEqual([
      [B, 9_650],
      [A, 12_050],
    ]);
    expect(mongo.usersOf('rsA').get('web-server')?.roles).toEqual([{ role: 'readWrite', db: 'products_db' }]);
  });

  it('gives up with a clear error when no member becomes the writable primary within the bound', async () => {
    const mongo = new FakeMongo(fakeMembers(desired), { electionMs: Number.POSITIVE_INFINITY });
    mongo.preInitiate('rsA', set.initiateConfig);
    mongo.stop(A);
    const outcome = await settle(
      onPrimary(set, mongo.network, wait, 'creating service users', async () => 'written'),
      vi,
    );

    expect(outcome.error).toBeInstanceOf(DistctlError);
    expect(outcome.error).toMatchObject({
      code: 'REPLSET_NO_WRITABLE_PRIMARY',
      message: 'Replica set rsA had no writable primary for 30s while creating service users.',
    });
  });

  it("takes the primary from the member's own hello, not from what another member says", async () => {
    const mongo = await takeoverUnderway();
    await vi.advanceTimersByTimeAsync(7_500);
    // During the handoff window nobody is writable, though a moment ago B was.
    const targets: string[] = [];
    const outcome = await settle(
      onPrimary(set, mongo.network, wait, 'writing', async (primary) => targets.push(primary.host)),
      vi,
    );

    expect(outcome.value).toBe(1);
    expect(targets).toEqual([A]);
    expect(mongo.stateOf(A)).toBe('PRIMARY');
  });
});
