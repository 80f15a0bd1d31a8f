// Shared by the real-mongod tier: finding a mongod binary (and saying in one
// line when there is none).
import { spawnSync } from 'node:child_process';

function findMongod(): string | null {
  const fromEnv = process.env['MONGOD_BIN'];
  if (fromEnv) return spawnSync(fromEnv, ['--version']).status === 0 ? fromEnv : null;
  const which = spawnSync('sh', ['-c', 'command -v mongod'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() !== '' ? which.stdout.trim() : null;
}

/** The mongod binary to run (MONGOD_BIN, else PATH), or null — with the one-line skip notice printed. */
export const mongodBin = findMongod();
if (mongodBin === null) {
  console.log('mongod tier skipped: no mongod binary (set MONGOD_BIN=/path/to/mongod or put mongod on PATH)');
}

export { portForServerWithoutPortZero as freePort } from '../support/ports.js';

/**
 * The addresses the replica-set members bind, one per member
 * (DISTCTL_MONGOD_TIER_ADDRESSES, comma-separated; default 127.0.0.2-4), as
 * each container has its own IP. Each member also binds 127.0.0.1, the
 * channel the bootstrap uses inside a container.
 */
export const memberAddresses = (process.env['DISTCTL_MONGOD_TIER_ADDRESSES'] ?? '127.0.0.2,127.0.0.3,127.0.0.4')
  .split(',')
  .map((address) => address.trim());

/**
 * mongod grants the localhost exception to any client address in 127.0.0.0/8,
 * and a connection to 127.0.0.N comes from 127.0.0.1. Only member addresses
 * outside it (added to `lo`, as the workflow does) make a bootstrap command
 * sent over the network channel fail here as it would against a container.
 */
export const localhostExceptionGuarded = memberAddresses.every((address) => !address.startsWith('127.'));
if (mongodBin !== null && !localhostExceptionGuarded) {
  console.log(
    `mongod tier: members on ${memberAddresses.join(', ')}: the localhost-exception test skipped ` +
      '(needs addresses outside 127.0.0.0/8 on lo, set in DISTCTL_MONGOD_TIER_ADDRESSES)',
  );
}
