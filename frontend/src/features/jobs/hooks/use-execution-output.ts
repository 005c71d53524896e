// One execution's output, live: replayed from the server's store after the last seq held,
// then streamed, into an OutputBuffer. Redraws are batched to one per animation frame however
// fast chunks arrive.
import { useEffect, useRef, useState } from "react";

import { OutputBuffer, type Stream } from "@/features/jobs/output-buffer";
import { useLiveClient } from "@/features/jobs/hooks/use-live";
import type { GapEvent, LiveEvent, OutputEvent } from "@/lib/live";

export function useExecutionOutput(executionId: string | null) {
  const live = useLiveClient();
  const buffer = useRef<OutputBuffer>(new OutputBuffer());
  const [version, setVersion] = useState(0);
  const [caughtUp, setCaughtUp] = useState(false);

  useEffect(() => {
    buffer.current = new OutputBuffer();
    setVersion(0);
    setCaughtUp(false);
    if (!executionId) return;
    const own = buffer.current;
    let frame = 0;
    const redraw = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion(own.version);
      });
    };
    const stop = live.watchOutput(
      executionId,
      () => own.lastSeq,
      (event: LiveEvent) => {
        if (event.type === "output") {
          const chunk = event as OutputEvent;
          if (own.append(chunk.seq, chunk.stream as Stream, chunk.data)) redraw();
        } else if (event.type === "output.gap") {
          const gap = event as GapEvent;
          own.gap(gap.from_seq, gap.to_seq, gap.message);
          redraw();
        } else if (event.type === "caught_up") {
          setCaughtUp(true);
          redraw();
        }
      },
    );
    return () => {
      stop();
      cancelAnimationFrame(frame);
    };
  }, [executionId, live]);

  return { buffer: buffer.current, version, caughtUp };
}
