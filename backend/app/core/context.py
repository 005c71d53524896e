"""Who is on the other end of the current request: set by the middleware, read by the audit
trail, so services need not pass the client's address and user agent through every call."""

from __future__ import annotations

import contextvars
import ipaddress
from dataclasses import dataclass

MAX_USER_AGENT = 300


@dataclass(frozen=True)
class ClientContext:
    ip: str | None = None
    user_agent: str | None = None


client_var: contextvars.ContextVar[ClientContext | None] = contextvars.ContextVar(
    "client", default=None
)


def current_client() -> ClientContext:
    """The current request's client, or an empty context outside a request (CLI, worker)."""
    return client_var.get() or ClientContext()


def client_context(host: str | None, user_agent: str | None) -> ClientContext:
    """A client context with a valid IP address (or none) and a user agent of bounded length."""
    ip: str | None = None
    if host:
        try:
            ip = str(ipaddress.ip_address(host))
        except ValueError:
            ip = None
    agent = user_agent[:MAX_USER_AGENT] if user_agent else None
    return ClientContext(ip=ip, user_agent=agent)
