// Cuts gRPC length-prefixed messages (flag byte · uint32 length · bytes) out of HTTP/2 DATA
// chunks, whatever their boundaries. A message larger than the limit is refused as soon as its
// prefix arrives, before its bytes are buffered; a compressed flag is refused too (the routes
// that use this are only given requests that agreed no grpc-encoding). The errors are Connect's
// own, word for word, as the Connect routes answer the same faults.

/** The error for input that ends inside a message, as Connect words it. */
export function incompleteMessageError(): ConnectError {
  return new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
}

import { Code, ConnectError } from "@connectrpc/connect";
import { grpcPrefixBytes } from "../protobuf-wire.js";

export class GrpcMessageCutter {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(private readonly messageBytesMax: number) {}

  /** Bytes received and not yet handed out as messages. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next complete message, or undefined when more bytes are needed. Throws on bad input. */
  next(): Buffer | undefined {
    if (this.bufferedBytes < grpcPrefixBytes) return undefined;
    if (this.chunks[0]!.length < grpcPrefixBytes)
      this.chunks = [Buffer.concat(this.chunks, this.bufferedBytes)];
    const head = this.chunks[0]!;
    if (head[0] !== 0) {
      throw new ConnectError(
        "received compressed envelope, but do not know how to decompress",
        Code.Internal,
      );
    }
    const length = head.readUInt32BE(1);
    if (length > this.messageBytesMax) {
      throw new ConnectError(
        `message size ${length} is larger than configured readMaxBytes ${this.messageBytesMax}`,
        Code.ResourceExhausted,
      );
    }
    const total = grpcPrefixBytes + length;
    if (this.bufferedBytes < total) return undefined;
    this.bufferedBytes -= total;
    if (head.length >= total) {
      if (head.length > total) this.chunks[0] = head.subarray(total);
      else this.chunks.shift();
      return head.subarray(grpcPrefixBytes, total);
    }
    return this.join(total);
  }

  /**
   * Copies a message that spans chunks into a buffer of its own, prefix left out. The chunk it
   * ends in keeps the bytes after it, uncopied: the next message would copy them again.
   */
  private join(total: number): Buffer {
    const message = Buffer.allocUnsafe(total - grpcPrefixBytes);
    let skip = grpcPrefixBytes;
    let written = 0;
    let used = 0;
    while (written < message.length) {
      const chunk = this.chunks[used]!;
      const take = Math.min(chunk.length - skip, message.length - written);
      chunk.copy(message, written, skip, skip + take);
      written += take;
      if (skip + take < chunk.length) this.chunks[used] = chunk.subarray(skip + take);
      else used++;
      skip = 0;
    }
    // One splice, not a shift per chunk: a message can arrive in millions of tiny chunks.
    this.chunks.splice(0, used);
    return message;
  }
}
