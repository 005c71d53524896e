"""The WinRM listeners of the fake Windows host: `/wsman` over HTTP and HTTPS on loopback, one
port per way of authenticating, so a test picks exactly what it exercises.

| listener     | scheme | authentication                                            |
|--------------|--------|-----------------------------------------------------------|
| basic-http   | http   | Basic (Windows refuses this by default; here for tests)    |
| basic-https  | https  | Basic                                                      |
| ntlm-http    | http   | Negotiate/NTLM; every message must be sealed (MS-WSMV 2.2.9.1.1) |
| ntlm-https   | https  | Negotiate/NTLM with channel binding required (CbtHardeningLevel=Strict) |
| cert-https   | https  | TLS client certificate mapped by its UPN + the mutual-auth header |

NTLM is pyspnego acting as the server, one security context per TCP connection, as on Windows.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import io
import os
import re
import shutil
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import spnego
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from tests.winrm_server import wsman
from tests.winrm_server.host import FakeWindows
from tests.winrm_server.pki import Authority, Issued, upn_of

BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
LISTENERS = ("basic-http", "basic-https", "ntlm-http", "ntlm-https", "cert-https")


@dataclass(frozen=True)
class ListenerSpec:
    name: str
    tls: bool
    auth: str  # basic | negotiate | certificate
    encrypt: bool = False  # NTLM over HTTP: bodies must be sealed
    cbt: bool = False  # NTLM over HTTPS: channel binding must match


SPECS = {
    "basic-http": ListenerSpec("basic-http", False, "basic"),
    "basic-https": ListenerSpec("basic-https", True, "basic"),
    "ntlm-http": ListenerSpec("ntlm-http", False, "negotiate", encrypt=True),
    "ntlm-https": ListenerSpec("ntlm-https", True, "negotiate", cbt=True),
    "cert-https": ListenerSpec("cert-https", True, "certificate"),
}


# pyspnego's NTLM acceptor reads accounts from the file named by NTLM_USER_FILE: one file for
# every fake host in this process (each host still checks the account is its own).
_ntlm_lock = threading.Lock()
_ntlm_accounts: dict[int, dict[str, str]] = {}
_ntlm_file: Path | None = None


def _publish_ntlm_accounts(owner: int, users: dict[str, str] | None) -> None:
    global _ntlm_file
    with _ntlm_lock:
        if users is None:
            _ntlm_accounts.pop(owner, None)
        else:
            _ntlm_accounts[owner] = dict(users)
        if _ntlm_file is None:
            directory = tempfile.mkdtemp(prefix="orca-ntlm-")
            # Removed when the process ends: each test run used to leave one behind.
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            _ntlm_file = Path(directory) / "users"
        lines = []
        for accounts in _ntlm_accounts.values():
            for user, password in accounts.items():
                lines += [f":{user}:{password}", f".:{user}:{password}"]
        _ntlm_file.write_text("\n".join(lines) + "\n")
        _ntlm_file.chmod(0o600)
        os.environ["NTLM_USER_FILE"] = str(_ntlm_file)


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, winrm: WinRMServer, spec: ListenerSpec) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.winrm = winrm
        self.spec = spec
        self.tls: ssl.SSLContext | None = winrm._tls_context(spec) if spec.tls else None

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-request is not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Listener
    timeout = 120  # an idle keep-alive connection is closed after this

    def setup(self) -> None:
        self.context: Any = None  # the NTLM/SPNEGO context of this connection
        self.user: str | None = None
        self.handshake_failed = False
        if self.server.tls is not None:
            try:
                self.request.settimeout(10)
                self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                # Refused (an untrusted or missing client certificate, say): nothing to serve.
                self.handshake_failed = True
                self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
                return
        super().setup()

    def handle(self) -> None:
        if not self.handshake_failed:
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- responses ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Server", "Microsoft-HTTPAPI/2.0")
        if body and "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _challenge(self, token: bytes | None = None) -> None:
        spec = self.server.spec
        if spec.auth == "basic":
            header = 'Basic realm="WSMAN"'
        elif token:
            header = "Negotiate " + base64.b64encode(token).decode()
        else:
            header = "Negotiate"
        self._send(401, headers={"WWW-Authenticate": header})

    # -- authentication ----------------------------------------------------------------------

    def _basic(self, header: str) -> str | None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        user = user.split("\\")[-1]
        known = self.server.winrm.host.users.get(user)
        return user if known is not None and known == password else None

    def _negotiate(self, header: str) -> tuple[str | None, bool]:
        """Step this connection's context. Returns (user once authenticated, answered)."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("negotiate", "ntlm") or not value:
            self._challenge()
            return None, True
        token = base64.b64decode(value)
        if (
            self.context is None
            or token.startswith(b"NTLMSSP\x00\x01\x00\x00\x00")
            or (token[:1] == b"\x60")
        ):
            self.context = spnego.server(protocol="negotiate")
            self.user = None
        bindings = self.server.winrm._bindings if self.server.spec.cbt else None
        try:
            if bindings is not None:
                _require_bindings(token)
            out = self.context.step(token, channel_bindings=bindings)
        except Exception:  # a bad token or a wrong password, in any of pyspnego's ways
            self.context = None
            self._challenge()
            return None, True
        if not self.context.complete:
            self._challenge(out)
            return None, True
        principal = str(self.context.client_principal or "")
        user = principal.split("\\")[-1]
        if user not in self.server.winrm.host.users:
            self.context = None
            self._challenge()
            return None, True
        self.final_token = out
        return user, False

    def _certificate(self, header: str) -> str | None:
        if header.strip().lower() != MUTUAL:
            return None
        der = self.request.getpeercert(binary_form=True) if self.server.tls else None
        user = upn_of(der) if der else None
        return user if user in self.server.winrm.host.certificate_users else None

    # -- one request -------------------------------------------------------------------------

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.rstrip("/").lower() != "/wsman":
            self._send(404)
            return
        spec = self.server.spec
        header = self.headers.get("Authorization", "")
        self.final_token = None
        if spec.auth == "negotiate":
            if header or self.user is None:
                user, answered = self._negotiate(header)
                if answered:
                    return
                self.user = user
        elif spec.auth == "basic":
            self.user = self._basic(header)
        else:
            self.user = self._certificate(header)
        if self.user is None:
            self._challenge()
            return
        content_type = self.headers.get("Content-Type", "")
        sealed = "multipart/encrypted" in content_type
        if sealed:
            try:
                body = self._unseal(body)
            except (ValueError, SpnegoError, struct.error, IndexError):
                self._send(400)
                return
        elif body and spec.encrypt:
            # AllowUnencrypted=false: Windows turns plaintext away.
            self._challenge()
            return
        headers: dict[str, str] = {}
        if self.final_token:
            headers["WWW-Authenticate"] = "Negotiate " + base64.b64encode(self.final_token).decode()
        if not body:
            self._send(200, headers=headers)
            return
        status, reply = self.server.winrm._dispatch(body, self.user, self.client_address[0])
        if sealed:
            reply = self._seal(reply)
            headers["Content-Type"] = (
                f'multipart/encrypted;protocol="{SPNEGO_ENCRYPTED}";boundary="Encrypted Boundary"'
            )
        self._send(status, reply, headers)

    def _unseal(self, body: bytes) -> bytes:
        if self.context is None:
            raise ValueError("no security context")
        parts = [p for p in re.split(rb"--Encrypted Boundary(?:--)?\r\n", body) if p]
        message = b""
        for index in range(0, len(parts) - 1, 2):
            expected = int(parts[index].split(b"Length=")[1].strip())
            payload = parts[index + 1].replace(b"\tContent-Type: application/octet-stream\r\n", b"")
            size = struct.unpack("<i", payload[:4])[0]
            plain = self.context.unwrap_winrm(payload[4 : 4 + size], payload[4 + size :])
            if len(plain) != expected:
                raise ValueError("length mismatch")
            message += plain
        return message

    def _seal(self, message: bytes) -> bytes:
        result = self.context.wrap_winrm(message)
        header, data, padding = result.header, result.data, result.padding_length
        return (
            BOUNDARY
            + b"\r\n\tContent-Type: "
            + SPNEGO_ENCRYPTED.encode()
            + b"\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(message) + padding).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(header))
            + header
            + data
            + BOUNDARY
            + b"--\r\n"
        )


