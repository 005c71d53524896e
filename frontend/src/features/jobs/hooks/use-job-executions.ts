// Every execution of a job, kept current: the REST list first (all pages), then live state
// events merged in by version, and a slow REST refresh while the job runs (for why-pending
// reasons, which only the REST view carries).
import { useEffect, useMemo, useState } from "react";

import { useLazyListExecutionsQuery, type ExecutionOut } from "@/client/orca-api";
import { useLiveClient } from "@/features/jobs/hooks/use-live";
import type { ExecutionEvent, LiveEvent } from "@/lib/live";

const PAGE = 500;
const REFRESH_MS = 10000;

function merge(current: ExecutionOut, event: ExecutionEvent): ExecutionOut {
  if (event.version < current.version) return current;
  const terminal = Boolean(event.finished_at);
  return {
    ...current,
    status: event.status as ExecutionOut["status"],
    version: event.version,
    attempt: event.attempt,
    exit_code: event.exit_code,
    signal: event.signal,
    queued_at: event.queued_at,
    started_at: event.started_at,
    finished_at: event.finished_at,
    cancel_requested_at: event.cancel_requested
      ? (current.cancel_requested_at ?? new Date().toISOString())
      : null,
    error: event.error_code
      ? { code: event.error_code, reason: event.error_reason, message: event.error_message }
      : null,
    output: {
      ...current.output,
      seq: event.output_seq,
      bytes: event.output_bytes,
      dropped_bytes: event.output_dropped_bytes,
      truncated: event.output_dropped_bytes > 0,
    },
    duration_ms:
      terminal && event.started_at && event.finished_at
        ? new Date(event.finished_at).getTime() - new Date(event.started_at).getTime()
        : current.duration_ms,
    waiting: event.status === "pending" || event.status === "queued" ? current.waiting : null,
  };
}

export function useJobExecutions(jobId: string, active: boolean) {
  const [byId, setById] = useState<Map<string, ExecutionOut>>(new Map());
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [fetchPage] = useLazyListExecutionsQuery();
  const live = useLiveClient();

  useEffect(() => {
    let cancelled = false;
    async function load() {
      const rows: ExecutionOut[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await fetchPage({
          jobId,
          limit: PAGE,
          cursor: cursor ?? undefined,
          sort: "position",
        }).unwrap();
        rows.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && !cancelled);
      if (cancelled) return;
      setById((current) => {
        const next = new Map<string, ExecutionOut>();
        for (const row of rows) {
          const known = current.get(row.id);
          next.set(row.id, known && known.version > row.version ? known : row);
        }
        return next;
      });
      setLoaded(true);
    }
    const run = () => load().catch((exc: unknown) => !cancelled && setError(exc));
    void run();
    const timer = active ? setInterval(() => void run(), REFRESH_MS) : undefined;
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [jobId, active, fetchPage]);

  useEffect(
    () =>
      live.watchJob(jobId, (event: LiveEvent) => {
        if (event.type !== "execution") return;
        const update = event as ExecutionEvent;
        setById((current) => {
          const known = current.get(update.execution_id);
          if (!known) return current;
          const merged = merge(known, update);
          if (merged === known) return current;
          const next = new Map(current);
          next.set(update.execution_id, merged);
          return next;
        });
      }),
    [jobId, live],
  );

  const executions = useMemo(
    () => [...byId.values()].sort((a, b) => a.position - b.position),
    [byId],
  );
  return { executions, loaded, error };
}
