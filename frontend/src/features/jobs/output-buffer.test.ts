import { describe, expect, it } from "vitest";

import { OutputBuffer } from "@/features/jobs/output-buffer";

const texts = (buffer: OutputBuffer) => buffer.lines.map((line) => `${line.stream}:${line.text}`);

describe("OutputBuffer", () => {
  it("joins lines split across chunks and keeps a partial last line open", () => {
    const buffer = new OutputBuffer();
    buffer.append(1, "stdout", "one\ntw");
    buffer.append(2, "stdout", "o\nthr");
    expect(texts(buffer)).toEqual(["stdout:one", "stdout:two", "stdout:thr"]);
    expect(buffer.lines[2]?.open).toBe(true);
    buffer.append(3, "stdout", "ee\n");
    expect(texts(buffer)).toEqual(["stdout:one", "stdout:two", "stdout:three"]);
    expect(buffer.lines[2]?.open).toBe(false);
  });

  it("drops a chunk it already holds (a replay overlapping live data)", () => {
    const buffer = new OutputBuffer();
    expect(buffer.append(1, "stdout", "a\n")).toBe(true);
    expect(buffer.append(1, "stdout", "a\n")).toBe(false);
    expect(buffer.append(2, "stdout", "b\n")).toBe(true);
    expect(texts(buffer)).toEqual(["stdout:a", "stdout:b"]);
    expect(buffer.lastSeq).toBe(2);
  });

  it("keeps stdout and stderr lines apart when they interleave", () => {
    const buffer = new OutputBuffer();
    buffer.append(1, "stdout", "out-");
    buffer.append(2, "stderr", "err line\n");
    buffer.append(3, "stdout", "continued\n");
    expect(texts(buffer)).toEqual(["stdout:out-continued", "stderr:err line"]);
  });

  it("turns CRLF into lines and carries a colour to the next line", () => {
    const buffer = new OutputBuffer();
    buffer.append(1, "stdout", "\x1b[31mred\r\nstill\n");
    expect(texts(buffer)).toEqual(["stdout:\x1b[31mred", "stdout:still"]);
    expect(buffer.lines[1]?.start).toEqual({ fg: "var(--ansi-red)" });
  });

  it("marks output the server dropped", () => {
    const buffer = new OutputBuffer();
    buffer.append(1, "stdout", "head\n");
    buffer.gap(2, 9, "output dropped past the execution's output cap");
    buffer.append(10, "stdout", "tail\n");
    expect(buffer.lines.map((line) => line.stream)).toEqual(["stdout", "gap", "stdout"]);
    expect(buffer.lines[1]?.text).toContain("2–9");
    expect(buffer.lastSeq).toBe(10);
  });

  it("takes 100,000 lines quickly enough to stream", () => {
    const buffer = new OutputBuffer();
    const chunk =
      Array.from({ length: 1000 }, (_, i) => `line ${i} ${"x".repeat(40)}`).join("\n") + "\n";
    for (let seq = 1; seq <= 100; seq++) buffer.append(seq, "stdout", chunk);
    expect(buffer.lines).toHaveLength(100_000);
  });
});
