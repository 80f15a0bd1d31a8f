import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem, loadTopologyFile } from '../../../src/topology/load.js';

const dir = join(import.meta.dirname, '../../fixtures/topologies/bad');
const fixtures = readdirSync(dir)
  .filter((name) => name.endsWith('.yaml'))
  .sort();

/** Each bad fixture states, in its first lines, the problem code and message it must produce. */
function expectation(file: string): { code: string; message: string } {
  const text = readFileSync(join(dir, file), 'utf8');
  const code = /^# expect-code: (.+)$/m.exec(text)?.[1];
  const message = /^# expect-message: (.+)$/m.exec(text)?.[1];
  if (!code || !message) throw new Error(`${file} lacks its # expect-code / # expect-message header`);
  return { code, message };
}

describe('bad topology corpus', () => {
  it('has a fixture for every class of bad input the issue names', () => {
    const codes = new Set(fixtures.map((file) => expectation(file).code));
    for (const code of [
      'yaml-syntax',
      'not-a-mapping',
      'wrong-type',
      'unknown-key',
      'duplicate-ip',
      'ip-outside-subnet',
      'range-overlap',
      'range-gap',
      'unknown-replica-set',
      'unknown-database',
      'unknown-container',
    ]) {
      expect(codes, code).toContain(code);
    }
  });

  it.each(fixtures)('%s is rejected with its message, located in the file', async (file) => {
    const { code, message } = expectation(file);
    const report = await loadTopologyFile(join(dir, file));
    expect(report.topology).toBeNull();
    const match = report.errors.find((found) => found.code === code && formatProblem(found).includes(message));
    expect(match, `errors were:\n${report.errors.map(formatProblem).join('\n')}`).toBeDefined();
    expect(match?.location?.line).toBeGreaterThan(0);
    expect(match?.location?.file).toBe(join(dir, file));
  });
});
