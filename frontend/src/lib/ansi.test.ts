import { describe, expect, it } from "vitest";

import { endStyle, parseLine, plainText } from "@/lib/ansi";

describe("parseLine", () => {
  it("leaves plain text alone", () => {
    expect(parseLine("hello world", null)).toEqual({
      segments: [{ text: "hello world", style: null }],
      end: null,
    });
  });

  it("styles text after SGR codes and resets", () => {
    const { segments, end } = parseLine("a\x1b[1;31mred\x1b[0m b", null);
    expect(segments.map((s) => s.text)).toEqual(["a", "red", " b"]);
    expect(segments[1]?.style).toEqual({ bold: true, fg: "var(--ansi-red)" });
    expect(segments[2]?.style).toBeNull();
    expect(end).toBeNull();
  });

  it("carries a colour into the next line until it is reset", () => {
    const first = parseLine("\x1b[32mgreen starts", null);
    expect(first.end).toEqual({ fg: "var(--ansi-green)" });
    const second = parseLine("still green\x1b[39m plain", first.end);
    expect(second.segments[0]).toEqual({ text: "still green", style: { fg: "var(--ansi-green)" } });
    expect(second.segments[1]).toEqual({ text: " plain", style: null });
  });

  it("reads 256-colour and true-colour codes, and bright ones", () => {
    expect(parseLine("\x1b[38;5;196mx", null).segments[0]?.style).toEqual({ fg: "rgb(255,0,0)" });
    expect(parseLine("\x1b[48;2;1;2;3mx", null).segments[0]?.style).toEqual({ bg: "rgb(1,2,3)" });
    expect(parseLine("\x1b[94mx", null).segments[0]?.style).toEqual({
      fg: "var(--ansi-bright-blue)",
    });
    expect(parseLine("\x1b[38;5;244mx", null).segments[0]?.style).toEqual({
      fg: "rgb(128,128,128)",
    });
  });

  it("drops escape sequences that are not colours", () => {
    expect(parseLine("\x1b[2K\x1b]0;title\x07done\x1b[?25h", null).segments).toEqual([
      { text: "done", style: null },
    ]);
  });

  it("shows the last redraw of a line with carriage returns, keeping earlier colours", () => {
    expect(plainText("10%\r50%\r100%")).toBe("100%");
    const { segments } = parseLine("\x1b[33m10%\r100%", null);
    expect(segments).toEqual([{ text: "100%", style: { fg: "var(--ansi-yellow)" } }]);
  });

  it("computes the end style without building segments", () => {
    expect(endStyle("no escapes", { bold: true })).toEqual({ bold: true });
    expect(endStyle("\x1b[1m\x1b[22m", null)).toBeNull();
  });
});
