import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { doctorCommand, type Check } from '../../../src/commands/doctor.js';
import type { CommandSpec, CommandResult, Runner } from '../../../src/exec/runner.js';
import { IncusClient } from '../../../src/incus/client.js';

/** A host whose kernel has Debian's THP defaults and no incus: only the THP check matters here. */
class Host implements Runner {
  readonly seen: string[] = [];
  async run(cmd: CommandSpec): Promise<CommandResult> {
    this.seen.push([cmd.bin, ...cmd.args].join(' '));
    const files: Record<string, string> = {
      '/sys/kernel/mm/transparent_hugepage/enabled': 'always [madvise] never\n',
      '/sys/kernel/mm/transparent_hugepage/defrag': 'always defer defer+madvise [madvise] never\n',
      '/sys/kernel/mm/transparent_hugepage/khugepaged/max_ptes_none': '511\n',
    };
    const content = cmd.bin === 'cat' ? files[cmd.args[0] ?? ''] : undefined;
    return content === undefined
      ? { exitCode: 1, stdout: '', stderr: 'not here', timedOut: false }
      : { exitCode: 0, stdout: content, stderr: '', timedOut: false };
  }
}

describe('doctor: transparent hugepages', () => {
  it("checks the host kernel's THP against the topology's MongoDB version and says what to run", async () => {
    const runner = new Host();
    const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
    const file = join(import.meta.dirname, '../../../topology.yaml');
    const result = await doctorCommand({ file, fix: false, client: new IncusClient(runner), runner, ui });
    const checks = (result.json as { checks: Check[] }).checks;

    expect(checks.find((check) => check.name === 'transparent hugepages')).toEqual({
      name: 'transparent hugepages',
      status: 'warn',
      detail:
        'MongoDB 7.0 runs slower with these settings: enabled is madvise, wanted never; defrag is madvise, wanted ' +
        'never',
      fix:
        'echo never | sudo tee /sys/kernel/mm/transparent_hugepage/enabled && echo never | sudo tee /sys/kernel/mm/transparent_hugepage/defrag ' +
        '(until reboot; repeat it from a boot-time unit to keep it)',
    });
    expect(result.human).toContain('transparent hugepages: MongoDB 7.0 runs slower');
  });
});
