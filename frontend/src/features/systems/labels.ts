/** `{"os": "linux", "env": "prod"}` as `os=linux, env=prod`, and back. */
export function formatLabels(labels: Record<string, unknown>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(", ");
}

export function parseLabels(text: string): { labels: Record<string, string>; error?: string } {
  const labels: Record<string, string> = {};
  for (const part of text.split(",")) {
    const item = part.trim();
    if (!item) continue;
    const at = item.indexOf("=");
    if (at <= 0) return { labels, error: `"${item}" is not key=value` };
    labels[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return { labels };
}
