"""The fake Windows host behind the WinRM listeners: shells, commands, processes and files.

Commands are not executed: tests script them. A handler is registered for a pattern; a cmd
command line, or the script of a PowerShell `-EncodedCommand`, that matches it runs the handler
in a thread of its own with an `Invocation` to print through, sleep on, or run a real
subprocess from, and its return value is the exit code. Without a matching handler a few
cmd built-ins answer (echo, exit /b, set, cd, type, del, taskkill, hostname, whoami) and
anything else is "not recognized", as on Windows.

PowerShell is emulated as far as Orca's wrappers need and no further: simple statements at the
top of a script (preference variables, `[Console]::Out.WriteLine(...)` with `$PID`, reading a
base64 file into a variable, `Remove-Item`, `& ([ScriptBlock]::Create($var))`) are evaluated,
and the rest of the script is what handlers match. Its stderr is CLIXML, the way Windows sends
it from a non-interactive powershell.exe: `#< CLIXML`, then `<Objs>` with error, warning and
progress records (progress unless `$ProgressPreference = 'SilentlyContinue'`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from xml.sax.saxutils import escape

from tests.winrm_server import wsman
from tests.winrm_server.wsman import Fault, Request

Handler = Callable[["Invocation"], int | None]
ShellKind = Literal["cmd", "powershell"]

CLIXML_HEADER = b"#< CLIXML\r\n"
_OBJS_OPEN = '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
STATUS_CONTROL_C_EXIT = 0xC000013A - (1 << 32)  # as the signed int WinRS reports
# How much output a command may have waiting to be received before its writes block (a full
# pipe, as on Windows).
PENDING_LIMIT = 4 * 1024 * 1024


class Stopped(Exception):
    """The command was terminated (signal, shell deleted, taskkill): stop producing output."""


def clixml_escape(text: str) -> str:
    def one(char: str) -> str:
        code = ord(char)
        if char == "_":
            return "_x005F_"
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return f"_x{code:04X}_"
        return char

    return escape("".join(one(char) for char in text))


@dataclass
class Process:
    pid: int
    parent: int | None
    name: str
    alive: bool = True
    stop: threading.Event = field(default_factory=threading.Event)
    # Real processes standing for it: `run` ones die with it, `children` survive a terminate.
    popens: list[subprocess.Popen[bytes]] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)


@dataclass
class Command:
    id: str
    shell: Shell
    command_line: str
    process: Process | None = None
    chunks: list[tuple[str, bytes]] = field(default_factory=list)
    pending: int = 0
    done: bool = False
    exit_code: int | None = None
    signals: list[str] = field(default_factory=list)
    terminated: bool = False
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False


@dataclass
class Shell:
    id: str
    owner: str
    codepage: int
    env: dict[str, str]
    cwd: str
    no_profile: bool
    client_ip: str
    commands: dict[str, Command] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Stats:
    shells_open: int
    shells_created: int
    commands_started: int
    commands_running: int  # their process has not ended
    commands_unterminated: int  # never got the terminate signal, and their shell is open
    signals: tuple[str, ...]  # short names: terminate, ctrl_c, ...
    processes_alive: int
    processes_killed: int  # by taskkill
    files: tuple[str, ...]


class Invocation:
    """What a handler sees: the command, its shell, and ways to produce output."""

    def __init__(
        self,
        host: FakeWindows,
        command: Command,
        kind: ShellKind,
        script: str,
        progress: bool = True,
    ) -> None:
        self.host = host
        self.command_line = command.command_line
        self.shell: ShellKind = kind
        self.script = script  # cmd: the command line; powershell: the script body
        self.env = dict(command.shell.env)
        self.cwd = command.shell.cwd
        self.codepage = command.shell.codepage
        self.user = command.shell.owner
        assert command.process is not None
        self.pid = command.process.pid
        self._command = command
        self._progress = progress
        self._clixml_open = False

    # -- output ----------------------------------------------------------------------------

    def _encode(self, text: str | bytes) -> bytes:
        if isinstance(text, bytes):
            return text
        codec = "utf-8" if self.codepage == 65001 else f"cp{self.codepage}"
        return text.encode(codec, errors="replace")

    def out(self, text: str | bytes) -> None:
        self.host._write(self._command, "stdout", self._encode(text))

    def line(self, text: str) -> None:
        self.out(text + "\r\n")

    def err(self, text: str | bytes) -> None:
        """Raw stderr (a native program's). In PowerShell, use `error` for error records."""
        self.host._write(self._command, "stderr", self._encode(text))

    def _record(self, xml: str) -> None:
        if not self._clixml_open:
            self._clixml_open = True
            self.host._write(self._command, "stderr", CLIXML_HEADER)
            xml = _OBJS_OPEN + xml
        self.host._write(self._command, "stderr", self._encode(xml))

    def error(self, message: str, command: str = "Write-Error") -> None:
        """A PowerShell error record, as powershell.exe serialises it on stderr."""
        lines = [
            f"{command} : {message}",
            "At line:1 char:1",
            f"+ {command} '{message}'",
            "+ " + "~" * (len(command) + len(message) + 3),
            f"    + CategoryInfo          : NotSpecified: (:) [{command}], WriteErrorException",
            "    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException",
            " ",
        ]
        self._record(
            "".join(f'<S S="Error">{clixml_escape(line + chr(13) + chr(10))}</S>' for line in lines)
        )

    def warning(self, message: str) -> None:
        self._record(f'<S S="warning">{clixml_escape(message)}</S>')

    def verbose(self, message: str) -> None:
        self._record(f'<S S="verbose">{clixml_escape(message)}</S>')

    def progress(self, activity: str, percent: int = -1) -> None:
        if not self._progress:
            return
        self._record(
            '<Obj S="progress" RefId="0"><TN RefId="0">'
            "<T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>"
            f'<MS><I64 N="SourceId">1</I64><PR N="Record"><AV>{clixml_escape(activity)}</AV>'
            f"<AI>0</AI><Nil /><PI>-1</PI><PC>{percent}</PC><T>Processing</T><SR>-1</SR>"
            "<SD> </SD></PR></MS></Obj>"
        )

    def _finish_clixml(self) -> None:
        if self._clixml_open:
            self.host._write(self._command, "stderr", b"</Objs>")

    # -- time and processes ----------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        assert self._command.process is not None
        return self._command.process.stop.is_set()

    def sleep(self, seconds: float) -> None:
        """Sleep; raises Stopped if the command is terminated meanwhile."""
        assert self._command.process is not None
        if self._command.process.stop.wait(seconds):
            raise Stopped

    def read_stdin(self, timeout: float = 30) -> bytes:
        return self.host._read_stdin(self._command, timeout)

    def run(self, argv: list[str]) -> int:
        """Run a real process, streaming its output; killed with the command."""
        process = self._command.process
        assert process is not None
        child = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        with self.host._lock:
            process.popens.append(child)
        if process.stop.is_set():
            _kill(child)

        def pump(stream: str) -> None:
            pipe = child.stdout if stream == "stdout" else child.stderr
            assert pipe is not None
            with contextlib.suppress(Stopped):
                while data := os.read(pipe.fileno(), 65536):
                    self.host._write(self._command, stream, data)

        pumps = [
            threading.Thread(target=pump, args=(s,), daemon=True) for s in ("stdout", "stderr")
        ]
        for thread in pumps:
            thread.start()
        code = child.wait()
        for thread in pumps:
            thread.join(5)
        if process.stop.is_set():
            raise Stopped
        return code

    def spawn_child(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start a real process the way `start` does: it outlives a terminate signal and the
        shell; only a tree kill (taskkill /T) of this command's process ends it."""
        process = self._command.process
        assert process is not None
        popen = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.host._add_child(process, popen)
        return popen


def _kill(popen: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(5)


_ENCODED = re.compile(
    r"(?i)^\s*(?:\S*\\)?(?:powershell|pwsh)(?:\.exe)?\b.*?\s-(?:e|ec|enc|encodedcommand)\s+(\S+)"
)
_POWERSHELL_PLAIN = re.compile(r"(?i)^\s*(?:\S*\\)?(?:powershell|pwsh)(?:\.exe)?\b")


class FakeWindows:
    """One fake Windows machine: its accounts, shells, processes and files."""

    def __init__(self, machine: str = "ORCA-WIN") -> None:
        self.machine = machine
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.users: dict[str, str] = {}
        self.certificate_users: set[str] = set()  # mapped from client certificates' UPNs
        self._shells: dict[str, Shell] = {}
        self._handlers: list[tuple[re.Pattern[str], ShellKind | None, Handler]] = []
        self._processes: dict[int, Process] = {}
        self._pids = itertools.count(4200, 4)
        self.files: dict[str, bytes] = {}
        self._faults: list[tuple[str, Callable[[], Fault]]] = []
        self._stalls: list[tuple[str, float]] = []
        self.max_shells_per_user = 30
        self.max_commands_per_shell = 25
        self._shells_created = 0
        self._commands_started = 0
        self._signals: list[str] = []
        self._killed = 0
        self._unterminated: set[str] = set()
        self.requests: list[str] = []  # actions, in order

    # -- what tests set up -------------------------------------------------------------------

    def add_user(self, username: str, password: str) -> None:
        self.users[username] = password

    def on(self, pattern: str, handler: Handler, only: ShellKind | None = None) -> None:
        """Run `handler` for commands matching `pattern` (a regular expression searched in the
        cmd command line, or in a PowerShell script). Later registrations win."""
        with self._lock:
            self._handlers.insert(0, (re.compile(pattern, re.S), only, handler))

    def reply(
        self,
        pattern: str,
        stdout: str = "",
        stderr: str = "",
        exit_code: int = 0,
        only: ShellKind | None = None,
    ) -> None:
        """Shorthand: matching commands print this and exit with `exit_code`."""

        def handler(invocation: Invocation) -> int:
            if stdout:
                invocation.out(stdout)
            if stderr:
                if invocation.shell == "powershell":
                    invocation.error(stderr)
                else:
                    invocation.err(stderr)
            return exit_code

        self.on(pattern, handler, only)

    def inject_fault(self, action: str, fault: Callable[[], Fault], times: int = 1) -> None:
        """Answer the next `times` requests for `action` (Create, Command, Receive, Signal,
        Delete, Send) with this fault instead."""
        with self._lock:
            self._faults.extend([(action, fault)] * times)

    def stall(self, action: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` `action` requests this long before answering (a hung host)."""
        with self._lock:
            self._stalls.extend([(action, seconds)] * times)

    def stats(self) -> Stats:
        with self._lock:
            commands = [c for s in self._shells.values() for c in s.commands.values()]
            return Stats(
                shells_open=len(self._shells),
                shells_created=self._shells_created,
                commands_started=self._commands_started,
                commands_running=sum(
                    1 for p in self._processes.values() if p.alive and p.name != "child"
                ),
                commands_unterminated=sum(1 for c in commands if c.id in self._unterminated),
                signals=tuple(self._signals),
                processes_alive=sum(1 for p in self._processes.values() if p.alive),
                processes_killed=self._killed,
                files=tuple(sorted(self.files)),
            )

    def process_alive(self, pid: int) -> bool:
        with self._lock:
            process = self._processes.get(pid)
            return bool(process and process.alive)

    def wait_idle(self, timeout: float = 10) -> Stats:
        """Wait until no shell is open and no process runs; return the stats either way."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while time.monotonic() < deadline:
                stats = self.stats()
                if stats.shells_open == 0 and stats.processes_alive == 0:
                    return stats
                self._changed.wait(min(0.05, max(deadline - time.monotonic(), 0.001)))
        return self.stats()

    def close(self) -> None:
        """Stop every process, real ones included."""
        with self._lock:
            processes = list(self._processes.values())
            self._shells.clear()
        for process in processes:
            self._end_process(process, tree=True)

    # -- the WinRS resource ------------------------------------------------------------------

    def handle(self, request: Request, user: str, client_ip: str) -> bytes:
        with self._lock:
            short = request.action.rsplit("/", 1)[-1]
            self.requests.append(short)
            stall = next((s for s in self._stalls if s[0] == short), None)
            if stall:
                self._stalls.remove(stall)
            fault = next((f for f in self._faults if f[0] == short), None)
            if fault:
                self._faults.remove(fault)
        if stall:
            time.sleep(stall[1])
        if fault:
            raise fault[1]()
        if request.resource_uri.lower() != wsman.SHELL_URI:
            raise Fault(
                2150858811,
                "w:DestinationUnreachable",
                f"The WS-Management service cannot process the request. The resource URI "
                f"({request.resource_uri}) was not found in the WS-Management catalog.",
                "s:Sender",
            )
        actions = {
            wsman.ACTION_CREATE: self._create,
            wsman.ACTION_DELETE: self._delete,
            wsman.ACTION_COMMAND: self._command,
            wsman.ACTION_RECEIVE: self._receive,
            wsman.ACTION_SEND: self._send,
            wsman.ACTION_SIGNAL: self._signal,
        }
        action = actions.get(request.action)
        if action is None:
            raise Fault(
                wsman.ACTION_NOT_SUPPORTED,
                "a:ActionNotSupported",
                f"The action is not supported by the service: {request.action}",
                "s:Sender",
            )
        return action(request, user, client_ip)

    def _shell(self, request: Request, user: str) -> Shell:
        shell_id = request.selectors.get("ShellId", "")
        shell = self._shells.get(shell_id.upper())
        if shell is None or shell.owner != user:
            raise wsman.shell_not_found(shell_id)
        return shell

    def _create(self, request: Request, user: str, client_ip: str) -> bytes:
        body = request.body.find("rsp:Shell", wsman.NS)
        if body is None:
            raise Fault(wsman.INVALID_XML, "w:SchemaValidationError", "No rsp:Shell.", "s:Sender")
        home = f"C:\\Users\\{user}"
        env = {
            "COMPUTERNAME": self.machine,
            "USERNAME": user,
            "USERPROFILE": home,
            "TEMP": f"{home}\\AppData\\Local\\Temp",
            "TMP": f"{home}\\AppData\\Local\\Temp",
            "SystemRoot": "C:\\Windows",
            "PATH": "C:\\Windows\\system32;C:\\Windows",
        }
        for variable in body.findall("rsp:Environment/rsp:Variable", wsman.NS):
            env[variable.get("Name", "")] = variable.text or ""
        cwd_node = body.find("rsp:WorkingDirectory", wsman.NS)
        codepage = request.options.get("WINRS_CODEPAGE", "437")
        with self._lock:
            owned = sum(1 for shell in self._shells.values() if shell.owner == user)
            if owned >= self.max_shells_per_user:
                raise wsman.shell_quota(self.max_shells_per_user)
            shell = Shell(
                id=str(uuid.uuid4()).upper(),
                owner=user,
                codepage=int(codepage) if codepage.isdigit() else 437,
                env=env,
                cwd=(cwd_node.text or home) if cwd_node is not None else home,
                no_profile=request.options.get("WINRS_NOPROFILE", "").upper() == "TRUE",
                client_ip=client_ip,
            )
            self._shells[shell.id] = shell
            self._shells_created += 1
        resource = (
            "<x:ResourceCreated>"
            "<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{wsman.SHELL_URI}</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{shell.id}</w:Selector></w:SelectorSet>'
            "</a:ReferenceParameters></x:ResourceCreated>"
            f"<rsp:Shell><rsp:ShellId>{shell.id}</rsp:ShellId>"
            f"<rsp:ResourceUri>{wsman.SHELL_URI}</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(user)}</rsp:Owner><rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP>"
            "<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>"
            "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
            "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
        )
        return wsman.envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
            request.message_id,
            resource,
        )

    def _delete(self, request: Request, user: str, client_ip: str) -> bytes:
        with self._lock:
            shell = self._shell(request, user)
            del self._shells[shell.id]
            for command in shell.commands.values():
                self._unterminated.discard(command.id)
                if command.process is not None:
                    self._end_process(command.process, tree=False)
            self._changed.notify_all()
        return wsman.envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
            request.message_id,
            "",
        )

    def _command(self, request: Request, user: str, client_ip: str) -> bytes:
        line = request.body.find("rsp:CommandLine", wsman.NS)
        if line is None:
            raise Fault(
                wsman.INVALID_XML, "w:SchemaValidationError", "No rsp:CommandLine.", "s:Sender"
            )
        executable = (line.findtext("rsp:Command", "", wsman.NS) or "").strip()
        arguments = [node.text or "" for node in line.findall("rsp:Arguments", wsman.NS)]
        command_line = " ".join([executable, *arguments]).strip()
        with self._lock:
            shell = self._shell(request, user)
            running = sum(1 for c in shell.commands.values() if not c.done)
            if running >= self.max_commands_per_shell:
                raise wsman.operations_quota(self.max_commands_per_shell)
            command = Command(
                id=line.get("CommandId") or str(uuid.uuid4()).upper(),
                shell=shell,
                command_line=command_line,
            )
            command.process = self._new_process(None, "cmd.exe")
            shell.commands[command.id] = command
            self._unterminated.add(command.id)
            self._commands_started += 1
        threading.Thread(
            target=self._run, args=(command,), name=f"winrs-{command.id[:8]}", daemon=True
        ).start()
        return wsman.envelope(
            f"{wsman.SHELL}/CommandResponse",
            request.message_id,
            f"<rsp:CommandResponse><rsp:CommandId>{command.id}</rsp:CommandId></rsp:CommandResponse>",
        )

    def _find_command(self, request: Request, user: str, command_id: str | None) -> Command:
        shell = self._shell(request, user)
        command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise wsman.command_not_found(command_id or "")
        return command

    def _receive(self, request: Request, user: str, client_ip: str) -> bytes:
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", wsman.NS)
        command_id = wsman.attribute(desired, "CommandId")
        timeout = request.operation_timeout if request.operation_timeout is not None else 60
        # What fits in one envelope, base64 and XML around it included.
        budget = max((request.max_envelope - 4096) * 3 // 4, 1024)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                command = self._find_command(request, user, command_id)
                if command.chunks or command.done:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise wsman.timed_out()
                self._changed.wait(left)
            taken: list[tuple[str, bytes]] = []
            size = 0
            while command.chunks and size < budget:
                stream, data = command.chunks[0]
                room = budget - size
                if len(data) > room:
                    taken.append((stream, data[:room]))
                    command.chunks[0] = (stream, data[room:])
                    size += room
                    break
                taken.append(command.chunks.pop(0))
                size += len(data)
            command.pending -= size
            finished = command.done and not command.chunks
            self._changed.notify_all()
        parts = [
            f'<rsp:Stream Name="{stream}" CommandId="{command.id}">'
            f"{base64.b64encode(data).decode()}</rsp:Stream>"
            for stream, data in taken
        ]
        if finished:
            parts += [
                f'<rsp:Stream Name="stdout" CommandId="{command.id}" End="true"></rsp:Stream>',
                f'<rsp:Stream Name="stderr" CommandId="{command.id}" End="true"></rsp:Stream>',
                f'<rsp:CommandState CommandId="{command.id}" State="{wsman.STATE_DONE}">'
                f"<rsp:ExitCode>{command.exit_code}</rsp:ExitCode></rsp:CommandState>",
            ]
        else:
            parts.append(
                f'<rsp:CommandState CommandId="{command.id}" State="{wsman.STATE_RUNNING}"/>'
            )
        return wsman.envelope(
            f"{wsman.SHELL}/ReceiveResponse",
            request.message_id,
            f"<rsp:ReceiveResponse>{''.join(parts)}</rsp:ReceiveResponse>",
        )

    def _send(self, request: Request, user: str, client_ip: str) -> bytes:
        stream = request.body.find("rsp:Send/rsp:Stream", wsman.NS)
        with self._changed:
            command = self._find_command(request, user, wsman.attribute(stream, "CommandId"))
            if stream is not None and stream.text:
                command.stdin += base64.b64decode(stream.text)
            if stream is not None and (stream.get("End") or "").lower() == "true":
                command.stdin_closed = True
            self._changed.notify_all()
        return wsman.envelope(
            f"{wsman.SHELL}/SendResponse", request.message_id, "<rsp:SendResponse/>"
        )

    def _signal(self, request: Request, user: str, client_ip: str) -> bytes:
        node = request.body.find("rsp:Signal", wsman.NS)
        code = (node.findtext("rsp:Code", "", wsman.NS) if node is not None else "").strip()
        with self._changed:
            command = self._find_command(request, user, wsman.attribute(node, "CommandId"))
            short = code.rsplit("/", 1)[-1]
            self._signals.append(short)
            command.signals.append(short)
            if code == wsman.SIGNAL_TERMINATE:
                # The command is gone: its process ends and its id is forgotten.
                command.terminated = True
                self._unterminated.discard(command.id)
                command.shell.commands.pop(command.id, None)
                if command.process is not None:
                    self._end_process(command.process, tree=False)
            elif code in (wsman.SIGNAL_CTRL_C, wsman.SIGNAL_CTRL_BREAK):
                if command.process is not None and command.process.alive:
                    command.process.stop.set()
                    for popen in command.process.popens:
                        _kill(popen)
            else:
                raise Fault(
                    2150858882,
                    "w:InvalidParameter",
                    f"The signal code {code} is not valid.",
                    "s:Sender",
                )
            self._changed.notify_all()
        return wsman.envelope(
            f"{wsman.SHELL}/SignalResponse", request.message_id, "<rsp:SignalResponse/>"
        )

    # -- processes and output ----------------------------------------------------------------

    def _new_process(self, parent: int | None, name: str) -> Process:
        with self._lock:
            process = Process(next(self._pids), parent, name)
            self._processes[process.pid] = process
            return process

    def _add_child(self, parent: Process, popen: subprocess.Popen[bytes]) -> int:
        child = self._new_process(parent.pid, "child")
        with self._lock:
            child.children.append(popen)
        return child.pid

    def _end_process(self, process: Process, tree: bool) -> None:
        """End a process (its `run` subprocesses too); with `tree`, its descendants as well.
        Children started like `start` survive unless `tree`."""
        with self._lock:
            victims = [process]
            if tree:
                frontier = [process.pid]
                while frontier:
                    parent = frontier.pop()
                    for candidate in self._processes.values():
                        if candidate.parent == parent and candidate.alive:
                            victims.append(candidate)
                            frontier.append(candidate.pid)
            for victim in victims:
                victim.stop.set()
        for victim in victims:
            for popen in victim.popens + victim.children:
                _kill(popen)
            if victim.name == "child":
                with self._lock:
                    victim.alive = False
        with self._changed:
            self._changed.notify_all()

    def _write(self, command: Command, stream: str, data: bytes) -> None:
        if not data:
            return
        with self._changed:
            assert command.process is not None
            while command.pending > PENDING_LIMIT and not command.process.stop.is_set():
                self._changed.wait(0.5)
            if command.process.stop.is_set():
                raise Stopped
            if command.chunks and command.chunks[-1][0] == stream:
                command.chunks[-1] = (stream, command.chunks[-1][1] + data)
            else:
                command.chunks.append((stream, data))
            command.pending += len(data)
            self._changed.notify_all()

    def _read_stdin(self, command: Command, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not command.stdin_closed and time.monotonic() < deadline:
                self._changed.wait(0.1)
            return bytes(command.stdin)

    def _run(self, command: Command) -> None:
        process = command.process
        assert process is not None
        code: int | None
        try:
            code = self._execute(command)
        except Stopped:
            code = STATUS_CONTROL_C_EXIT
        except Exception as exc:  # a broken handler shows as a failed command
            with contextlib.suppress(Stopped):
                self._write(command, "stderr", f"handler failed: {exc!r}\r\n".encode())
            code = 1
        with self._changed:
            if process.stop.is_set() and code != STATUS_CONTROL_C_EXIT and not command.terminated:
                code = STATUS_CONTROL_C_EXIT
            command.exit_code = code if code is not None else 0
            command.done = True
            process.alive = False
            self._changed.notify_all()

    # -- cmd and powershell ------------------------------------------------------------------

    def _handler_for(self, text: str, kind: ShellKind) -> Handler | None:
        with self._lock:
            for pattern, shell, handler in self._handlers:
                if (shell is None or shell == kind) and pattern.search(text):
                    return handler
        return None

    def _execute(self, command: Command) -> int | None:
        line = command.command_line
        encoded = _ENCODED.match(line)
        if encoded:
            try:
                script = base64.b64decode(encoded.group(1), validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                return self._not_recognized(command, "the encoded command is not valid base64")
            assert command.process is not None
            command.process.name = "powershell.exe"
            return self._powershell(command, script)
        if _POWERSHELL_PLAIN.match(line):
            return self._not_recognized(command, "only -EncodedCommand is emulated")
        if len(line) > 8191:
            invocation = Invocation(self, command, "cmd", line)
            invocation.err("The command line is too long.\r\n")
            return 1
        handler = self._handler_for(line, "cmd")
        invocation = Invocation(self, command, "cmd", line)
        if handler is not None:
            return handler(invocation)
        return self._builtin(invocation, command)

    def _expand(self, text: str, env: dict[str, str]) -> str:
        lowered = {key.lower(): value for key, value in env.items()}
        return re.sub(r"%(\w+)%", lambda m: lowered.get(m.group(1).lower(), m.group(0)), text)

    def _builtin(self, invocation: Invocation, command: Command) -> int:
        line = self._expand(invocation.command_line, invocation.env)
        word, _, rest = line.strip().partition(" ")
        word = word.lower()
        append = re.match(r"(?is)^echo\s?(.*?)\s*>>\s*\"?([^\"]+?)\"?\s*$", line.strip())
        if append:
            with self._lock:
                path = append.group(2).lower()
                self.files[path] = self.files.get(path, b"") + append.group(1).encode() + b" \r\n"
            return 0
        if word in ("echo", "echo."):
            invocation.out(rest + "\r\n")
            return 0
        if word == "exit":
            number = re.search(r"-?\d+", rest)
            return int(number.group()) if number else 0
        if word == "cd":
            invocation.out(invocation.cwd + "\r\n")
            return 0
        if word == "hostname":
            invocation.out(self.machine + "\r\n")
            return 0
        if word == "whoami":
            invocation.out(f"{self.machine.lower()}\\{invocation.user.lower()}\r\n")
            return 0
        if word == "set":
            name = rest.strip().lower()
            shown = sorted((k, v) for k, v in invocation.env.items() if k.lower().startswith(name))
            if not shown:
                invocation.err(f"Environment variable {rest.strip()} not defined\r\n")
                return 1
            invocation.out("".join(f"{k}={v}\r\n" for k, v in shown))
            return 0
        if word == "type":
            path = rest.strip().strip('"').lower()
            with self._lock:
                data = self.files.get(path)
            if data is None:
                invocation.err("The system cannot find the file specified.\r\n")
                return 1
            invocation.out(data)
            return 0
        if word == "del":
            path = rest.split()[-1].strip('"').lower() if rest.split() else ""
            with self._lock:
                self.files.pop(path, None)
            return 0
        if word == "taskkill":
            return self._taskkill(invocation, rest)
        return self._not_recognized(command, None)

    def _not_recognized(self, command: Command, why: str | None) -> int:
        word = command.command_line.strip().split(" ", 1)[0]
        invocation = Invocation(self, command, "cmd", command.command_line)
        invocation.err(
            f"'{word}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n"
        )
        if why:  # for whoever writes a test against this fake: why it did not understand
            invocation.err(f"(fake WinRM host: {why})\r\n")
        return 1

    def _taskkill(self, invocation: Invocation, rest: str) -> int:
        arguments = rest.replace("/", " /").split()
        flags = {a.lower() for a in arguments}
        pid_match = re.search(r"(?i)/pid\s+(\d+)", rest)
        if not pid_match:
            invocation.err("ERROR: Invalid syntax.\r\n")
            return 1
        pid = int(pid_match.group(1))
        with self._lock:
            process = self._processes.get(pid)
        if process is None or not process.alive:
            invocation.err(f'ERROR: The process "{pid}" not found.\r\n')
            return 128
        if "/f" not in flags and process.name != "child":
            invocation.err(
                f"ERROR: The process with PID {pid} could not be terminated.\r\n"
                "Reason: This process can only be terminated forcefully (with /F option).\r\n"
            )
            return 1
        self._end_process(process, tree="/t" in flags)
        with self._lock:
            self._killed += 1
        invocation.out(
            f"SUCCESS: The process with PID {pid} (child process of PID {process.parent or 0}) "
            "has been terminated.\r\n"
        )
        return 0

    def _powershell(self, command: Command, script: str) -> int | None:
        body, progress, prints = self._prologue(command, script)
        invocation = Invocation(self, command, "powershell", body, progress=progress)
        try:
            for text in prints:
                invocation.out(text)
            # Windows PowerShell reports loading its modules unless progress is silenced.
            invocation.progress("Preparing modules for first use.")
            handler = self._handler_for(body, "powershell")
            if handler is not None:
                return handler(invocation)
            return self._powershell_builtin(invocation, body)
        finally:
            with contextlib.suppress(Stopped):
                invocation._finish_clixml()

    def _powershell_builtin(self, invocation: Invocation, body: str) -> int:
        code = 0
        for statement in (s.strip() for s in body.splitlines()):
            if not statement or statement.startswith("#"):
                continue
            write = re.match(
                r"(?i)^(?:Write-Output|Write-Host|echo)\s+'((?:[^']|'')*)'$", statement
            )
            if write:
                invocation.out(write.group(1).replace("''", "'") + "\r\n")
                continue
            error = re.match(r"(?i)^Write-Error\s+'((?:[^']|'')*)'$", statement)
            if error:
                invocation.error(error.group(1).replace("''", "'"))
                code = 1
                continue
            leave = re.match(r"(?i)^exit\s+(-?\d+)$", statement)
            if leave:
                return int(leave.group(1))
            name = statement.split()[0]
            invocation.error(
                f"The term '{name}' is not recognized as the name of a cmdlet, function, script "
                "file, or operable program.",
                command=name,
            )
            code = 1
        return code

    def _prologue(self, command: Command, script: str) -> tuple[str, bool, list[str]]:
        """Evaluate the simple statements at the top of a script (see the module docstring);
        return the rest, whether progress records are shown, and what was printed."""
        assert command.process is not None
        variables: dict[str, str] = {}
        progress = True
        prints: list[str] = []
        lines = script.splitlines()
        for index, raw in enumerate(lines):
            line = raw.strip()
            if not line:
                continue
            if m := re.match(r"(?i)^\$ProgressPreference\s*=\s*'(\w+)'$", line):
                progress = m.group(1).lower() != "silentlycontinue"
            elif re.match(r"(?i)^\$(ErrorActionPreference|WarningPreference)\s*=\s*'\w+'$", line):
                pass
            elif re.match(r"(?i)^\[Console\]::OutputEncoding\s*=", line):
                pass
            elif m := re.match(r"(?i)^\[Console\]::Out\.WriteLine\((.*)\)$", line):
                prints.append(self._concat(m.group(1), command, variables) + "\r\n")
            elif m := re.match(r"(?i)^\$(\w+)\s*=\s*Join-Path\s+\$env:(\w+)\s+'([^']*)'$", line):
                base = self._expand(f"%{m.group(2)}%", command.shell.env)
                variables[m.group(1).lower()] = f"{base}\\{m.group(3)}"
            elif m := re.match(
                r"(?i)^\$(\w+)\s*=\s*\[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::"
                r"FromBase64String\(\(\[IO\.File\]::ReadAllText\(\$(\w+)\)\)\s*-replace\s*"
                r"'\\s',\s*''\)\)$",
                line,
            ):
                path = variables.get(m.group(2).lower(), "").lower()
                with self._lock:
                    data = self.files.get(path)
                if data is None:
                    return f"Get-Item '{path}'", progress, prints
                variables[m.group(1).lower()] = base64.b64decode(re.sub(rb"\s", b"", data)).decode(
                    "utf-8"
                )
            elif m := re.match(r"(?i)^Remove-Item\s+-LiteralPath\s+\$(\w+)\s+-Force$", line):
                with self._lock:
                    self.files.pop(variables.get(m.group(1).lower(), "").lower(), None)
            elif m := re.match(r"(?i)^&\s*\(\[ScriptBlock\]::Create\(\$(\w+)\)\)$", line):
                rest = "\n".join(lines[index + 1 :])
                return variables.get(m.group(1).lower(), "") + "\n" + rest, progress, prints
            else:
                return "\n".join(lines[index:]), progress, prints
        return "", progress, prints

    @staticmethod
    def _concat(expression: str, command: Command, variables: dict[str, str]) -> str:
        assert command.process is not None
        out = []
        for term in (t.strip() for t in re.split(r"\s\+\s", expression)):
            if m := re.fullmatch(r"'((?:[^']|'')*)'", term):
                out.append(m.group(1).replace("''", "'"))
            elif m := re.fullmatch(r"(?i)\[char\](\d+)", term):
                out.append(chr(int(m.group(1))))
            elif term.lower() == "$pid":
                out.append(str(command.process.pid))
            elif m := re.fullmatch(r"(?i)\$env:(\w+)", term):
                out.append(command.shell.env.get(m.group(1), ""))
            else:
                out.append(term)
        return "".join(out)
