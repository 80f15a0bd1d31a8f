/**
 * A minimal mongod impostor on 127.0.0.1 speaking the wire protocol: OP_QUERY
 * for the driver's initial handshake, OP_MSG for everything else. Replies come
 * from a handler, so tests can exercise the real driver and the real loopback
 * relay script against scripted answers.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { BSON, type Document } from 'mongodb';
import { decodeOpMsg, encodeOpMsg } from '../../../src/mongo/wire.js';

const OP_QUERY = 2004;
const OP_REPLY = 1;

export const HELLO_REPLY: Document = {
  helloOk: true,
  isWritablePrimary: true,
  ismaster: true,
  maxBsonObjectSize: 16 * 1024 * 1024,
  maxMessageSizeBytes: 48_000_000,
  maxWriteBatchSize: 100_000,
  localTime: new Date(),
  logicalSessionTimeoutMinutes: 30,
  connectionId: 1,
  minWireVersion: 0,
  maxWireVersion: 21,
  readOnly: false,
  ok: 1,
};

export interface WireServer {
  readonly port: number;
  readonly received: Document[];
  close(): Promise<void>;
}

export async function startWireServer(handler: (cmd: Document) => Document): Promise<WireServer> {
  const received: Document[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        socket.write(answer(message));
      }
    });
    socket.on('error', () => undefined);
  });
  const answer = (message: Buffer): Buffer => {
    const requestId = message.readInt32LE(4);
    if (message.readInt32LE(12) === OP_QUERY) {
      // flags(4) + cstring collection + skip(4) + return(4) + query document
      const nameEnd = message.indexOf(0, 20);
      const start = nameEnd + 1 + 8;
      const query = BSON.deserialize(message.subarray(start, start + message.readInt32LE(start)));
      received.push(query);
      const doc = Buffer.from(BSON.serialize(handler(query)));
      const header = Buffer.alloc(36);
      header.writeInt32LE(36 + doc.length, 0);
      header.writeInt32LE(requestId + 1000, 4);
      header.writeInt32LE(requestId, 8);
      header.writeInt32LE(OP_REPLY, 12);
      header.writeInt32LE(0, 16);
      header.writeBigInt64LE(0n, 20);
      header.writeInt32LE(0, 28);
      header.writeInt32LE(1, 32);
      return Buffer.concat([header, doc]);
    }
    const { body } = decodeOpMsg(Buffer.from(message));
    received.push(body);
    return encodeOpMsg(handler(body), requestId + 1000, requestId);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers handshakes (hello/isMaster) like a primary, everything else with `respond`. */
export function withHandshake(respond: (cmd: Document) => Document): (cmd: Document) => Document {
  return (cmd) => (cmd.hello !== undefined || cmd.isMaster !== undefined || cmd.ismaster !== undefined ? { ...HELLO_REPLY, localTime: new Date() } : respond(cmd));
}
