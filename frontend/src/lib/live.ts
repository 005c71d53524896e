// One WebSocket to the API for live job state and output (protocol: backend/app/api/ws.py).
// It authenticates with a single-use ticket, reconnects by itself with backoff, and on every
// reconnect subscribes again, resuming each output stream after the last seq it holds, so a
// dropped connection loses nothing and shows nothing twice.

export type ExecutionEvent = {
  type: "execution";
  job_id: string;
  execution_id: string;
  system_id: string | null;
  system_name: string;
  position: number;
  status: string;
  version: number;
  attempt: number;
  exit_code: number | null;
  signal: string | null;
  error_code: string | null;
  error_reason: string | null;
  error_message: string | null;
  queued_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  output_seq: number;
  output_bytes: number;
  output_dropped_bytes: number;
  cancel_requested: boolean;
};
export type JobEvent = {
  type: "job";
  job_id: string;
  seq: number;
  status: string;
  counts?: Record<string, number>;
  cancel_requested: boolean;
  finished_at: string | null;
};
export type OutputEvent = {
  type: "output";
  job_id: string;
  execution_id: string;
  seq: number;
  stream: "stdout" | "stderr";
  data: string;
};
export type GapEvent = {
  type: "output.gap";
  job_id: string;
  execution_id: string;
  from_seq: number;
  to_seq: number;
  message: string;
};
export type CaughtUpEvent = { type: "caught_up"; job_id: string; execution_id?: string };
export type LiveEvent =
  | ExecutionEvent
  | JobEvent
  | OutputEvent
  | GapEvent
  | CaughtUpEvent
  | { type: string; [key: string]: unknown };

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

type JobWatch = { kind: "job"; jobId: string; listener: (event: LiveEvent) => void };
type OutputWatch = {
  kind: "output";
  executionId: string;
  lastSeq: () => number;
  listener: (event: LiveEvent) => void;
};
type Watch = JobWatch | OutputWatch;

const MAX_BACKOFF_MS = 15000;

export class LiveClient {
  private socket: WebSocket | null = null;
  private watches = new Set<Watch>();
  private stateListeners = new Set<(state: ConnectionState) => void>();
  private state: ConnectionState = "closed";
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly getTicket: () => Promise<string | null>,
    private readonly url: (ticket: string) => string = defaultUrl,
  ) {}

  /** Job and execution state events of one job. */
  watchJob(jobId: string, listener: (event: LiveEvent) => void): () => void {
    return this.add({ kind: "job", jobId, listener });
  }

  /** One execution's output (and state), resumed after `lastSeq()` on every (re)connect. */
  watchOutput(
    executionId: string,
    lastSeq: () => number,
    listener: (event: LiveEvent) => void,
  ): () => void {
    return this.add({ kind: "output", executionId, lastSeq, listener });
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000);
    this.socket = null;
    this.setState("closed");
  }

  /** One server subscription per job or execution, however many watch it here (a later
   * watcher of the same target gets what happens from then on, not a second replay). */
  private add(watch: Watch): () => void {
    const shared = [...this.watches].some((other) => sameTarget(other, watch));
    this.watches.add(watch);
    this.stopped = false;
    if (this.socket?.readyState === WebSocket.OPEN && !shared) this.send(subscription(watch));
    else if (!this.socket && this.state !== "connecting") void this.connect();
    return () => {
      this.watches.delete(watch);
      const stillWanted = [...this.watches].some((other) => sameTarget(other, watch));
      if (!stillWanted && this.socket?.readyState === WebSocket.OPEN) {
        this.send(
          watch.kind === "job"
            ? { op: "unsubscribe", job_id: watch.jobId }
            : { op: "unsubscribe", execution_id: watch.executionId },
        );
      }
    };
  }

  private setState(state: ConnectionState) {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  private send(message: object) {
    this.socket?.send(JSON.stringify(message));
  }

  private async connect() {
    if (this.stopped || this.watches.size === 0) return;
    this.setState(this.attempts ? "reconnecting" : "connecting");
    const ticket = await this.getTicket();
    if (this.stopped) return;
    if (!ticket) {
      this.retry();
      return;
    }
    const socket = new WebSocket(this.url(ticket));
    this.socket = socket;
    socket.onopen = () => {
      this.attempts = 0;
      this.setState("open");
      const seen = new Set<string>();
      for (const watch of this.watches) {
        const key = watch.kind === "job" ? `j:${watch.jobId}` : `o:${watch.executionId}`;
        if (seen.has(key)) continue;
        seen.add(key);
        this.send(subscription(watch));
      }
    };
    socket.onmessage = (message) => {
      let event: LiveEvent;
      try {
        event = JSON.parse(String(message.data)) as LiveEvent;
      } catch {
        return;
      }
      if (event.type === "ping") {
        this.send({ op: "pong" });
        return;
      }
      for (const watch of [...this.watches]) {
        if (concerns(watch, event)) watch.listener(event);
      }
    };
    socket.onclose = (close) => {
      if (this.socket !== socket) return;
      this.socket = null;
      // 4403: this user may not read jobs at all; trying again will not help.
      if (close.code === 4403 || this.stopped) {
        this.setState("closed");
        return;
      }
      this.retry();
    };
  }

  private retry() {
    this.attempts += 1;
    this.setState("reconnecting");
    const delay =
      Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.attempts - 1, 5)) *
      (0.75 + Math.random() * 0.5);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}

function defaultUrl(ticket: string): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/ws?ticket=${encodeURIComponent(ticket)}`;
}

function subscription(watch: Watch): object {
  return watch.kind === "job"
    ? { op: "subscribe", job_id: watch.jobId }
    : { op: "subscribe", execution_id: watch.executionId, after_seq: watch.lastSeq() };
}

function sameTarget(a: Watch, b: Watch): boolean {
  if (a.kind === "job" && b.kind === "job") return a.jobId === b.jobId;
  if (a.kind === "output" && b.kind === "output") return a.executionId === b.executionId;
  return false;
}

function concerns(watch: Watch, event: LiveEvent): boolean {
  const record = event as { job_id?: unknown; execution_id?: unknown };
  if (watch.kind === "job")
    return (
      record.job_id === watch.jobId &&
      (event.type === "job" || event.type === "execution" || event.type === "caught_up")
    );
  return record.execution_id === watch.executionId;
}
