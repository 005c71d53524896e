import Download from "@mui/icons-material/Download";
import KeyboardArrowDown from "@mui/icons-material/KeyboardArrowDown";
import KeyboardArrowUp from "@mui/icons-material/KeyboardArrowUp";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import FormControlLabel from "@mui/material/FormControlLabel";
import IconButton from "@mui/material/IconButton";
import Switch from "@mui/material/Switch";
import TextField from "@mui/material/TextField";
import ToggleButton from "@mui/material/ToggleButton";
import ToggleButtonGroup from "@mui/material/ToggleButtonGroup";
import Tooltip from "@mui/material/Tooltip";
import Typography from "@mui/material/Typography";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useDeferredValue, useEffect, useMemo, useRef, useState, type CSSProperties } from "react";

import type { Line, OutputBuffer } from "@/features/jobs/output-buffer";
import { parseLine, plainText, type Style } from "@/lib/ansi";
import { MONO } from "@/lib/theme";

export type StreamChoice = "combined" | "stdout" | "stderr";

const ROW = 20;

function css(style: Style | null): CSSProperties | undefined {
  if (!style) return undefined;
  const fg = style.inverse ? (style.bg ?? "var(--ansi-bg)") : style.fg;
  const bg = style.inverse ? (style.fg ?? "var(--ansi-fg)") : style.bg;
  return {
    color: fg,
    backgroundColor: bg,
    fontWeight: style.bold ? 700 : undefined,
    opacity: style.dim ? 0.7 : undefined,
    fontStyle: style.italic ? "italic" : undefined,
    textDecoration: style.underline ? "underline" : undefined,
  };
}

function highlight(text: string, query: string, key: string) {
  if (!query) return text;
  const lower = text.toLowerCase();
  const parts = [];
  let at = 0;
  for (let found = lower.indexOf(query, at); found >= 0; found = lower.indexOf(query, at)) {
    if (found > at) parts.push(text.slice(at, found));
    parts.push(
      <mark key={`${key}-${found}`} className="output-match">
        {text.slice(found, found + query.length)}
      </mark>,
    );
    at = found + query.length;
  }
  parts.push(text.slice(at));
  return parts;
}

function Row({
  line,
  number,
  query,
  current,
  showStream,
}: {
  line: Line;
  number: number;
  query: string;
  current: boolean;
  showStream: boolean;
}) {
  if (line.stream === "gap") {
    return (
      <div className="output-line output-gap" role="note">
        <span className="output-number" aria-hidden="true" />
        {line.text}
      </div>
    );
  }
  const { segments } = parseLine(line.text, line.start);
  return (
    <div
      className={`output-line${showStream && line.stream === "stderr" ? " output-stderr" : ""}${current ? " output-current" : ""}`}
      data-stream={line.stream}
    >
      <span className="output-number" aria-hidden="true">
        {number}
      </span>
      {segments.map((segment, index) => (
        <span key={index} style={css(segment.style)}>
          {highlight(segment.text, query, String(index))}
        </span>
      ))}
    </div>
  );
}

/** Virtualised output: only the lines on screen are in the page, whether there are ten or a
 * million. Follows the tail while scrolled to the bottom; search jumps between matches. */
