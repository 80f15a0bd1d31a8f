/** A scripted ContainerOps: records every call, keeps written files, and answers exec from a responder. */
import { createHash } from 'node:crypto';
import type { CommandResult } from '../../../src/exec/runner.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';

export type OpsCall =
  | { kind: 'exec'; container: string; argv: readonly string[]; input?: string }
  | { kind: 'write'; container: string; path: string; mode?: number; uid?: number; gid?: number }
  | { kind: 'push'; container: string; hostPath: string; path: string; mode?: number };

export type Responder = (container: string, argv: readonly string[]) => Partial<CommandResult> | undefined;

export class FakeOps implements ContainerOps {
  readonly calls: OpsCall[] = [];
  readonly files = new Map<string, string>();

  constructor(private readonly respond: Responder = () => undefined) {}

  async exec(container: string, argv: readonly string[], options: { input?: string } = {}): Promise<CommandResult> {
    this.calls.push({
      kind: 'exec',
      container,
      argv: [...argv],
      ...(options.input === undefined ? {} : { input: options.input }),
    });
    const scripted = this.respond(container, argv);
    if (scripted !== undefined) return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...scripted };
    if (argv[0] === 'sha256sum') {
      // Like the real one: digests of the files that exist, an error line for the others.
      const lines = argv.slice(1).flatMap((path) => {
        const content = this.files.get(`${container}:${path}`);
        return content === undefined ? [] : [`${createHash('sha256').update(content).digest('hex')}  ${path}`];
      });
      return {
        exitCode: lines.length === argv.length - 1 ? 0 : 1,
        stdout: lines.join('\n'),
        stderr: '',
        timedOut: false,
      };
    }
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  }

  async writeFile(
    container: string,
    path: string,
    content: string | Uint8Array,
    options: { mode?: number; uid?: number; gid?: number } = {},
  ): Promise<void> {
    this.calls.push({ kind: 'write', container, path, ...options });
    this.files.set(
      `${container}:${path}`,
      typeof content === 'string' ? content : Buffer.from(content).toString('utf8'),
    );
  }

  async pushFile(container: string, hostPath: string, path: string, options: { mode?: number } = {}): Promise<void> {
    this.calls.push({ kind: 'push', container, hostPath, path, ...options });
  }

  /** argv of the exec calls, optionally in one container. */
  execs(container?: string): string[][] {
    return this.calls
      .filter(
        (c): c is Extract<OpsCall, { kind: 'exec' }> =>
          c.kind === 'exec' && (container === undefined || c.container === container),
      )
      .map((c) => [...c.argv]);
  }

  writes(container?: string): Extract<OpsCall, { kind: 'write' }>[] {
    return this.calls.filter(
      (c): c is Extract<OpsCall, { kind: 'write' }> =>
        c.kind === 'write' && (container === undefined || c.container === container),
    );
  }
}
