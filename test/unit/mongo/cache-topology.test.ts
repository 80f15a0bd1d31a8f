import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveDesiredState } from '../../../src/derive/index.js';
import { parseTopology } from '../../../src/topology/load.js';

const reference = readFileSync(join(import.meta.dirname, '../../../topology.yaml'), 'utf8');
const withCache = (value: string): string => reference.replace(/^mongodb:\n/m, `mongodb:\n  cacheSizeGB: ${value}\n`);

describe('mongodb.cacheSizeGB in topology.yaml', () => {
  it('reaches the desired state, which the units are rendered from', () => {
    const report = parseTopology(withCache('1.5'), 'topology.yaml');
    expect(report.errors).toEqual([]);
    if (report.topology === null) throw new Error('invalid');
    expect(deriveDesiredState(report.topology).mongodb.cacheSizeGB).toBe(1.5);
  });

  it('is absent unless set, so each member gets its share of the container', () => {
    const report = parseTopology(reference, 'topology.yaml');
    if (report.topology === null) throw new Error('invalid');
    expect(deriveDesiredState(report.topology).mongodb).not.toHaveProperty('cacheSizeGB');
  });

  it("refuses less than MongoDB's minimum of 0.25 GB", () => {
    const errors = parseTopology(withCache('0.1'), 'topology.yaml').errors;
    expect(errors.map((error) => error.message)).toEqual([
      expect.stringContaining("must be at least 0.25 (MongoDB's minimum)"),
    ]);
  });
});
