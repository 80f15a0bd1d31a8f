import { formatProblem, loadTopologyFile } from '../topology/load.js';
import type { TopologyProblem } from '../topology/problems.js';
import type { CommandResult } from './result.js';

/** `distctl validate`: every error and warning of a topology, located in the file. */
export async function validateCommand(options: { file: string }): Promise<CommandResult> {
  const report = await loadTopologyFile(options.file);
  const ok = report.errors.length === 0;
  const lines = [
    ...report.errors.map((found) => `error: ${formatProblem(found)}`),
    ...report.warnings.map((found) => `warning: ${formatProblem(found)}`),
    ok
      ? `OK: ${options.file} is valid${report.warnings.length > 0 ? ` (${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'})` : ''}`
      : `${options.file}: ${report.errors.length} error${report.errors.length === 1 ? '' : 's'}, ${report.warnings.length} warning${report.warnings.length === 1 ? '' : 's'}`,
  ];
  return {
    exitCode: ok ? 0 : 1,
    human: lines.join('\n'),
    json: { ok, file: options.file, errors: report.errors.map(problemJson), warnings: report.warnings.map(problemJson) },
  };
}

function problemJson(found: TopologyProblem): Record<string, unknown> {
  return {
    code: found.code,
    path: found.path,
    message: found.message,
    hint: found.hint ?? null,
    line: found.location?.line ?? null,
    column: found.location?.column ?? null,
  };
}
