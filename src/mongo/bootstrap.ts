import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DistctlError, formatCommand } from '../errors/index.js';
import type { IncusClient, IncusScope } from '../incus/client.js';
import { callArgv, onRemote } from '../incus/client.js';
import {
  describeMongoError,
  MongoUnreachableError,
  type MongoAdmin,
  type MongoCommandChannel,
  type MongoTarget,
} from './admin.js';
import { DriverMongoAdmin, type DriverAdminOptions } from './driver-admin.js';

/**
 * The path to a mongod that its localhost exception accepts: with access
 * control on from the first start, `replSetInitiate` and the first
 * `createUser` are only allowed over a connection from 127.0.0.1 while no user
 * exists. distctl opens such a path only for those steps.
 */
export interface LocalhostAccess {
  /**
   * Runs `steps` with a channel whose commands reach `target` as if from
   * 127.0.0.1 inside its container; `endpoint` says where the channel enters
   * (for messages). The path exists only while `steps` runs, and is gone
   * afterwards whether they succeed or fail.
   */
  open<T>(target: MongoTarget, steps: (channel: MongoCommandChannel, endpoint: string) => Promise<T>): Promise<T>;
}

/** Name of the proxy device that carries the bootstrap of the mongod on `port`. */
export function bootstrapDeviceName(port: number): string {
  return `distctl-bootstrap-${port}`;
}

/** Options of IncusProxyAccess; the defaults suit the CLI, tests narrow them. */
export interface IncusProxyAccessOptions {
  readonly driver?: DriverAdminOptions;
  /** How the admin channel over the proxy is made (tests substitute one). */
  readonly adminFor?: () => MongoAdmin;
  /** Where the private socket directories are made; the system's temporary directory by default. */
  readonly tmpDir?: string;
}

/**
 * LocalhostAccess through an Incus proxy device added to the member's
 * container for the bootstrap steps only: the host side listens on a Unix
 * socket (`bind=host`, `listen=unix:…`), and Incus connects to
 * 127.0.0.1:<member port> inside the container, so mongod sees the connection
 * come from 127.0.0.1. The socket lives in a directory of its own made by
 * mkdtemp (mode 0700, this user's) and is itself 0600 and this user's, so no
 * other local user can use the window in which mongod's localhost exception
 * is open; and unlike a TCP port picked beforehand, the path is this run's
 * alone, so nothing can take it between choosing and listening. The official
 * driver connects to the socket by its URL-encoded path; the device and the
 * directory are removed afterwards, also on failure.
 */
export class IncusProxyAccess implements LocalhostAccess {
  private readonly project: string;
  private readonly remote: string | null;

  /**
   * `scope`: the deployment's project and remote (a bare project name: the default remote). The device listens on
   * the host the container runs on, so on a remote the bootstrap works only where that host's 127.0.0.1 is ours.
   */
  constructor(
    private readonly client: IncusClient,
    scope: IncusScope | string,
    private readonly options: IncusProxyAccessOptions = {},
  ) {
    this.project = typeof scope === 'string' ? scope : scope.project;
    this.remote = typeof scope === 'string' ? null : scope.remote;
  }

  async open<T>(
    target: MongoTarget,
    steps: (channel: MongoCommandChannel, endpoint: string) => Promise<T>,
  ): Promise<T> {
    const device = bootstrapDeviceName(target.port);
    const parent = this.options.tmpDir ?? tmpdir();
    // sun_path holds 108 bytes with its terminating NUL; mkdtemp's suffix is 6 characters.
    const length = Buffer.byteLength(join(parent, 'distctl-XXXXXX', `mongod-${target.port}.sock`));
    if (length > 107)
      throw new DistctlError(
        'MONGO_BOOTSTRAP_PROXY_FAILED',
        `The temporary directory ${parent} is too long a path for the bootstrap socket of mongod ${target.host} ` +
          `(${length} bytes; a Unix socket path holds at most 107).`,
        { hint: 'Run distctl with TMPDIR set to a short directory, e.g. `TMPDIR=/tmp distctl up`.' },
      );
    const directory = await mkdtemp(join(parent, 'distctl-'));
    try {
      return await this.through(target, device, join(directory, `mongod-${target.port}.sock`), steps);
    } finally {
      // Once the socket's path is gone nothing can reach it, even if the device could not be removed.
      await rm(directory, { recursive: true, force: true });
    }
  }