export function OutputViewer({
  buffer,
  version,
  stream,
  onStream,
  onDownload,
  running,
  label,
}: {
  buffer: OutputBuffer;
  version: number;
  stream: StreamChoice;
  onStream: (stream: StreamChoice) => void;
  onDownload: () => void;
  running: boolean;
  label: string;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [search, setSearch] = useState("");
  const query = useDeferredValue(search.trim().toLowerCase());
  const [matchIndex, setMatchIndex] = useState(0);

  // The lines shown, as indexes into the buffer (all of them for "combined").
  const shown = useMemo(() => {
    void version;
    if (stream === "combined") return null;
    const indexes: number[] = [];
    buffer.lines.forEach((line, index) => {
      if (line.stream === stream || line.stream === "gap") indexes.push(index);
    });
    return indexes;
  }, [buffer, version, stream]);
  const count = shown ? shown.length : buffer.lines.length;
  const lineAt = (row: number): Line | undefined => buffer.lines[shown ? (shown[row] ?? -1) : row];

  const matches = useMemo(() => {
    void version;
    if (!query) return [];
    const found: number[] = [];
    for (let row = 0; row < count; row++) {
      const line = buffer.lines[shown ? (shown[row] ?? -1) : row];
      if (line && plainText(line.text).toLowerCase().includes(query)) found.push(row);
    }
    return found;
  }, [buffer, version, query, shown, count]);

  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW,
    overscan: 20,
  });

  useEffect(() => {
    if (follow && count > 0) virtualizer.scrollToIndex(count - 1, { align: "end" });
  }, [follow, count, version, virtualizer]);

  useEffect(() => setMatchIndex(0), [query]);
  const currentMatch = matches.length
    ? matches[Math.min(matchIndex, matches.length - 1)]
    : undefined;
  function jump(delta: number) {
    if (!matches.length) return;
    const next = (matchIndex + delta + matches.length) % matches.length;
    setMatchIndex(next);
    setFollow(false);
    virtualizer.scrollToIndex(matches[next] ?? 0, { align: "center" });
  }

  return (
    <Box sx={{ display: "flex", flexDirection: "column", minHeight: 0, height: "100%" }}>
      <Box sx={{ display: "flex", flexWrap: "wrap", gap: 1, alignItems: "center", mb: 1 }}>
        <ToggleButtonGroup
          size="small"
          exclusive
          value={stream}
          onChange={(_, value: StreamChoice | null) => value && onStream(value)}
          aria-label="Stream"
        >
          <ToggleButton value="combined">Combined</ToggleButton>
          <ToggleButton value="stdout">stdout</ToggleButton>
          <ToggleButton value="stderr">stderr</ToggleButton>
        </ToggleButtonGroup>
        <TextField
          label="Find in output"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter") {
              event.preventDefault();
              jump(event.shiftKey ? -1 : 1);
            }
          }}
          sx={{ width: 200 }}
        />
        <Typography variant="body2" color="text.secondary" aria-live="polite" sx={{ minWidth: 70 }}>
          {query
            ? matches.length
              ? `${Math.min(matchIndex, matches.length - 1) + 1} of ${matches.length}`
              : "no match"
            : ""}
        </Typography>
        <Tooltip title="Previous match (Shift+Enter)">
          <span>
            <IconButton
              size="small"
              aria-label="Previous match"
              disabled={!matches.length}
              onClick={() => jump(-1)}
            >
              <KeyboardArrowUp />
            </IconButton>
          </span>
        </Tooltip>
        <Tooltip title="Next match (Enter)">
          <span>
            <IconButton
              size="small"
              aria-label="Next match"
              disabled={!matches.length}
              onClick={() => jump(1)}
            >
              <KeyboardArrowDown />
            </IconButton>
          </span>
        </Tooltip>
        <FormControlLabel
          control={
            <Switch
              size="small"
              checked={follow}
              onChange={(event) => setFollow(event.target.checked)}
            />
          }
          label="Follow"
        />
        <Box sx={{ flexGrow: 1 }} />
        <Button size="small" startIcon={<Download />} onClick={onDownload}>
          Download
        </Button>
      </Box>
      <Box
        ref={scroller}
        className="output-scroller"
        role="log"
        aria-label={label}
        aria-live="off"
        tabIndex={0}
        data-lines={count}
        onWheel={(event) => {
          if (event.deltaY < 0) setFollow(false);
        }}
        onScroll={(event) => {
          const element = event.currentTarget;
          if (
            element.scrollHeight - element.scrollTop - element.clientHeight < ROW * 2 &&
            !follow &&
            running
          )
            setFollow(true);
        }}
        sx={{
          flexGrow: 1,
          minHeight: 240,
          overflow: "auto",
          fontFamily: MONO,
          fontSize: 13,
          lineHeight: `${ROW}px`,
          borderRadius: 1,
        }}
      >
        {count === 0 ? (
          <Box sx={{ p: 2, color: "text.secondary", fontFamily: "inherit" }}>
            {running ? "Waiting for output…" : "No output."}
          </Box>
        ) : (
          <div
            style={{
              height: virtualizer.getTotalSize(),
              position: "relative",
              minWidth: "100%",
              width: "max-content",
            }}
          >
            {virtualizer.getVirtualItems().map((item) => {
              const line = lineAt(item.index);
              if (!line) return null;
              return (
                <div
                  key={item.key}
                  style={{
                    position: "absolute",
                    top: 0,
                    left: 0,
                    minWidth: "100%",
                    height: ROW,
                    transform: `translateY(${item.start}px)`,
                  }}
                >
                  <Row
                    line={line}
                    number={item.index + 1}
                    query={query}
                    current={item.index === currentMatch}
                    showStream={stream === "combined"}
                  />
                </div>
              );
            })}
          </div>
        )}
      </Box>
    </Box>
  );
}
