"""PowerShell's CLIXML on stderr, turned into readable text as it streams.

A non-interactive powershell.exe whose stderr is a pipe (as under WinRS) writes its error,
warning, verbose, debug and information records there serialised: a `#< CLIXML` line, then an
`<Objs>` document whose children arrive as the script runs. Errors become their text lines,
other records are prefixed as PowerShell prints them (`WARNING: ...`), and progress records are
dropped. Strings escape characters as `_xHHHH_` (CRLF is `_x000D__x000A_`).

Anything that is not CLIXML passes through untouched, and so does the rest of a stream once it
stops being well-formed. A document type declaration is never parsed (no entity expansion from
a remote host).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import cast

HEADER = b"#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_PREFIX = {"warning": "WARNING: ", "verbose": "VERBOSE: ", "debug": "DEBUG: "}


def unescape(text: str) -> str:
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _record_text(element: ET.Element) -> str | None:
    """The text of one child of <Objs>, or None to drop it."""
    kind = (element.get("S") or "").lower()
    tag = _local(element.tag)
    if tag == "S":
        text = unescape(element.text or "")
        prefix = _PREFIX.get(kind, "")
        if prefix and not text.endswith("\n"):
            text += "\r\n"
        return prefix + text
    if tag == "Obj":
        if kind == "progress":
            return None
        # An information record (Write-Information, Write-Host redirected): its message is the
        # object's string form.
        for child in element.iter():
            if _local(child.tag) == "ToString" and child.text:
                return unescape(child.text) + "\r\n"
    return None


class ClixmlDecoder:
    """Feed stderr bytes as they arrive; get back the text to show (UTF-8)."""

    def __init__(self) -> None:
        self._state = "start"  # start -> xml | raw
        self._head = b""
        self._parser: ET.XMLPullParser[ET.Element] | None = None
        self._depth = 0
        self._last = b""  # the previous chunk's last byte

    def feed(self, data: bytes) -> bytes:
        if self._state == "raw":
            return data
        if self._state == "start":
            self._head += data
            if len(self._head) < len(HEADER) and HEADER.startswith(self._head):
                return b""
            if not self._head.startswith(HEADER):
                self._state = "raw"
                head, self._head = self._head, b""
                return head
            line_end = self._head.find(b"\n")
            if line_end < 0:
                return b""
            data, self._head = self._head[line_end + 1 :], b""
            self._state = "xml"
            self._parser = ET.XMLPullParser(events=("start", "end"))
        return self._parse(data)

    def _parse(self, data: bytes) -> bytes:
        assert self._parser is not None
        # DOCTYPE or ENTITY (even split across chunks): not from powershell.exe; never expand.
        if b"<!" in self._last + data:
            self._state = "raw"
            return data
        self._last = data[-1:]
        try:
            self._parser.feed(data)
            out = []
            # Only start and end were asked for: each comes with its element.
            events = cast(Iterator[tuple[str, ET.Element]], self._parser.read_events())
            for event, element in events:
                if event == "start":
                    self._depth += 1
                    continue
                self._depth -= 1
                if self._depth == 1:
                    text = _record_text(element)
                    if text:
                        out.append(text)
                    element.clear()
                elif self._depth == 0:
                    # </Objs>: whatever follows is plain stderr again.
                    self._state = "start"
            return "".join(out).encode()
        except ET.ParseError:
            self._state = "raw"
            return data

    def close(self) -> bytes:
        """What is left at the end of the stream (an unfinished header, say)."""
        head, self._head = self._head, b""
        return head