  /** `open` once the socket's private directory exists: device added, steps run, device removed. */
  private async through<T>(
    target: MongoTarget,
    device: string,
    endpoint: string,
    steps: (channel: MongoCommandChannel, endpoint: string) => Promise<T>,
  ): Promise<T> {
    await this.addDevice(target, device, endpoint);
    const admin =
      this.options.adminFor?.() ?? new DriverMongoAdmin({ serverSelectionTimeoutMS: 10_000, ...this.options.driver });
    // The driver takes a host ending in `.sock` as a Unix socket path, percent-encoded in the connection string.
    const via = { container: target.container, host: encodeURIComponent(endpoint), port: target.port };
    const channel: MongoCommandChannel = {
      command: async (to, db, cmd) => {
        if (to.host !== target.host) throw new Error(`bootstrap channel of ${target.host} asked to reach ${to.host}`);
        try {
          return await admin.command(via, db, cmd);
        } catch (error) {
          if (!(error instanceof MongoUnreachableError)) throw error;
          throw new MongoUnreachableError(
            target.host,
            `mongod ${target.host} (container ${target.container}) did not answer through the bootstrap proxy ` +
              `${endpoint} → 127.0.0.1:${target.port}: ${describeMongoError(error)}`,
          );
        }
      },
    };
    let value: T;
    try {
      value = await steps(channel, endpoint);
    } catch (error) {
      await this.removeDevice(target, device, endpoint, admin, error);
      throw error;
    }
    await this.removeDevice(target, device, endpoint, admin, undefined);
    return value;
  }

  /**
   * Closes the channel and removes the device; a device that stays is an error of its own, naming the steps' failure
   * too.
   */
  private async removeDevice(
    target: MongoTarget,
    device: string,
    endpoint: string,
    admin: MongoAdmin,
    stepsFailure: unknown,
  ): Promise<void> {
    await admin.close();
    const remove = {
      args: ['config', 'device', 'remove', onRemote(this.remote, target.container), device],
      project: this.project,
    };
    const removed = await this.client.attempt(remove);
    if (removed.exitCode === 0) return;
    throw new DistctlError(
      'MONGO_BOOTSTRAP_PROXY_LEFT',
      `The bootstrap proxy ${device} of container ${target.container} could not be removed. Its socket ${endpoint} ` +
        "is deleted, so nothing reaches mongod through it, but the device stays in the container's configuration.",
      {
        hint: `Remove it by hand: \`${formatCommand(callArgv(remove))}\`, then rerun \`distctl up\`.`,
        details: [
          removed.stderr.trim(),
          ...(stepsFailure === undefined
            ? []
            : [`the bootstrap steps had failed too: ${describeMongoError(stepsFailure)}`]),
        ],
      },
    );
  }

  /**
   * Adds the device; one left by an interrupted earlier run is replaced.
   */
  private async addDevice(target: MongoTarget, device: string, endpoint: string): Promise<void> {
    const add = [
      'config',
      'device',
      'add',
      onRemote(this.remote, target.container),
      device,
      'proxy',
      'bind=host',
      `listen=unix:${endpoint}`,
      `connect=tcp:127.0.0.1:${target.port}`,
      'mode=0600',
      `uid=${process.getuid?.() ?? 0}`,
      `gid=${process.getgid?.() ?? 0}`,
    ];
    let result = await this.client.attempt({ args: add, project: this.project });
    if (result.exitCode !== 0 && /already exists/i.test(result.stderr)) {
      await this.client.attempt({
        args: ['config', 'device', 'remove', onRemote(this.remote, target.container), device],
        project: this.project,
      });
      result = await this.client.attempt({ args: add, project: this.project });
    }
    if (result.exitCode !== 0) {
      throw new DistctlError(
        'MONGO_BOOTSTRAP_PROXY_FAILED',
        `Could not open the bootstrap path to mongod ${target.host} in container ${target.container} (an Incus proxy ` +
          `device from the socket ${endpoint} on this host).`,
        {
          hint:
            'The container must be running; check `incus config device list` for the container, then rerun ' +
            '`distctl up`.',
          details: [formatCommand(callArgv({ args: add, project: this.project })), result.stderr.trim()],
        },
      );
    }
  }
}
