/** ContainerOps that runs everything on this host (the container name is ignored): for the loopback relay test and the real-mongod tier. */
import { chmod, chown, mkdir, writeFile, copyFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ExecaRunner, type CommandResult } from '../../../src/exec/runner.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';

export class LocalOps implements ContainerOps {
  private readonly runner = new ExecaRunner();

  exec(_container: string, argv: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    const [bin = '', ...args] = argv;
    return this.runner.run({ bin, args, input: options.input, timeoutMs: options.timeoutMs });
  }

  async writeFile(_container: string, path: string, content: string | Uint8Array, options: { mode?: number; uid?: number; gid?: number } = {}): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content, { mode: options.mode ?? 0o644 });
    await chmod(path, options.mode ?? 0o644);
    if (options.uid !== undefined && options.gid !== undefined && options.uid !== process.getuid?.()) await chown(path, options.uid, options.gid);
  }

  async pushFile(_container: string, hostPath: string, path: string, options: { mode?: number } = {}): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await copyFile(hostPath, path);
    await chmod(path, options.mode ?? 0o644);
  }
}
