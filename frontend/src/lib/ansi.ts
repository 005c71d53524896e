// ANSI colour (SGR) sequences in command output, rendered as styled segments. Styles carry
// across lines (a colour set on one line lasts until reset), so each line stores the style it
// starts with; other escape sequences (cursor moves, titles) are dropped from the text.

export type Style = {
  fg?: string;
  bg?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
};

export type Segment = { text: string; style: Style | null };

// The 16 standard colours as CSS variables, so the theme picks shades readable on its background.
const BASIC = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];
const basic = (index: number, bright: boolean) =>
  `var(--ansi-${bright ? "bright-" : ""}${BASIC[index]})`;

function cube(n: number): string {
  if (n < 8) return basic(n, false);
  if (n < 16) return basic(n - 8, true);
  if (n >= 232) {
    const level = 8 + (n - 232) * 10;
    return `rgb(${level},${level},${level})`;
  }
  const c = n - 16;
  const steps = [0, 95, 135, 175, 215, 255];
  return `rgb(${steps[Math.floor(c / 36)]},${steps[Math.floor(c / 6) % 6]},${steps[c % 6]})`;
}

function isEmpty(style: Style): boolean {
  return (
    !style.fg &&
    !style.bg &&
    !style.bold &&
    !style.dim &&
    !style.italic &&
    !style.underline &&
    !style.inverse
  );
}

function apply(style: Style, codes: number[]): Style {
  const next: Style = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] ?? 0;
    if (code === 0) {
      for (const key of Object.keys(next)) delete next[key as keyof Style];
    } else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 7) next.inverse = true;
    else if (code === 22) {
      delete next.bold;
      delete next.dim;
    } else if (code === 23) delete next.italic;
    else if (code === 24) delete next.underline;
    else if (code === 27) delete next.inverse;
    else if (code >= 30 && code <= 37) next.fg = basic(code - 30, false);
    else if (code === 39) delete next.fg;
    else if (code >= 40 && code <= 47) next.bg = basic(code - 40, false);
    else if (code === 49) delete next.bg;
    else if (code >= 90 && code <= 97) next.fg = basic(code - 90, true);
    else if (code >= 100 && code <= 107) next.bg = basic(code - 100, true);
    else if (code === 38 || code === 48) {
      const target = code === 38 ? "fg" : "bg";
      if (codes[i + 1] === 5 && codes[i + 2] !== undefined) {
        next[target] = cube(codes[i + 2] ?? 0);
        i += 2;
      } else if (codes[i + 1] === 2 && codes[i + 4] !== undefined) {
        next[target] = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
        i += 4;
      }
    }
  }
  return next;
}

// CSI sequences (ESC [ params final), OSC (ESC ] ... BEL or ST), and two-byte escapes.
// eslint-disable-next-line no-control-regex
const ESCAPE = /\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** The line's text as segments, starting from `start`; also the style at its end. */
export function parseLine(
  text: string,
  start: Style | null,
): { segments: Segment[]; end: Style | null } {
  // A carriage return redraws the line (progress bars): show what was drawn last.
  const cr = text.lastIndexOf("\r");
  const visible = cr >= 0 ? text.slice(cr + 1) : text;
  let style: Style = start ?? {};
  if (visible.indexOf("\x1b") < 0 && text.indexOf("\x1b") < 0) {
    return { segments: visible ? [{ text: visible, style: start }] : [], end: start };
  }
  // Styles set before the carriage return still apply after it.
  if (cr >= 0) style = endStyle(text.slice(0, cr), start) ?? {};
  const segments: Segment[] = [];
  let last = 0;
  ESCAPE.lastIndex = 0;
  for (let match = ESCAPE.exec(visible); match; match = ESCAPE.exec(visible)) {
    if (match.index > last)
      segments.push({
        text: visible.slice(last, match.index),
        style: isEmpty(style) ? null : style,
      });
    if (match[2] === "m") {
      const codes = (match[1] ?? "").split(/[;:]/).map((part) => (part === "" ? 0 : Number(part)));
      style = apply(style, codes);
    }
    last = ESCAPE.lastIndex;
  }
  if (last < visible.length)
    segments.push({ text: visible.slice(last), style: isEmpty(style) ? null : style });
  return { segments, end: isEmpty(style) ? null : style };
}

/** The style in force after `text`, without building segments (fast when there is no escape). */
export function endStyle(text: string, start: Style | null): Style | null {
  if (text.indexOf("\x1b") < 0) return start;
  let style: Style = start ?? {};
  ESCAPE.lastIndex = 0;
  for (let match = ESCAPE.exec(text); match; match = ESCAPE.exec(text)) {
    if (match[2] === "m")
      style = apply(
        style,
        (match[1] ?? "").split(/[;:]/).map((part) => (part === "" ? 0 : Number(part))),
      );
  }
  return isEmpty(style) ? null : style;
}

/** The text a person reads: escape sequences removed, the last redraw of the line kept. */
export function plainText(text: string): string {
  const cr = text.lastIndexOf("\r");
  const visible = cr >= 0 ? text.slice(cr + 1) : text;
  return visible.indexOf("\x1b") < 0 ? visible : visible.replace(ESCAPE, "");
}
