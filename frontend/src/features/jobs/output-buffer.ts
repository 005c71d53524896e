// One execution's output as lines, built from ordered chunks. Kept outside React state: 100,000
// lines are appended in place and a version number tells the view to redraw.
import { endStyle, type Style } from "@/lib/ansi";

export type Stream = "stdout" | "stderr";
export type Line = { stream: Stream | "gap"; text: string; start: Style | null; open: boolean };

export class OutputBuffer {
  readonly lines: Line[] = [];
  lastSeq = 0;
  version = 0;
  bytes = 0;
  private open: Record<Stream, Line | null> = { stdout: null, stderr: null };
  private style: Record<Stream, Style | null> = { stdout: null, stderr: null };

  /** Appends a chunk; false when its seq was already held (a replay overlapping live data). */
  append(seq: number, stream: Stream, data: string): boolean {
    if (seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    this.bytes += data.length;
    const pieces = data.split("\n");
    pieces.forEach((piece, index) => {
      const last = index === pieces.length - 1;
      let line = this.open[stream];
      if (!line) {
        if (last && piece === "") return;
        line = { stream, text: "", start: this.style[stream], open: true };
        this.lines.push(line);
        this.open[stream] = line;
      }
      line.text += piece.endsWith("\r") && !last ? piece.slice(0, -1) : piece;
      if (!last) {
        line.open = false;
        this.style[stream] = endStyle(line.text, line.start);
        this.open[stream] = null;
      }
    });
    this.version += 1;
    return true;
  }

  /** Output the server dropped past the execution's cap: say so where it was. */
  gap(fromSeq: number, toSeq: number, message: string) {
    this.lastSeq = Math.max(this.lastSeq, toSeq);
    this.lines.push({
      stream: "gap",
      text: `… ${message} (chunks ${fromSeq}–${toSeq}) …`,
      start: null,
      open: false,
    });
    this.open = { stdout: null, stderr: null };
    this.version += 1;
  }
}
