"""WS-Management envelopes as Windows writes them: parsing requests, building responses and
faults (MS-WSMV). Only what the WinRS shell resource uses."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = f"{SHELL}/Command"
ACTION_RECEIVE = f"{SHELL}/Receive"
ACTION_SEND = f"{SHELL}/Send"
ACTION_SIGNAL = f"{SHELL}/Signal"
SIGNAL_TERMINATE = f"{SHELL}/signal/terminate"
SIGNAL_CTRL_C = f"{SHELL}/signal/ctrl_c"
SIGNAL_CTRL_BREAK = f"{SHELL}/signal/ctrl_break"
STATE_RUNNING = f"{SHELL}/CommandState/Running"
STATE_DONE = f"{SHELL}/CommandState/Done"

# WSManFault codes Windows sends (winerror.h, ERROR_WSMAN_*).
OPERATION_TIMEOUT = 2150858793
INVALID_SELECTORS = 2150858843
SHELL_QUOTA = 2150859173
OPERATIONS_QUOTA = 2150859174
ACTION_NOT_SUPPORTED = 2150858776
INVALID_XML = 2150858778
ENVELOPE_TOO_LARGE = 2150858854

_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


class Fault(Exception):
    """A WS-Man fault: HTTP 500 with a SOAP fault body."""

    def __init__(self, code: int, subcode: str, message: str, value: str = "s:Receiver") -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.message = message
        self.value = value


def timed_out() -> Fault:
    return Fault(
        OPERATION_TIMEOUT,
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time specified "
        "in OperationTimeout.  ",
    )


def shell_not_found(shell_id: str) -> Fault:
    return Fault(
        INVALID_SELECTORS,
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId "
        "or create a new shell and retry the operation. ",
        "s:Sender",
    )


def command_not_found(command_id: str) -> Fault:
    return Fault(
        INVALID_SELECTORS,
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell command with CommandId {command_id} failed "
        "because the command was not found on the server. ",
        "s:Sender",
    )


def shell_quota(limit: int) -> Fault:
    return Fault(
        SHELL_QUOTA,
        "w:InternalError",
        "The WS-Management service cannot process the request. This user is allowed a maximum "
        f"number of {limit} concurrent shells, which has been exceeded. Close existing shells "
        "or raise the quota for this user. ",
    )


def operations_quota(limit: int) -> Fault:
    return Fault(
        OPERATIONS_QUOTA,
        "w:InternalError",
        "The WS-Management service cannot process the request. This user is allowed a maximum "
        f"number of {limit} concurrent operations, which has been exceeded. Close existing "
        "operations for this user, or raise the quota for this user. ",
    )


@dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    body: ET.Element
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    operation_timeout: float | None = None
    max_envelope: int = 153600


def _duration(text: str | None) -> float | None:
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    minutes, seconds = match.groups()
    return float(minutes or 0) * 60 + float(seconds or 0)


def parse(data: bytes) -> Request:
    try:
        root = ET.fromstring(data)  # noqa: S314 - our own clients, on loopback
    except ET.ParseError:
        raise Fault(
            INVALID_XML, "w:SchemaValidationError", "The request is not valid XML."
        ) from None
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise Fault(INVALID_XML, "w:SchemaValidationError", "Not a SOAP envelope.", "s:Sender")

    def text(path: str) -> str:
        node = header.find(path, NS)
        return (node.text or "").strip() if node is not None else ""

    request = Request(
        action=text("a:Action"),
        message_id=text("a:MessageID"),
        resource_uri=text("w:ResourceURI"),
        body=body,
        operation_timeout=_duration(text("w:OperationTimeout")),
    )
    size = text("w:MaxEnvelopeSize")
    if size.isdigit():
        request.max_envelope = int(size)
    for selector in header.findall("w:SelectorSet/w:Selector", NS):
        request.selectors[selector.get("Name", "")] = (selector.text or "").strip()
    for option in header.findall("w:OptionSet/w:Option", NS):
        request.options[option.get("Name", "")] = (option.text or "").strip()
    return request


_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}" xmlns:x="{x}" xmlns:w="{w}" '
    'xmlns:rsp="{rsp}" xmlns:p="{p}">'.format(**NS)
)


def envelope(action: str, relates_to: str, body: str) -> bytes:
    header = (
        "<s:Header>"
        f"<a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        "</s:Header>"
    )
    return f"{_ENVELOPE_OPEN}{header}<s:Body>{body}</s:Body></s:Envelope>".encode()


def fault_envelope(fault: Fault, relates_to: str, machine: str) -> bytes:
    message = escape(fault.message)
    body = (
        "<s:Fault>"
        f"<s:Code><s:Value>{fault.value}</s:Value>"
        f"<s:Subcode><s:Value>{fault.subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{message}</s:Text></s:Reason>'
        "<s:Detail>"
        f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{fault.code}" Machine={quoteattr(machine)}>'
        f"<f:Message>{message}</f:Message></f:WSManFault>"
        "</s:Detail></s:Fault>"
    )
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def attribute(element: ET.Element | None, name: str) -> str | None:
    return None if element is None else element.get(name)
