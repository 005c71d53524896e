"""Serving the web console's production build from the API process, at `/`.

The console answers only requests no route matched (it is the router's default handler), so
every API route, including one added after the app is built, comes first. Files under
`assets/` carry a content hash in their names, so they are cached for a year; everything else,
and any path that is not a file (a client-side route such as `/jobs/42`), gets `index.html`,
never cached, so a new build is picked up at the next load. Paths under `/api` are never
answered with the console: a mistyped API URL stays a JSON 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

import app as app_package

# Scripts only from this origin; MUI's runtime styles need inline <style>; the API and its
# WebSocket are this same origin. Nothing may frame the console.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_RESERVED = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz")


def default_console_dir() -> Path:
    """`frontend/dist` of the source tree this package runs from."""
    return Path(app_package.__file__).resolve().parents[2] / "frontend" / "dist"


def mount_console(app: FastAPI, directory: Path | None) -> bool:
    """Serve the build in `directory` (or the default) at `/`; False when there is none."""
    root = (directory or default_console_dir()).resolve()
    index = root / "index.html"
    if not index.is_file():
        return False
    not_found = app.router.default

    async def console(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or path.startswith(_RESERVED)
        ):
            await not_found(scope, receive, send)
            return
        candidate = (root / path.lstrip("/")).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            cache = "no-cache"
            if candidate.is_relative_to(root / "assets"):
                cache = "public, max-age=31536000, immutable"
            response = FileResponse(candidate, headers={**SECURITY_HEADERS, "Cache-Control": cache})
        else:
            response = FileResponse(
                index, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"}
            )
        await response(scope, receive, send)

    app.router.default = console
    return True
