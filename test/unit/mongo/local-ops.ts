/** ContainerOps that runs everything on this host (the container name is ignored): for the real-mongod tier. */
import { chmod, chown, mkdir, writeFile, copyFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ExecaRunner, type CommandResult } from '../../../src/exec/runner.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import type { MongoAdmin, MongoCommandChannel, MongoTarget } from '../../../src/mongo/admin.js';
import type { LocalhostAccess } from '../../../src/mongo/bootstrap.js';

export class LocalOps implements ContainerOps {
  private readonly runner = new ExecaRunner();

  exec(
    _container: string,
    argv: readonly string[],
    options: { input?: string; timeoutMs?: number } = {},
  ): Promise<CommandResult> {
    const [bin = '', ...args] = argv;
    return this.runner.run({ bin, args, input: options.input, timeoutMs: options.timeoutMs });
  }

  async writeFile(
    _container: string,
    path: string,
    content: string | Uint8Array,
    options: { mode?: number; uid?: number; gid?: number } = {},
  ): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content, { mode: options.mode ?? 0o644 });
    await chmod(path, options.mode ?? 0o644);
    if (options.uid !== undefined && options.gid !== undefined && options.uid !== process.getuid?.())
      await chown(path, options.uid, options.gid);
  }

  async pushFile(_container: string, hostPath: string, path: string, options: { mode?: number } = {}): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await copyFile(hostPath, path);
    await chmod(path, options.mode ?? 0o644);
  }
}

/**
 * LocalhostAccess for mongods running on this host (the real-mongod tier):
 * 127.0.0.1:<port> already is the localhost exception's path, so no proxy is needed.
 */
export class DirectLocalhost implements LocalhostAccess {
  constructor(private readonly admin: MongoAdmin) {}

  open<T>(target: MongoTarget, steps: (channel: MongoCommandChannel, endpoint: string) => Promise<T>): Promise<T> {
    const endpoint = `127.0.0.1:${target.port}`;
    return steps(
      { command: (to, db, cmd) => this.admin.command({ ...to, host: `127.0.0.1:${to.port}` }, db, cmd) },
      endpoint,
    );
  }
}
