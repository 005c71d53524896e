// A job kept current: its status, and every execution. The REST list comes first (all pages),
// then live state events are merged in by version. While the job runs, the executions still
// waiting are re-read every 10 s for their why-pending reasons, which only REST carries.
import type { SerializedError } from "@reduxjs/toolkit";
import type { FetchBaseQueryError } from "@reduxjs/toolkit/query";
import { useEffect, useMemo, useState } from "react";

import {
  useLazyListExecutionsQuery,
  type ExecutionOut,
  type ExecutionStatus,
  type JobOut,
} from "@/client/orca-api";
import { useLiveClient } from "@/features/jobs/hooks/use-live";
import type { ExecutionEvent, JobEvent } from "@/lib/live";

const PAGE = 500;
const WAITING_REFRESH_MS = 10000;
const WAITING: ExecutionStatus[] = ["pending", "queued"];

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
    waiting: WAITING.includes(event.status as ExecutionStatus) ? current.waiting : null,
  };
}

/** Rows read by REST, kept unless the map already holds a newer version of them. */
function withRows(current: Map<string, ExecutionOut>, rows: ExecutionOut[], fresh: boolean) {
  const next = fresh ? new Map<string, ExecutionOut>() : new Map(current);
  for (const row of rows) {
    const known = current.get(row.id);
    next.set(row.id, known && known.version > row.version ? known : row);
  }
  return next;
}

export function useJobExecutions(job: JobOut) {
  const [byId, setById] = useState<Map<string, ExecutionOut>>(new Map());
  const [status, setStatus] = useState(job.status);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<FetchBaseQueryError | SerializedError>();
  const [fetchPage] = useLazyListExecutionsQuery();
  const live = useLiveClient();
  const active = status === "pending" || status === "running";

  useEffect(() => setStatus(job.status), [job.status]);

  // Every page, once per job; then, while it runs, only the waiting ones.
  useEffect(() => {
    let cancelled = false;
    async function read(only?: ExecutionStatus[]): Promise<ExecutionOut[]> {
      const rows: ExecutionOut[] = [];
      let cursor: string | null | undefined;
      do {
        const page = await fetchPage({
          jobId: job.id,
          limit: PAGE,
          cursor: cursor ?? undefined,
          sort: "position",
          status: only,
        }).unwrap();
        rows.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor && !cancelled);
      return rows;
    }
    const failed = (exc: unknown) => !cancelled && setError(exc as FetchBaseQueryError);
    read()
      .then((rows) => {
        if (cancelled) return;
        setById((current) => withRows(current, rows, true));
        setLoaded(true);
      })
      .catch(failed);
    return () => {
      cancelled = true;
    };
  }, [job.id, fetchPage]);

  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      fetchPage({ jobId: job.id, limit: PAGE, status: WAITING, sort: "position" })
        .unwrap()
        .then((page) => setById((current) => withRows(current, page.items, false)))
        .catch(() => undefined);
    }, WAITING_REFRESH_MS);
    return () => clearInterval(timer);
  }, [job.id, active, fetchPage]);

  useEffect(
    () =>
      live.watchJob(job.id, (event) => {
        if (event.type === "job") {
          setStatus((event as JobEvent).status as JobOut["status"]);
          return;
        }
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
    [job.id, live],
  );

  const executions = useMemo(
    () => [...byId.values()].sort((a, b) => a.position - b.position),
    [byId],
  );
  return { status, executions, loaded, error };
}
