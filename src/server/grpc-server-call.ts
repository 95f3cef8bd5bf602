// One gRPC call served straight on its HTTP/2 stream, without Connect's per-call pipeline: the
// mechanics the hot public methods share (fast-grpc-routes.ts). Input messages are cut by their
// prefixes and bounded in size; a consumer that falls behind pauses the stream, so HTTP/2 flow
// control holds the client back. Output messages are framed and written with backpressure. The
// call ends once, with grpc-status 0 or an error mapped exactly as the Connect routes map it
// (connect-error.ts, and Connect's own trailer encoding for error details), in trailers (also
// before any message, as Connect answers). Deadlines (grpc-timeout), shutdown and a client that
// resets the stream end the call and abort its signal.
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ClientGoneError } from "../api/client-gone.js";
import type { ErrorLogger } from "../api/connect-error.js";
import { toConnectError } from "../api/connect-error.js";
import { grpcPrefixBytes } from "../protobuf-wire.js";
import { GrpcMessageCutter, incompleteMessageError } from "./grpc-message-cutter.js";

export interface GrpcServerCallOptions {
  /** A request message larger than this fails the call with resource_exhausted. */
  messageBytesMax: number;
  /** Aborted when the server starts to stop: the call ends with unavailable. */
  shutdown: AbortSignal;
  logError: ErrorLogger;
}

/**
 * Messages, and their bytes, queued for a consumer that has not asked for them yet: past either
 * the stream pauses, so a call holds at most about this much besides one message being cut.
 */
const inputQueueMax = 16;
const inputQueueBytesMax = 1024 * 1024;
/**
 * The longest deadline Node's timers hold (about 24.8 days): a longer one would fire at once.
 * Longer grpc-timeout and connect-timeout-ms values are removed before any handler reads them
 * (overlong-timeouts.ts): no deadline.
 */
export const grpcTimeoutMsMax = 2 ** 31 - 1;

