"""How the client shows things: rich tables and colours for people, JSON for scripts.

Human output goes to stdout as tables (no borders, like `kubectl get`, so it greps and cuts);
notes, progress and summaries go to stderr, so a pipe gets only the data. `--json` prints the
API's objects as JSON on stdout and nothing decorative anywhere. Colours only on a terminal
(and never with NO_COLOR set).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "succeeded": "green",
    "healthy": "green",
    "success": "green",
    "running": "cyan",
    "queued": "blue",
    "pending": "blue",
    "failed": "red",
    "failure": "red",
    "timed_out": "red",
    "error": "red",
    "denied": "red",
    "unreachable": "red",
    "auth_failed": "red",
    "host_key_mismatch": "red",
    "tls_error": "red",
    "cancelled": "yellow",
    "host_key_unknown": "yellow",
    "unknown": "dim",
}
# Per-system prefix colours, picked by the system's place in the job.
PALETTE = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_yellow",
    "bright_blue",
)
PREFIX_MAX = 32


def console(file: IO[str]) -> Console:
    """A console on `file`: a terminal's width and colours, or, piped, wide and plain."""
    probe = Console(file=file)
    if probe.is_terminal:
        return Console(file=file, highlight=False)
    return Console(file=file, highlight=False, width=max(probe.width, 240), no_color=True)


class Output:
    def __init__(self, json_mode: bool = False) -> None:
        self.json = json_mode
        self.out = console(sys.stdout)
        self.err = console(sys.stderr)

    def print_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def note(self, message: str | Text) -> None:
        """A remark for people (stderr); silent with --json."""
        if not self.json:
            self.err.print(message, soft_wrap=True)

    def warn(self, message: str) -> None:
        self.err.print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)

    def line(self, text: str | Text) -> None:
        self.out.print(text, soft_wrap=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[str | Text]],
        *,
        empty: str = "nothing to show",
    ) -> None:
        rows = list(rows)
        if not rows:
            self.note(Text(empty, style="dim"))
            return
        table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(_plain(cell) for cell in row))
        self._print_table(table)

    def fields(self, pairs: Iterable[tuple[str, str | Text | None]]) -> None:
        """`key  value` lines, for one object."""
        table = Table(box=None, pad_edge=False, show_header=False, show_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in pairs:
            if value is not None and value != "":
                table.add_row(key, _plain(value))
        self._print_table(table)

    def _print_table(self, table: Table) -> None:
        if self.out.is_terminal:
            self.out.print(table)
            return
        with self.out.capture() as captured:
            self.out.print(table)
        # Piped: no padding after the last column (cut, awk and diff see clean lines).
        self.out.file.write("".join(f"{line.rstrip()}\n" for line in captured.get().splitlines()))

    def more(self, next_cursor: str | None, shown: int, total: int | None) -> None:
        if next_cursor and not self.json:
            of = f" of {total}" if total is not None else ""
            self.note(
                Text(
                    f"showing {shown}{of}; more with --all, or --cursor {next_cursor}",
                    style="dim",
                )
            )


def _plain(cell: str | Text) -> Text:
    """Text as it is: a name, command or pattern such as `[a-z]+` is not rich markup."""
    return Text(cell) if isinstance(cell, str) else cell


def status(value: str | None) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(value, style=STATUS_STYLES.get(value, ""))


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: str | None) -> str:
    """Local time, to the second."""
    parsed = parse_time(value)
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def ago(value: str | None, now: datetime | None = None) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - parsed).total_seconds()
    if seconds < 0:
        return "just now"
    return f"{duration(seconds * 1000)} ago"


def duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
    hours, rest = divmod(int(seconds), 3600)
    if hours < 48:
        return f"{hours}h{rest // 60:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def span(start: str | None, end: str | None) -> str:
    first, last = parse_time(start), parse_time(end)
    if first is None:
        return "-"
    return duration(((last or datetime.now(UTC)) - first).total_seconds() * 1000)


def labels(values: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((values or {}).items())) or "-"


def first_line(text: str | None, width: int = 60) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


class LinePrinter:
    """Output lines, each prefixed with its system's name: aligned, coloured per system on a
    terminal, stderr marked with `!` (stdout with `|`). On a terminal the text is sanitized
    (colours kept, every other escape sequence dropped), so a host cannot move the cursor,
    retitle or otherwise drive the operator's terminal. Piped, the text is written exactly."""

    def __init__(self, out: Console, names: Iterable[str], *, prefix: bool = True) -> None:
        self.out = out
        self.prefix = prefix
        self.width = min(max((len(name) for name in names), default=0), PREFIX_MAX)
        self.terminal = out.is_terminal
        self._colours: dict[str, str] = {}

    def widen(self, name: str) -> None:
        self.width = min(max(self.width, len(name)), PREFIX_MAX)

    def colour(self, name: str, position: int) -> str:
        return self._colours.setdefault(name, PALETTE[position % len(PALETTE)])

    def print(self, name: str, position: int, stream: str, text: str) -> None:
        marker = "!" if stream == "stderr" else "|"
        if not self.terminal:
            head = f"{name.ljust(self.width)} {marker} " if self.prefix else ""
            self.out.file.write(f"{head}{text}\n")
            return
        line = Text()
        if self.prefix:
            line.append(name.ljust(self.width), style=self.colour(name, position))
            line.append(f" {marker} ", style="bold red" if stream == "stderr" else "dim")
        line.append_text(Text.from_ansi(text))
        self.out.print(line, soft_wrap=True)

    def flush(self) -> None:
        self.out.file.flush()
