import { loadTopologyFile } from '../topology/load.js';
import { problemEntry, type CommandResult } from './result.js';

/**
 * `distctl validate`: every error and warning of a topology, located in the
 * file. The problems are diagnostics (stderr, or the envelope's `errors` and
 * `warnings`); the verdict line is the result (stdout).
 */
export async function validateCommand(options: { file: string }): Promise<CommandResult> {
  const report = await loadTopologyFile(options.file);
  const ok = report.errors.length === 0;
  const warnings = `${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'}`;
  return {
    exitCode: ok ? 0 : 1,
    human: ok
      ? `OK: ${options.file} is valid${report.warnings.length > 0 ? ` (${warnings})` : ''}`
      : `${options.file}: ${report.errors.length} error${report.errors.length === 1 ? '' : 's'}, ${warnings}`,
    json: { ok, file: options.file },
    errors: report.errors.map(problemEntry),
    warnings: report.warnings.map(problemEntry),
  };
}
