import { Code, ConnectError } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** How many Watch streams may be open at once, across all service names, unless configured. */
export const healthWatchersMaxDefault = 1000;

/** The longest service name the registry stores or looks up, in UTF-16 code units. */
export const healthServiceNameLengthMax = 512;

export interface HealthRegistryOptions {
  /** How many Watch streams may be open at once; past it, Watch fails with RESOURCE_EXHAUSTED. */
  watchersMax?: number;
}

/** One open Watch stream: the newest status not yet seen by it, and how to wake it. */
interface Watcher {
  latest: ServingStatus;
  changed: boolean;
  wake: (() => void) | undefined;
}

/**
 * The serving status of each service this server offers, by fully-qualified service name, with
 * "" standing for the server as a whole: what grpc.health.v1.Health reports.
 *
 * Watchers never queue: a watcher that falls behind sees only the newest status, so a slow
 * client costs one slot, not a growing buffer. The number of watchers is bounded.
 */
export class HealthRegistry {
  readonly watchersMax: number;
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Map<string, Set<Watcher>>();
  #watcherCount = 0;
  #shutDown = false;
  #closed = false;

  constructor(options: HealthRegistryOptions = {}) {
    const watchersMax = options.watchersMax ?? healthWatchersMaxDefault;
    if (!Number.isSafeInteger(watchersMax) || watchersMax < 0) {
      throw new RangeError(`watchersMax must be a non-negative integer, got ${watchersMax}`);
    }
    this.watchersMax = watchersMax;
  }

  /** How many Watch streams are open. */
  get watcherCount(): number {
    return this.#watcherCount;
  }

  /**
   * Sets the status of `service` ("" = the whole server) and tells its watchers. Ignored after
   * shutdown(), so that a component still starting cannot report SERVING on a stopping server.
   */
  setStatus(service: string, status: ServingStatus): void {
    assertServiceName(service);
    if (status === ServingStatus.SERVICE_UNKNOWN) {
      throw new RangeError("SERVICE_UNKNOWN is reserved for watchers of unknown services");
    }
    if (this.#shutDown) return;
    this.#set(service, status);
  }

  /** Forgets `service`: Check answers NOT_FOUND for it, its watchers see SERVICE_UNKNOWN. */
  clearStatus(service: string): void {
    if (!this.#statuses.delete(service)) return;
    this.#notify(service, ServingStatus.SERVICE_UNKNOWN);
  }

  /** The status of `service`, or undefined if it is not registered. */
  getStatus(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Every registered service and its status, in registration order. */
  statuses(): ReadonlyMap<string, ServingStatus> {
    return new Map(this.#statuses);
  }

  /**
   * Marks every service NOT_SERVING and ignores later setStatus calls: call it first when the
   * server starts to stop, so that load balancers drain it while in-flight calls finish.
   */
  shutdown(): void {
    for (const service of this.#statuses.keys()) this.#set(service, ServingStatus.NOT_SERVING);
    this.#shutDown = true;
  }

  /**
   * Ends every open Watch stream (they complete after the status they were sending) and refuses
   * new ones with UNAVAILABLE: call it when the server closes, so watchers do not hold it open.
   */
  close(): void {
    this.#closed = true;
    for (const watchers of this.#watchers.values()) {
      for (const watcher of watchers) watcher.wake?.();
    }
  }

  /**
   * Yields the status of `service` (SERVICE_UNKNOWN while it is not registered), then every change
   * of it, until `signal` aborts or close() is called. Waits for changes without polling.
   * Throws RESOURCE_EXHAUSTED when watchersMax streams are already open.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus, void> {
    if (this.#closed) throw new ConnectError("the server is shutting down", Code.Unavailable);
    if (this.#watcherCount >= this.watchersMax) {
      throw new ConnectError(
        `too many health watchers (at most ${this.watchersMax})`,
        Code.ResourceExhausted,
      );
    }
    const watcher: Watcher = {
      latest: this.#statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN,
      changed: true,
      wake: undefined,
    };
    let watchers = this.#watchers.get(service);
    if (watchers === undefined) {
      watchers = new Set();
      this.#watchers.set(service, watchers);
    }
    watchers.add(watcher);
    this.#watcherCount += 1;
    const onAbort = () => watcher.wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      let sent: ServingStatus | undefined;
      for (;;) {
        if (signal.aborted || this.#closed) return;
        if (watcher.changed) {
          watcher.changed = false;
          if (watcher.latest !== sent) {
            sent = watcher.latest;
            yield sent;
          }
          continue;
        }
        // No await between the check of `changed` above and installing `wake`: a change made
        // while we wait always finds `wake` set.
        await new Promise<void>((resolve) => {
          watcher.wake = resolve;
        });
        watcher.wake = undefined;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      watchers.delete(watcher);
      if (watchers.size === 0 && this.#watchers.get(service) === watchers) {
        this.#watchers.delete(service);
      }
      this.#watcherCount -= 1;
    }
  }

  #set(service: string, status: ServingStatus): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    this.#notify(service, status);
  }

  #notify(service: string, status: ServingStatus): void {
    const watchers = this.#watchers.get(service);
    if (watchers === undefined) return;
    for (const watcher of watchers) {
      watcher.latest = status;
      watcher.changed = true;
      watcher.wake?.();
    }
  }
}

/** Throws INVALID_ARGUMENT unless `service` is short enough to be a service name. */
export function assertServiceName(service: string): void {
  if (service.length > healthServiceNameLengthMax) {
    throw new ConnectError(
      `service name longer than ${healthServiceNameLengthMax} characters`,
      Code.InvalidArgument,
    );
  }
}
