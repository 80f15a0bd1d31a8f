import { describe, expect, it } from 'vitest';
import { colorLevel, createUi, readUiSettings } from '../../../src/cli/ui.js';
import { CapturedStream, emptyIncus, runCli } from './run-cli.js';

const ESC = '\x1b[';
const bad = 'test/fixtures/topologies/bad/duplicate-ip.yaml';

describe('colour is decided per stream', () => {
  it('stdout redirected to a file while stderr is a terminal: results plain, diagnostics coloured', async () => {
    const run = await runCli(['validate', '-f', bad], { stderrTty: true });
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain(ESC);
    expect(run.stderr).toContain(`${ESC}31merror:`);
  });

  it('`plan > file` on a terminal writes no escape codes into the file; on a terminal the diff is coloured', async () => {
    const redirected = await runCli(['plan'], { stderrTty: true, runner: emptyIncus() });
    expect(redirected.code).toBe(0);
    expect(redirected.stdout).toContain('+ container db1');
    expect(redirected.stdout).not.toContain(ESC);
    const terminal = await runCli(['plan'], { stdoutTty: true, runner: emptyIncus() });
    expect(terminal.stdout).toContain(`${ESC}32m+ container db1`);
  });

  it('stderr redirected while stdout is a terminal: diagnostics plain', async () => {
    const run = await runCli(['validate', '-f', bad], { stdoutTty: true });
    expect(run.stderr).not.toContain(ESC);
    expect(run.stderr).toMatch(/^error: /m);
  });

  it('--no-color wins over a terminal and over FORCE_COLOR, before or after the command', async () => {
    for (const args of [
      ['--no-color', 'validate', '-f', bad],
      ['validate', '-f', bad, '--no-color'],
    ]) {
      const run = await runCli(args, { stdoutTty: true, stderrTty: true, env: { FORCE_COLOR: '3' } });
      expect(run.stdout + run.stderr, args.join(' ')).not.toContain(ESC);
      expect(run.code).toBe(1);
    }
  });

  it('FORCE_COLOR colours output into a pipe; NO_COLOR turns a terminal plain', async () => {
    const forced = await runCli(['validate', '-f', bad], { env: { FORCE_COLOR: '1' } });
    expect(forced.stderr).toContain(`${ESC}31merror:`);
    const plain = await runCli(['validate', '-f', bad], { stderrTty: true, env: { NO_COLOR: '1' } });
    expect(plain.stderr).not.toContain(ESC);
  });

  it('levels: FORCE_COLOR=0 off, FORCE_COLOR=2 256 colours, a truecolor terminal 3, TERM=dumb off', () => {
    expect(colorLevel(new CapturedStream(true), { FORCE_COLOR: '0' }, false)).toBe(0);
    expect(colorLevel(new CapturedStream(false), { FORCE_COLOR: '2' }, false)).toBe(2);
    expect(colorLevel(new CapturedStream(true, 24), {}, false)).toBe(3);
    expect(colorLevel(new CapturedStream(true), { TERM: 'dumb' }, false)).toBe(0);
  });
});

describe('streams', () => {
  it('--json progress events go to stderr, so stdout holds only the result document', () => {
    const stdout = new CapturedStream();
    const stderr = new CapturedStream();
    const ui = createUi(readUiSettings(true, {}, { stdout, stderr }));
    ui.step({ event: 'start', message: 'reading Incus state' });
    expect(stdout.text).toBe('');
    expect(JSON.parse(stderr.text)).toMatchObject({ event: 'start', message: 'reading Incus state' });
  });

  it('--watch clears the screen only when stdout is a terminal', () => {
    const settings = (stdoutTty: boolean) =>
      readUiSettings(false, {}, { stdout: new CapturedStream(stdoutTty), stderr: new CapturedStream(true) });
    expect(createUi(settings(false)).clearScreen).toBe('');
    expect(createUi(settings(true)).clearScreen).toBe('\x1b[2J\x1b[H');
  });
});
