import { describe, expect, it } from 'vitest';
import { checkHugepages, parseHugepageSettings } from '../../../src/mongo/hugepages.js';

// As this host's kernel prints them (Debian 12 default: madvise).
const debianDefault = parseHugepageSettings(
  'always [madvise] never\n',
  'always defer defer+madvise [madvise] never\n',
  '511\n',
);

describe('transparent hugepages against the MongoDB version', () => {
  it('reads the bracketed selection and max_ptes_none', () => {
    expect(debianDefault).toEqual({ enabled: 'madvise', defrag: 'madvise', maxPtesNone: 511 });
    expect(parseHugepageSettings(null, null, null)).toEqual({ enabled: null, defrag: null, maxPtesNone: null });
  });

  it('7.0 wants THP off, and says what to run', () => {
    expect(checkHugepages('7.0', debianDefault)).toEqual({
      status: 'warn',
      detail:
        'MongoDB 7.0 runs slower with these settings: enabled is madvise, wanted never; defrag is madvise, wanted ' +
        'never',
      fix:
        'echo never | sudo tee /sys/kernel/mm/transparent_hugepage/enabled && echo never | sudo tee /sys/kernel/mm/transparent_hugepage/defrag ' +
        '(until reboot; repeat it from a boot-time unit to keep it)',
    });
    expect(checkHugepages('7.0.14', { enabled: 'never', defrag: 'never', maxPtesNone: 511 })).toEqual({
      status: 'ok',
      detail: 'as MongoDB 7.0.14 wants (enabled never, defrag never)',
    });
  });

  it('8.0 wants THP always, defrag defer+madvise and max_ptes_none 0', () => {
    expect(checkHugepages('8.0', debianDefault)).toEqual({
      status: 'warn',
      detail:
        'MongoDB 8.0 runs slower with these settings: enabled is madvise, wanted always; defrag is madvise, wanted ' +
        'defer+madvise; khugepaged/max_ptes_none is 511, wanted 0',
      fix:
        'echo always | sudo tee /sys/kernel/mm/transparent_hugepage/enabled && echo defer+madvise | sudo tee /sys/kernel/mm/transparent_hugepage/defrag && ' +
        'echo 0 | sudo tee /sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none (until reboot; repeat it ' +
        'from a boot-time unit to keep it)',
    });
    expect(checkHugepages('8.0', { enabled: 'always', defrag: 'defer+madvise', maxPtesNone: 0 }).status).toBe('ok');
    // What suits 7.0 is wrong for 8.0.
    expect(checkHugepages('8.0', { enabled: 'never', defrag: 'never', maxPtesNone: 0 }).status).toBe('warn');
  });
});