def _require_bindings(token: bytes) -> None:
    """CbtHardeningLevel=Strict: the AUTHENTICATE message must carry channel bindings that are
    not all zeros (pyspnego's acceptor lets zeros through; Windows does not)."""
    from spnego._ntlm_raw.messages import AvId, NTClientChallengeV2
    from spnego._spnego import NegTokenResp, unpack_token

    if not token.startswith(b"NTLMSSP\x00"):
        unpacked = unpack_token(token)
        if isinstance(unpacked, NegTokenResp) and unpacked.response_token:
            token = unpacked.response_token
        else:
            return
    if token[8:12] != b"\x03\x00\x00\x00":  # only AUTHENTICATE carries them
        return
    from spnego._ntlm_raw.messages import Authenticate

    response = Authenticate.unpack(token).nt_challenge_response or b""
    if len(response) <= 24:
        raise ValueError("NTLMv1 has no channel bindings")
    pairs = NTClientChallengeV2.unpack(response[16:]).av_pairs
    bindings = pairs.get(AvId.channel_bindings)
    if not bindings or bindings == b"\x00" * 16:
        raise ValueError("channel bindings missing")


class WinRMServer:
    """A fake Windows host (`host`) reachable over WinRM on loopback ports (`url(listener)`)."""

    def __init__(self, directory: Path, machine: str = "ORCA-WIN") -> None:
        self.directory = directory
        self.host = FakeWindows(machine)
        self.authority = Authority()
        server = self.authority.server()
        self.server_cert_path, self.server_key_path = server.write(directory, "winrm-server")
        self.ca_path = directory / "winrm-ca.pem"
        self.ca_path.write_text(self.authority.pem)
        certificate = x509.load_pem_x509_certificate(server.certificate.encode())
        digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
        self._bindings = GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
        self._listeners: dict[str, _Listener] = {}
        self._threads: list[threading.Thread] = []

    @property
    def ca_pem(self) -> str:
        return self.authority.pem

    def _tls_context(self, spec: ListenerSpec) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert_path, self.server_key_path)
        if spec.auth == "certificate":
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca_path))
        return context

    def add_user(self, username: str, password: str) -> None:
        self.host.add_user(username, password)
        _publish_ntlm_accounts(id(self), self.host.users)

    def client_certificate(self, username: str) -> Issued:
        """A certificate that authenticates as `username` on the cert-https listener."""
        self.host.certificate_users.add(username)
        return self.authority.client(username)

    def start(self, listeners: tuple[str, ...] = LISTENERS) -> WinRMServer:
        for name in listeners:
            listener = _Listener(self, SPECS[name])
            thread = threading.Thread(
                target=listener.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            thread.start()
            self._listeners[name] = listener
            self._threads.append(thread)
        return self

    def port(self, listener: str) -> int:
        return int(self._listeners[listener].server_address[1])

    def url(self, listener: str) -> str:
        scheme = "https" if SPECS[listener].tls else "http"
        return f"{scheme}://127.0.0.1:{self.port(listener)}/wsman"

    def _dispatch(self, body: bytes, user: str, client_ip: str) -> tuple[int, bytes]:
        request = None
        try:
            request = wsman.parse(body)
            return 200, self.host.handle(request, user, client_ip)
        except wsman.Fault as fault:
            relates = request.message_id if request is not None else ""
            return 500, wsman.fault_envelope(fault, relates, self.host.machine)

    def stop(self) -> None:
        for listener in self._listeners.values():
            listener.shutdown()
            listener.server_close()
        self._listeners.clear()
        self.host.close()
        _publish_ntlm_accounts(id(self), None)

    def __enter__(self) -> WinRMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
