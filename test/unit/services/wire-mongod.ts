/**
 * A standalone mongod on the wire, on a loopback port of its own (port 0), for the services' Mongo stores:
 * it answers the driver's handshake (OP_QUERY, then OP_MSG) and the few commands the stores send when they
 * ping and create their indexes, and refuses any other command with CommandNotFound, as mongod does.
 * `silent` makes it a mongod that accepts connections and never answers; `stop()` closes its port, after
 * which connections to it are refused. `connector` tells, as the TCP stack would, whether a target accepts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { BSON, type Document } from 'mongodb';
import type { Connector } from '../../../src/services/shared/tcp-probe.js';
import { listenOnLoopback } from '../../support/ports.js';

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
/** OP_MSG flag bits: a CRC-32C trails the message; the sender wants no reply. */
const CHECKSUM_PRESENT = 1;
const MORE_TO_COME = 2;

/** The commands this fake answers, by name, with the reply mongod gives a standalone. */
const REPLIES: Readonly<Record<string, (connectionId: number) => Document>> = {
  hello: hello,
  ismaster: hello,
  isMaster: hello,
  ping: () => ({ ok: 1 }),
  endSessions: () => ({ ok: 1 }),
  update: () => ({ n: 0, nModified: 0, ok: 1 }),
  createIndexes: () => ({ numIndexesBefore: 1, numIndexesAfter: 1, note: 'all indexes already exist', ok: 1 }),
};

function hello(connectionId: number): Document {
  // No topologyVersion: the driver's monitor polls instead of streaming, which this fake does not do.
  return {
    helloOk: true,
    ismaster: true,
    isWritablePrimary: true,
    maxBsonObjectSize: 16 * 1024 * 1024,
    maxMessageSizeBytes: 48_000_000,
    maxWriteBatchSize: 100_000,
    localTime: new Date(),
    logicalSessionTimeoutMinutes: 30,
    connectionId,
    minWireVersion: 0,
    maxWireVersion: 21,
    readOnly: false,
    ok: 1,
  };
}

/** A running fake; see the module comment. */
export interface WireMongod {
  readonly port: number;
  readonly url: (database: string) => string;
  /** Every command received, by name, in order. */
  readonly commands: string[];
  readonly connector: Connector;
  stop(): Promise<void>;
}

/** Starts the fake on 127.0.0.1, port 0. */
export async function startWireMongod(options: { silent?: boolean } = {}): Promise<WireMongod> {
  const sockets = new Set<Socket>();
  const commands: string[] = [];
  let connections = 0;
  let listening = true;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    connections += 1;
    const connectionId = connections;
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (options.silent) return;
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const length = pending.readInt32LE(0);
        const reply = answer(pending.subarray(0, length), connectionId, commands);
        if (reply !== null) socket.write(reply);
        pending = pending.subarray(length);
      }
    });
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    url: (database) => `mongodb://127.0.0.1:${port}/${database}`,
    commands,
    connector: async (target) => {
      const accepts = listening && 'host' in target && target.host === '127.0.0.1' && target.port === port;
      if (!accepts) {
        const where = 'host' in target ? `${target.host}:${target.port}` : target.path;
        throw Object.assign(new Error(`connect ECONNREFUSED ${where}`), { code: 'ECONNREFUSED' });
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        listening = false;
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** The reply to one message (null when the sender asked for none). */
function answer(message: Buffer, connectionId: number, commands: string[]): Buffer | null {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  if (opCode === OP_QUERY) {
    // flags, then the collection name (a C string), skip and limit, then the command.
    const nameEnd = message.indexOf(0, 20);
    const command = BSON.deserialize(message.subarray(nameEnd + 9));
    return opReply(requestId, run(command, connectionId, commands));
  }
  if (opCode !== OP_MSG) throw new Error(`wire-mongod: opCode ${opCode} is not one the driver sends`);
  const flags = message.readUInt32LE(16);
  const end = message.length - (flags & CHECKSUM_PRESENT ? 4 : 0);
  let command: Document | null = null;
  for (let at = 20; at < end;) {
    const kind = message.readUInt8(at);
    if (kind === 0) {
      const size = message.readInt32LE(at + 1);
      command = BSON.deserialize(message.subarray(at + 1, at + 1 + size));
      at += 1 + size;
    } else {
      // A document sequence (e.g. the `updates` of an update): its length covers the identifier and documents.
      at += 1 + message.readInt32LE(at + 1);
    }
  }
  if (command === null) throw new Error('wire-mongod: OP_MSG without a command section');
  const reply = run(command, connectionId, commands);
  return flags & MORE_TO_COME ? null : opMsg(requestId, reply);
}

function run(command: Document, connectionId: number, commands: string[]): Document {
  const name = Object.keys(command)[0] ?? '';
  commands.push(name);
  const reply = REPLIES[name];
  if (reply !== undefined) return reply(connectionId);
  return { ok: 0, errmsg: `no such command: '${name}'`, code: 59, codeName: 'CommandNotFound' };
}

function header(length: number, responseTo: number, opCode: number): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeInt32LE(length, 0);
  bytes.writeInt32LE(0, 4);
  bytes.writeInt32LE(responseTo, 8);
  bytes.writeInt32LE(opCode, 12);
  return bytes;
}

function opReply(responseTo: number, document: Document): Buffer {
  const body = Buffer.from(BSON.serialize(document));
  // responseFlags, cursorID (8 bytes), startingFrom, numberReturned = 1.
  const fields = Buffer.alloc(20);
  fields.writeInt32LE(1, 16);
  return Buffer.concat([header(16 + 20 + body.length, responseTo, OP_REPLY), fields, body]);
}

function opMsg(responseTo: number, document: Document): Buffer {
  const body = Buffer.from(BSON.serialize(document));
  const fields = Buffer.alloc(5); // flagBits 0, section kind 0
  return Buffer.concat([header(16 + 5 + body.length, responseTo, OP_MSG), fields, body]);
}
