import type { Document } from 'mongodb';
import { DistctlError } from '../errors/index.js';
import { commandErrorFromReply, MongoUnreachableError, type MongoCommandChannel, type MongoTarget } from './admin.js';
import { lastLines, type ContainerOps } from '../incus/container-ops.js';
import { decodeOpMsg, encodeOpMsg } from './wire.js';

/**
 * Relays one wire message to mongod's loopback port from inside the container:
 * bash's /dev/tcp opens the socket, the request arrives base64 on stdin, and
 * the reply (its length prefix read first, so exactly one message is taken) goes
 * back base64 on stdout. Needs only bash and coreutils, which every Debian and
 * Ubuntu image has — unlike mongosh, which a server archive does not ship.
 */
export const LOOPBACK_RELAY_SCRIPT = [
  'set -eu',
  'exec 3<>"/dev/tcp/127.0.0.1/$1"',
  'base64 -d >&3',
  `len=$(head -c 4 <&3 | od -An -tu4 --endian=little | tr -d ' \\n')`,
  `case "$len" in ''|*[!0-9]*) echo "mongod on 127.0.0.1:$1 closed the connection without replying" >&2; exit 3;; esac`,
  'head -c "$((len - 4))" <&3 | base64 -w0',
].join('\n');

/** The argv that runs the relay for `port`; the command itself (which may hold a password) travels on stdin only. */
export function loopbackRelayArgv(port: number, timeoutSeconds: number): string[] {
  return ['timeout', String(timeoutSeconds), 'bash', '-c', LOOPBACK_RELAY_SCRIPT, 'distctl-loopback', String(port)];
}

/**
 * Runs commands on a mongod from inside its own container, over 127.0.0.1.
 * This is what makes MongoDB's localhost exception usable from the host: with
 * access control on from the first start, `replSetInitiate` and the first
 * `createUser` are only accepted from a loopback connection while no user
 * exists. Used for exactly those two steps; everything else goes through the
 * driver from the host, authenticated.
 */
export class LoopbackChannel implements MongoCommandChannel {
  private nextRequestId = 1;

  constructor(
    private readonly ops: ContainerOps,
    private readonly options: { readonly timeoutSeconds?: number } = {},
  ) {}

  async command(target: MongoTarget, db: string, cmd: Document): Promise<Document> {
    const requestId = this.nextRequestId++;
    const request = encodeOpMsg({ ...cmd, $db: db }, requestId).toString('base64');
    const timeoutSeconds = this.options.timeoutSeconds ?? 30;
    const result = await this.ops.exec(target.container, loopbackRelayArgv(target.port, timeoutSeconds), {
      input: request,
      timeoutMs: (timeoutSeconds + 5) * 1000,
    });
    const where = `127.0.0.1:${target.port} in container ${target.container}`;
    if (result.exitCode !== 0) {
      const said = lastLines(result, 3).join(' ');
      if (result.timedOut || result.exitCode === 124 || result.exitCode === 3 || /connection refused|no route|connect:/i.test(said)) {
        throw new MongoUnreachableError(target.host, `mongod on ${where} did not answer: ${said || `exit ${result.exitCode}`}`);
      }
      throw new DistctlError('MONGO_LOOPBACK_FAILED', `Could not run a command on mongod at ${where} (exit ${result.exitCode}).`, {
        hint: 'distctl talks to mongod over loopback with bash and coreutils (base64, head, od, timeout); check that the image has them.',
        details: lastLines(result),
      });
    }
    const body = Buffer.from(result.stdout.trim(), 'base64');
    const length = Buffer.alloc(4);
    length.writeInt32LE(body.length + 4, 0);
    const reply = decodeOpMsg(Buffer.concat([length, body]));
    if (reply.responseTo !== requestId) throw new MongoUnreachableError(target.host, `mongod on ${where} answered a different request (${reply.responseTo}, expected ${requestId})`);
    if (reply.body.ok !== 1) throw commandErrorFromReply(reply.body);
    return reply.body;
  }
}
