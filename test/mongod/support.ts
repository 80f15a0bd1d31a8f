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