/** One uncompressed gRPC message (prefix and body): the concatenation of `parts`. */
export function frameGrpcMessage(parts: readonly Buffer[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const framed = Buffer.allocUnsafe(grpcPrefixBytes + length);
  framed[0] = 0;
  framed.writeUInt32BE(length, 1);
  let at = grpcPrefixBytes;
  for (const part of parts) at += part.copy(framed, at);
  return framed;
}

export class GrpcServerCall {
  private readonly cutter: GrpcMessageCutter;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private inputEnded = false;
  private inputError: unknown;
  private waiter:
    | { resolve: (message: Buffer | undefined) => void; reject: (error: unknown) => void }
    | undefined;
  private controller: AbortController | undefined;
  /**
   * Why the call's signal is aborted (the call ended, or the server is stopping); the reason is
   * made only when a signal was asked for.
   */
  private abortReason: (() => unknown) | undefined;
  private finished = false;
  private headersSent = false;
  private readonly deadlineMs: number | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /**
   * The server started to stop: work in progress may finish within the grace period (a produce
   * under way is answered with its outcome, as on the Connect routes, never "unavailable" for a
   * record that commits); streams that wait on the signal (ConsumeStream) end with its reason.
   */
  private readonly onShutdown = () => this.abortSignal(() => this.options.shutdown.reason);

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    private readonly options: GrpcServerCallOptions,
  ) {
    this.cutter = new GrpcMessageCutter(options.messageBytesMax);
    stream.on("error", () => undefined);
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.once("end", () => {
      this.inputEnded = true;
      if (this.cutter.buffered > 0 && this.inputError === undefined)
        this.inputError = incompleteMessageError();
      this.wake();
    });
    // Reset by the client, or the session went away: nobody is left to answer.
    stream.once("close", () => this.onClose());
    // A reset while a write waits for room: Node destroys such a stream only once its input was
    // read to the end, and a paused input never is. Nothing more will be sent or read.
    stream.once("aborted", () => {
      this.onClose();
      if (!stream.destroyed) stream.destroy();
    });
    const timeout = parseTimeout(
      typeof headers["grpc-timeout"] === "string" ? headers["grpc-timeout"] : null,
      grpcTimeoutMsMax,
    );
    if (timeout.error !== undefined) {
      this.deadlineMs = undefined;
      this.finish(timeout.error);
      return;
    }
    this.deadlineMs =
      timeout.timeoutMs === undefined ? undefined : performance.now() + timeout.timeoutMs;
    if (timeout.timeoutMs !== undefined) {
      this.deadlineTimer = setTimeout(
        () => this.finish(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
        timeout.timeoutMs,
      );
    }
    // A call that arrives once the server is stopping is refused before any work is done.
    if (options.shutdown.aborted) this.finish(options.shutdown.reason);
    else options.shutdown.addEventListener("abort", this.onShutdown, { once: true });
  }

  /** Aborted when the call ends for any reason; created on first use. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason());
    }
    return this.controller.signal;
  }

  /** The request headers, as the leader forwarder asks for them. */
  readonly requestHeader = {
    has: (name: string): boolean => this.headers[name.toLowerCase()] !== undefined,
  };

  /**
   * Whole milliseconds left before the caller's deadline, if it set one (whole, as Connect's
   * context gives them: a forwarded call's grpc-timeout must be an integer).
   */
  timeoutMs(): number | undefined {
    return this.deadlineMs === undefined
      ? undefined
      : Math.floor(this.deadlineMs - performance.now());
  }

  /** The next request message; undefined once the client ended its side. */
  nextMessage(): Promise<Buffer | undefined> {
    const queued = this.take();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.inputError !== undefined) return Promise.reject(this.inputError);
    if (this.inputEnded) return Promise.resolve(undefined);
    if (this.finished) return Promise.reject(new ClientGoneError());
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * The request of a unary or server-streaming method: exactly one message. `kind` names the
   * method's kind in the error, as Connect's does.
   */
  async singleMessage(kind: "unary" | "server-streaming" = "unary"): Promise<Buffer> {
    const message = await this.nextMessage();
    if (message === undefined) {
      throw new ConnectError(
        `protocol error: missing input message for ${kind} method`,
        Code.Unimplemented,
      );
    }
    if ((await this.nextMessage()) !== undefined) {
      throw new ConnectError(
        `protocol error: received extra input message for ${kind} method`,
        Code.Unimplemented,
      );
    }
    return message;
  }

  /** The request messages of a streaming method, in order. */
  async *messages(): AsyncGenerator<Buffer> {
    for (;;) {
      const message = await this.nextMessage();
      if (message === undefined) return;
      yield message;
    }
  }

  /**
   * Sends one message, the concatenation of `parts` (protobuf bytes without the gRPC prefix).
   * Returns undefined when the stream has room for more, else a promise that resolves once it
   * has (no promise per message on the common path: tails send one message per commit), or
   * rejects if the call ended meanwhile.
   */
  send(parts: readonly Buffer[]): Promise<void> | undefined {
    return this.sendFramed(frameGrpcMessage(parts));
  }

  /**
   * Sends one message framed by frameGrpcMessage, as send() does. The buffer is only read, never
   * changed or kept past its write: one framed message may go to many calls.
   */
  sendFramed(framed: Buffer): Promise<void> | undefined {
    if (this.finished) return Promise.reject(new ClientGoneError());
    let room: boolean;
    try {
      this.sendHeaders();
      room = this.stream.write(framed);
    } catch (error) {
      this.stream.destroy();
      return Promise.reject(error);
    }
    if (room) return undefined;
    return new Promise((resolve, reject) => {
      const settle = () => {
        this.stream.off("drain", settle);
        this.stream.off("close", settle);
        if (this.finished) reject(new ClientGoneError());
        else resolve();
      };
      this.stream.on("drain", settle);
      this.stream.on("close", settle);
    });
  }

  /**
   * Ends the call: grpc-status 0 without `error`, else the error as the Connect routes report it.
   * Only the first call counts.
   */
  finish(error?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.abortSignal(() => error ?? new ConnectError("the call ended", Code.Canceled));
    this.cleanUp();
    this.wake();
    const stream = this.stream;
    this.discardInput();
    if (stream.closed || stream.destroyed) return;
    const trailers = error === undefined ? { "grpc-status": "0" } : this.errorTrailers(error);
    // A client still sending must be told to stop (RFC 9113 §8.1), after the answer left: once
    // the trailers are submitted (closing before would drop them), in the next turn.
    const stopClientSending = () => {
      if (this.inputEnded) return;
      setImmediate(() => {
        if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    };
    try {
      // Headers, then the status in trailers, also for an error before any message: the Connect
      // routes answer so, and some clients read grpc-message from trailers only.
      this.sendHeaders();
      stream.once("wantTrailers", () => {
        try {
          stream.sendTrailers(trailers);
        } catch {
          if (!stream.destroyed) stream.destroy();
          return;
        }
        stopClientSending();
      });
      stream.end();
    } catch {
      if (!stream.destroyed) stream.destroy();
    }
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(
      { ":status": 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
  }

  private errorTrailers(error: unknown): Record<string, string> {
    const trailers: Record<string, string> = {};
    setTrailerStatus(new Headers(), toConnectError(error, this.options.logError)).forEach(
      (value, name) => {
        trailers[name] = value;
      },
    );
    return trailers;
  }

  private onData(chunk: Buffer): void {
    if (this.inputError !== undefined || this.finished) return;
    this.cutter.push(chunk);
    try {
      for (;;) {
        const message = this.cutter.next();
        if (message === undefined) break;
        this.queue.push(message);
        this.queuedBytes += message.length;
      }
    } catch (error) {
      this.inputError = error;
    }
    if (this.queueFull()) this.stream.pause();
    this.wake();
  }

  private queueFull(): boolean {
    return this.queue.length >= inputQueueMax || this.queuedBytes >= inputQueueBytesMax;
  }

  /** The oldest queued message; reading resumes once the queue has room again. */
  private take(): Buffer | undefined {
    const message = this.queue.shift();
    if (message === undefined) return undefined;
    this.queuedBytes -= message.length;
    if (!this.finished && !this.queueFull() && this.stream.isPaused()) this.stream.resume();
    return message;
  }

  /** Hands a waiting reader what it was waiting for. */
  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    const queued = this.take();
    if (queued !== undefined) {
      this.waiter = undefined;
      waiter.resolve(queued);
    } else if (this.inputError !== undefined) {
      this.waiter = undefined;
      waiter.reject(this.inputError);
    } else if (this.inputEnded) {
      this.waiter = undefined;
      waiter.resolve(undefined);
    } else if (this.finished) {
      this.waiter = undefined;
      waiter.reject(new ClientGoneError());
    }
  }

  private onClose(): void {
    if (!this.finished) {
      this.finished = true;
      this.abortSignal(() => new ConnectError("the client went away", Code.Canceled));
    }
    this.cleanUp();
    this.wake();
  }

  /** Aborts the call's signal (now, or when it is first asked for); the first reason stays. */
  private abortSignal(reason: () => unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason());
  }

  /**
   * The call has ended: what the client still sends is read and dropped, so that the stream
   * reaches its end; one the client reset (RST_STREAM NO_ERROR) is destroyed there, which Node
   * does not do by itself while input is unread.
   */
  private discardInput(): void {
    this.queue.length = 0;
    this.queuedBytes = 0;
    const stream = this.stream;
    if (this.inputEnded) return;
    stream.once("end", () => {
      if (stream.closed && !stream.destroyed) stream.destroy();
    });
    stream.resume();
  }

  private cleanUp(): void {
    clearTimeout(this.deadlineTimer);
    this.options.shutdown.removeEventListener("abort", this.onShutdown);
  }
}
