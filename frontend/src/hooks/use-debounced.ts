import { useEffect, useState } from "react";

/** `value`, once it has stayed the same for `delay` ms (what a live preview asks about). */
export function useDebounced<T>(value: T, delay: number): T {
  const [current, setCurrent] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setCurrent(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return current;
}
