// Keyboard shortcuts: single keys ("n", "/", "?") and two-key sequences ("g j"), ignored while
// typing in a field.
import { useEffect, useRef } from "react";

export type Shortcut = { keys: string; description: string; run: () => void };

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

export function useShortcuts(shortcuts: Shortcut[]) {
  const latest = useRef(shortcuts);
  latest.current = shortcuts;

  useEffect(() => {
    let pending: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    function onKey(event: KeyboardEvent) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      const key = event.key;
      const sequence = pending ? `${pending} ${key}` : key;
      const match = latest.current.find((shortcut) => shortcut.keys === sequence);
      if (match) {
        event.preventDefault();
        pending = null;
        match.run();
        return;
      }
      if (latest.current.some((shortcut) => shortcut.keys.startsWith(`${key} `))) {
        pending = key;
        clearTimeout(timer);
        timer = setTimeout(() => (pending = null), 1200);
        return;
      }
      pending = null;
    }
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
      clearTimeout(timer);
    };
  }, []);
}

/** Focuses the page's search field (any element marked data-shortcut="search"). */
export function focusSearch() {
  const field = document.querySelector<HTMLElement>('[data-shortcut="search"]');
  field?.focus();
}
