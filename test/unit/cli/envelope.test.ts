import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/main.js';
import { envelope, errorCode } from '../../../src/commands/result.js';
import { emptyIncus, envelopeOf, runCli } from './run-cli.js';

const ENTRY_KEYS = ['code', 'message', 'file', 'line', 'column', 'path', 'hint'];
const badRange = 'test/fixtures/topologies/bad/range-gap.yaml';

function expectEnvelope(document: Record<string, unknown>, ok: boolean): void {
  expect(document.formatVersion).toBe(1);
  expect(document.ok).toBe(ok);
  expect(Array.isArray(document.errors)).toBe(true);
  expect(Array.isArray(document.warnings)).toBe(true);
  for (const entry of [...(document.errors as object[]), ...(document.warnings as object[])]) {
    expect(Object.keys(entry).sort()).toEqual([...ENTRY_KEYS].sort());
    expect((entry as { code: string }).code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  }
}

/** Every leaf command with the arguments it needs to get as far as reading the topology. */
function leafCommands(): string[][] {
  const program = buildProgram(async () => undefined);
  const leaves: string[][] = [];
  const visit = (command: typeof program, words: string[]): void => {
    if (command.commands.length === 0) leaves.push(words);
    for (const sub of command.commands) visit(sub, [...words, sub.name()]);
  };
  for (const command of program.commands) visit(command, [command.name()]);
  return leaves;
}

describe('the JSON envelope', () => {
  it('validate and plan report an invalid topology identically', async () => {
    const validate = await runCli(['validate', '-f', badRange, '--json']);
    const plan = await runCli(['plan', '-f', badRange, '--json'], { runner: emptyIncus() });
    expect([validate.code, plan.code]).toEqual([1, 1]);
    const [fromValidate, fromPlan] = [envelopeOf(validate), envelopeOf(plan)];
    expectEnvelope(fromValidate, false);
    expectEnvelope(fromPlan, false);
    expect(fromPlan.errors).toEqual(fromValidate.errors);
    expect(fromPlan.warnings).toEqual(fromValidate.warnings);
    expect(fromValidate.errors).toContainEqual(
      expect.objectContaining({ code: 'RANGE_GAP', file: badRange, path: ['sharding', 'ranges'] }),
    );
  });

  it('a successful plan is an envelope with the plan fields', async () => {
    const run = await runCli(['plan', '--json'], { runner: emptyIncus() });
    expect(run.code).toBe(0);
    const document = envelopeOf(run);
    expectEnvelope(document, true);
    expect(document).toMatchObject({ project: 'distctl', errors: [] });
    expect(document.changes).toBeGreaterThan(0);
    expect(Object.keys(document)[0]).toBe('formatVersion');
  });

  it('usage errors are envelopes too, with exit 2 and nothing on stderr', async () => {
    for (const args of [
      ['--json'],
      ['frobnicate', '--json'],
      ['plan', '--bogus', '--json'],
      ['--json', 'shell'],
      ['completion', 'tcsh', '--json'],
    ]) {
      const run = await runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toBe('');
      const document = envelopeOf(run);
      expectEnvelope(document, false);
      expect(document.errors).toHaveLength(1);
    }
    const bare = envelopeOf(await runCli(['--json']));
    expect(bare.errors).toEqual([expect.objectContaining({ code: 'MISSING_COMMAND', message: 'no command given' })]);
    const unknown = envelopeOf(await runCli(['frobnicate', '--json']));
    expect(unknown.errors[0]).toMatchObject({ code: 'UNKNOWN_COMMAND', message: "unknown command 'frobnicate'" });
  });

  // Not here: commands that read no topology (schema, completion, import, image build), doctor (it checks the host
  // first), and exec/shell (no --json: they hand the terminal to the container).
  const reading = leafCommands().filter(
    (words) => !['exec', 'shell', 'completion', 'schema', 'import', 'image', 'doctor'].includes(words[0] ?? ''),
  );
  it('covers the topology-reading commands', () => {
    expect(reading.map((words) => words[0])).toEqual(
      expect.arrayContaining([
        'validate',
        'plan',
        'up',
        'down',
        'status',
        'deploy',
        'logs',
        'expose',
        'drain',
        'undrain',
      ]),
    );
  });

  it.each(reading)(
    '%s on a missing topology file: exit 1 and an envelope naming TOPOLOGY_NOT_FOUND',
    async (...words) => {
      const args =
        words[0] === 'logs'
          ? ['logs', 'web-server', '--file', 'missing.yaml', '--json']
          : words[0] === 'drain' || words[0] === 'undrain'
            ? [...words, 'm1', '-f', 'missing.yaml', '--json']
            : [...words, '-f', 'missing.yaml', '--json'];
      const run = await runCli(args);
      expect(run.code).toBe(1);
      const document = envelopeOf(run);
      expectEnvelope(document, false);
      expect(document.errors).toEqual([expect.objectContaining({ code: 'TOPOLOGY_NOT_FOUND' })]);
    },
  );

  it('schema and completion answer in the envelope with --json', async () => {
    const schema = envelopeOf(await runCli(['schema', '--json']));
    expectEnvelope(schema, true);
    expect((schema.schema as { type: string }).type).toBe('object');
    const completion = envelopeOf(await runCli(['completion', 'fish', '--json']));
    expectEnvelope(completion, true);
    expect(completion).toMatchObject({ shell: 'fish' });
  });

  it('ok follows the command, then the exit code; errors always make it false', () => {
    expect(envelope({ exitCode: 1, human: '', json: { differences: ['x'] } }).ok).toBe(false);
    expect(envelope({ exitCode: 2, human: '', json: { ok: true } }).ok).toBe(true);
    expect(
      envelope({
        exitCode: 0,
        human: '',
        json: {},
        errors: [{ code: 'X', message: 'm', file: null, line: null, column: null, path: null, hint: null }],
      }).ok,
    ).toBe(false);
  });

  it('error codes come out in one style', () => {
    expect(['range-gap', 'TOPOLOGY_NOT_FOUND', 'unknownCommand', 'project-not-owned'].map(errorCode)).toEqual([
      'RANGE_GAP',
      'TOPOLOGY_NOT_FOUND',
      'UNKNOWN_COMMAND',
      'PROJECT_NOT_OWNED',
    ]);
  });
});
