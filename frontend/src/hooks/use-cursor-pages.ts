// Walks the API's cursor pages: a stack of the cursors that led to each page, so "previous"
// works too. `filters` names the filters in force: when they change, the walk starts again at
// the first page, in the same render (no request with the old cursor and the new filters).
import { useCallback, useState } from "react";

export type CursorPages = ReturnType<typeof useCursorPages>;

export function useCursorPages(filters: string) {
  const [walk, setWalk] = useState<{ filters: string; stack: string[] }>({ filters, stack: [] });
  const stack = walk.filters === filters ? walk.stack : [];
  const next = useCallback(
    (cursor: string | null | undefined) => {
      if (!cursor) return;
      setWalk((current) => ({
        filters,
        stack: [...(current.filters === filters ? current.stack : []), cursor],
      }));
    },
    [filters],
  );
  const previous = useCallback(
    () =>
      setWalk((current) => ({
        filters,
        stack: current.filters === filters ? current.stack.slice(0, -1) : [],
      })),
    [filters],
  );
  return { cursor: stack[stack.length - 1], page: stack.length + 1, next, previous };
}
