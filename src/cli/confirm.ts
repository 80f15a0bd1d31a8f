import { createInterface } from 'node:readline/promises';
import { DistctlError } from '../errors/index.js';

/**
 * Asks before destructive steps. `--yes` answers for the user; without a TTY
 * (CI) and without `--yes` it refuses rather than guess.
 */
export function makeConfirm(
  yes: boolean,
  isTty: boolean = Boolean(process.stdin.isTTY && process.stderr.isTTY),
): (question: string) => Promise<boolean> {
  return async (question) => {
    if (yes) return true;
    if (!isTty) {
      throw new DistctlError(
        'CONFIRMATION_REQUIRED',
        `this would change things irreversibly and there is no terminal to ask: ${question}`,
        {
          hint: 'Pass --yes to confirm non-interactively (e.g. in CI).',
        },
      );
    }
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await prompt.question(`${question} [y/N] `);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      prompt.close();
    }
  };
}
