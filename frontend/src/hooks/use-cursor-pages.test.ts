import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { useCursorPages } from "@/hooks/use-cursor-pages";

describe("useCursorPages", () => {
  it("walks forward and back, and starts again when the filters change", () => {
    const { result, rerender } = renderHook(({ filters }) => useCursorPages(filters), {
      initialProps: { filters: "q=web" },
    });
    expect(result.current).toMatchObject({ page: 1, cursor: undefined });
    act(() => result.current.next("c1"));
    act(() => result.current.next("c2"));
    expect(result.current).toMatchObject({ page: 3, cursor: "c2" });
    act(() => result.current.previous());
    expect(result.current).toMatchObject({ page: 2, cursor: "c1" });
    act(() => result.current.next(null));
    expect(result.current.page).toBe(2);
    // New filters: the first page at once, never the old cursor with the new filters.
    rerender({ filters: "q=db" });
    expect(result.current).toMatchObject({ page: 1, cursor: undefined });
  });
});
