// The sending end of RaftService.StepStream: one HTTP/2 connection per peer (h2c, pinged so that
// a connection that died silently, as in a partition, is found and replaced) and on it one
// long-lived gRPC client stream whose messages are the batches, already framed by
// step-wire.ts. Writing a frame costs a write on the stream, not a trip through a generic RPC
// pipeline; the answer (an empty StepStreamResponse and grpc-status) only says how it ended.
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";

export const stepStreamPath = "/tidelog.raft.v1.RaftService/StepStream";

const closeGraceMs = 5_000;

export interface PeerConnectionOptions {
  pingIntervalMs: number;
  /** A ping unanswered for this long closes the connection (its streams fail). */
  pingTimeoutMs: number;
}

/** An h2c connection to one peer, pinged while open. */
export class PeerConnection {
  readonly session: ClientHttp2Session;
  private readonly pinger: NodeJS.Timeout;
  private pingSentAtMs: number | undefined;

  constructor(
    readonly address: string,
    options: PeerConnectionOptions,
  ) {
    this.session = http2.connect(`http://${address}`);
    // Errors reach the streams (each fails and is reported); the session itself just closes.
    this.session.on("error", () => undefined);
    this.pinger = setInterval(() => this.ping(options.pingTimeoutMs), options.pingIntervalMs);
    this.pinger.unref();
    this.session.once("close", () => clearInterval(this.pinger));
  }

  get isOpen(): boolean {
    return !this.session.closed && !this.session.destroyed;
  }

  /** Closes gracefully; a peer that does not let its streams finish within 5 s is cut off. */
  close(): void {
    clearInterval(this.pinger);
    this.session.close();
    setTimeout(() => this.session.destroy(), closeGraceMs).unref();
  }

  private ping(timeoutMs: number): void {
    if (!this.isOpen || this.session.connecting) return;
    const now = Date.now();
    if (this.pingSentAtMs !== undefined) {
      if (now - this.pingSentAtMs > timeoutMs)
        this.session.destroy(new Error(`no ping answer from ${this.address} in ${timeoutMs} ms`));
      return;
    }
    this.pingSentAtMs = now;
    this.session.ping((error) => {
      if (error === null) this.pingSentAtMs = undefined;
    });
  }
}

/**
 * One StepStream to a peer. Frames are written in order as offered; at most `writesMax` may be
 * waiting to go out, beyond that an offer is refused (Raft resends). `onEnd` is called once, with
 * an error unless the stream was closed here and the peer answered OK.
 */
export class StepStream {
  private readonly stream: ClientHttp2Stream;
  private pendingWrites = 0;
  private ended = false;

  constructor(
    connection: PeerConnection,
    private readonly writesMax: number,
    onEnd: (error: Error | undefined) => void,
  ) {
    let grpcStatus: string | undefined;
    let grpcMessage = "";
    let failure: Error | undefined;
    this.stream = connection.session.request({
      ":method": "POST",
      ":path": stepStreamPath,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const readStatus = (headers: http2.IncomingHttpHeaders) => {
      const status = headers["grpc-status"];
      if (typeof status === "string") grpcStatus = status;
      const message = headers["grpc-message"];
      if (typeof message === "string") grpcMessage = safeDecode(message);
    };
    this.stream.on("response", readStatus);
    this.stream.on("trailers", readStatus);
    this.stream.on("data", () => undefined);
    this.stream.on("error", (error: Error) => {
      failure ??= error;
    });
    this.stream.once("close", () => {
      this.ended = true;
      if (failure === undefined && grpcStatus !== "0") {
        failure = new Error(
          `StepStream to ${connection.address} ended with grpc-status ${grpcStatus ?? "(none)"}${grpcMessage === "" ? "" : `: ${grpcMessage}`}`,
        );
      }
      onEnd(failure);
    });
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /**
   * Writes `frame` unless the stream is closed or full. `written` is called once the stream is
   * done with the frame's memory; never when the write failed or the stream was destroyed (the
   * memory may still be referenced; the GC takes it).
   */
  offer(frame: Buffer, written?: (frame: Buffer) => void): boolean {
    if (this.ended || this.pendingWrites >= this.writesMax) return false;
    this.pendingWrites++;
    this.stream.write(frame, (error) => {
      this.pendingWrites--;
      // Node reports the writes a destroyed stream cancelled as done, possibly while a socket
      // write still holds their bytes: only a write completed on a live stream frees its frame.
      if (error == null && !this.stream.destroyed) written?.(frame);
    });
    return true;
  }

  /** Ends the stream; the peer answers once it has handed over every batch. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.end();
  }
}

function safeDecode(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}
