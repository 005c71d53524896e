// Walks the API's cursor pages: a stack of the cursors that led to each page, so "previous"
// works too. Reset whenever the filters change.
import { useCallback, useState } from "react";

export type CursorPages = ReturnType<typeof useCursorPages>;

export function useCursorPages() {
  const [stack, setStack] = useState<string[]>([]);
  return {
    cursor: stack.length ? stack[stack.length - 1] : undefined,
    page: stack.length + 1,
    next: useCallback((cursor: string | null | undefined) => {
      if (cursor) setStack((current) => [...current, cursor]);
    }, []),
    previous: useCallback(() => setStack((current) => current.slice(0, -1)), []),
    reset: useCallback(() => setStack([]), []),
  };
}
