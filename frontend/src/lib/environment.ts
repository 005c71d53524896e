// Environment variables as a form takes them: NAME=value, one per line.

export function parseEnvironment(text: string): {
  values: Record<string, string>;
  error?: string;
} {
  const values: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at <= 0) return { values, error: `"${line}" is not NAME=value` };
    values[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return { values };
}
