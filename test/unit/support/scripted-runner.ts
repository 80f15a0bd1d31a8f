// A Runner that records every command and answers from a script: how unit tests
// stand in for incus, debootstrap and friends without running them.
import type { CommandResult, CommandSpec, Runner } from '../../../src/exec/runner.js';

export type Reply = Partial<CommandResult> | undefined | Promise<Partial<CommandResult> | undefined>;

/** Records every command and answers from a script; unknown commands fail the test loudly. */
export class ScriptedRunner implements Runner {
  readonly calls: CommandSpec[] = [];
  /** Commands it was not told about, kept even when the code under test catches the failure; tests assert it is empty. */
  readonly unexpected: string[] = [];
  constructor(private readonly script: (cmd: CommandSpec) => Reply) {}
  async run(cmd: CommandSpec): Promise<CommandResult> {
    this.calls.push(cmd);
    const reply = await this.script(cmd);
    if (reply === undefined) {
      this.unexpected.push([cmd.bin, ...cmd.args].join(' '));
      throw new Error(`unexpected command: ${cmd.bin} ${cmd.args.join(' ')}`);
    }
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...reply };
  }
  /** Commands as `bin args...`, with `work` (a temporary directory) replaced by `<work>`. */
  lines(work?: string): string[] {
    return this.calls
      .map((c) => [c.bin, ...c.args].join(' '))
      .map((l) => (work === undefined ? l : l.split(work).join('<work>')));
  }
}
