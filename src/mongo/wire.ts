import { BSON, type Document } from 'mongodb';

/** OP_MSG, the wire protocol message every MongoDB command travels in since 3.6. */
export const OP_MSG = 2013;
const CHECKSUM_PRESENT = 1;

/** Encodes `doc` as a complete OP_MSG message with a single body section. */
export function encodeOpMsg(doc: Document, requestId: number, responseTo = 0): Buffer {
  const body = Buffer.from(BSON.serialize(doc));
  const header = Buffer.alloc(21);
  header.writeInt32LE(21 + body.length, 0);
  header.writeInt32LE(requestId, 4);
  header.writeInt32LE(responseTo, 8);
  header.writeInt32LE(OP_MSG, 12);
  header.writeUInt32LE(0, 16);
  header.writeUInt8(0, 20);
  return Buffer.concat([header, body]);
}

/** A decoded OP_MSG: who it answers and its body document. */
export interface DecodedOpMsg {
  readonly requestId: number;
  readonly responseTo: number;
  readonly body: Document;
}

/** Decodes one complete OP_MSG message (header included); throws on anything else. */
export function decodeOpMsg(message: Buffer): DecodedOpMsg {
  if (message.length < 21 || message.readInt32LE(0) !== message.length) throw new Error(`malformed wire message (${message.length} bytes)`);
  const opCode = message.readInt32LE(12);
  if (opCode !== OP_MSG) throw new Error(`unexpected wire opcode ${opCode}`);
  const flags = message.readUInt32LE(16);
  const end = flags & CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let offset = 20;
  while (offset < end) {
    const kind = message.readUInt8(offset);
    if (kind === 0) {
      const size = message.readInt32LE(offset + 1);
      return { requestId: message.readInt32LE(4), responseTo: message.readInt32LE(8), body: BSON.deserialize(message.subarray(offset + 1, offset + 1 + size)) };
    }
    // Kind 1 (document sequence): int32 size covers itself and the rest of the section.
    offset += 1 + message.readInt32LE(offset + 1);
  }
  throw new Error('wire message has no body section');
}
