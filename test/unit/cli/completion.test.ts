import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/main.js';
import { completionScript } from '../../../src/commands/completion.js';
import { runCli } from './run-cli.js';

const program = buildProgram(async () => undefined);

/** What bash completes for `words` (the last one being completed), using the generated script. */
function bashComplete(script: string, words: string[]): string[] {
  const file = join(mkdtempSync(join(tmpdir(), 'distctl-completion-')), 'distctl.bash');
  writeFileSync(file, script);
  const array = words.map((word) => `'${word}'`).join(' ');
  const run = spawnSync(
    'bash',
    [
      '--norc',
      '-c',
      `source ${file}; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _distctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  return run.stdout.split('\n').filter(Boolean).sort();
}

describe('distctl completion', () => {
  it('prints a script for bash, zsh and fish, and refuses another shell', async () => {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const run = await runCli(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(completionScript(shell as 'bash', program));
    }
    const tcsh = await runCli(['completion', 'tcsh']);
    expect(tcsh.code).toBe(2);
    expect(tcsh.stderr).toContain("error: command-argument value 'tcsh' is invalid for argument 'shell'");
  });

  const bash = completionScript('bash', program);

  it("bash: commands, then each command's own options, from the definitions", () => {
    expect(bashComplete(bash, ['distctl', 'pl'])).toEqual(['plan']);
    expect(bashComplete(bash, ['distctl', ''])).toEqual(
      expect.arrayContaining(program.commands.map((command) => command.name())),
    );
    expect(bashComplete(bash, ['distctl', 'plan', '--p'])).toEqual(['--prune']);
    expect(bashComplete(bash, ['distctl', 'up', '--c'])).toEqual(['--concurrency']);
    expect(bashComplete(bash, ['distctl', 'image', ''])).toEqual(expect.arrayContaining(['build']));
    expect(bashComplete(bash, ['distctl', 'image', 'build', '--al'])).toEqual(['--alias']);
  });

  it('bash: past global options with values, and option choices', () => {
    expect(bashComplete(bash, ['distctl', '-f', 'x.yaml', 'status', '--wa'])).toEqual(['--watch']);
    expect(bashComplete(bash, ['distctl', 'export', '--compression', ''])).toEqual(['gzip', 'none']);
    expect(bashComplete(bash, ['distctl', 'completion', ''])).toEqual(expect.arrayContaining(['--json']));
  });

  it('the script is valid bash', () => {
    const run = spawnSync('bash', ['-n'], { input: bash, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('zsh and fish name every command and every option of it', () => {
    const zsh = completionScript('zsh', program);
    const fish = completionScript('fish', program);
    expect(zsh.split('\n')[0]).toBe('#compdef distctl');
    for (const command of program.commands) {
      expect(zsh).toContain(`'${command.name()}:`);
      expect(fish).toContain(`-n '__fish_use_subcommand' -a '${command.name()}'`);
      for (const option of command.options) if (option.long) expect(fish).toContain(`-l ${option.long.slice(2)}`);
    }
    expect(zsh).toContain(
      "'(-f --file)'{-f,--file}'[topology file (default: $DISTCTL_FILE, else ./topology.yaml)]:file:_files'",
    );
    expect(fish).toContain(
      "complete -c distctl -n '__fish_seen_subcommand_from export' -l compression -x -a 'gzip none'",
    );
  });

  // The shells themselves judge their scripts where they are installed (Debian: apt-get install zsh fish).
  const installed = (shell: string) => spawnSync(shell, ['-c', 'exit 0']).status === 0;
  for (const shell of ['zsh', 'fish']) {
    if (!installed(shell))
      console.log(`test skipped: ${shell} is not installed; its completion script was checked by content only`);
  }

  it.skipIf(!installed('fish'))('fish: the generated script completes commands, options and choices', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'distctl-completion-')), 'distctl.fish');
    writeFileSync(file, completionScript('fish', program));
    const complete = (line: string) => {
      const run = spawnSync('fish', ['--no-config', '-c', `source ${file}; complete -C '${line}'`], {
        encoding: 'utf8',
      });
      expect(run.stderr).toBe('');
      return run.stdout
        .split('\n')
        .filter(Boolean)
        .map((entry) => entry.split('\t')[0])
        .sort();
    };
    expect(complete('distctl pl')).toEqual(['plan']);
    expect(complete('distctl plan --p')).toEqual(['--prune']);
    expect(complete('distctl image build --al')).toEqual(['--alias']);
    expect(complete('distctl export --compression ')).toEqual(['gzip', 'none']);
  });

  it.skipIf(!installed('zsh'))(
    "zsh: the generated script parses, registers itself and defines the nested commands' functions",
    () => {
      const file = join(mkdtempSync(join(tmpdir(), 'distctl-completion-')), '_distctl');
      writeFileSync(file, completionScript('zsh', program));
      // compdef stands in for compinit's, which takes seconds to scan fpath: the script must register itself.
      const script = `compdef() { print -r -- "compdef $*"; }; source ${file}; whence -w _distctl_image_build`;
      const run = spawnSync('zsh', ['-f', '-c', script], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe('compdef _distctl distctl\n_distctl_image_build: function\n');
    },
  );
});
