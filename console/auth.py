"""Who may see what: the login gate in front of every route, and the checks routes call.

:class:`AuthGate` is an ASGI middleware. A request without a live session gets nothing: a
browser's page request is redirected to ``/login``, anything else is answered 401. With one,
``request.scope["account"]`` is the :class:`~console.accounts.Account`. Every request other
than GET/HEAD must carry the session's CSRF token as the form field ``csrf`` (the gate reads an
url-encoded body itself, checks the token in constant time and leaves the parsed form in
``request.scope["form"]``; any other body is refused).

Routes then call :func:`require_role`, :func:`may_see_patient` and :func:`may_tune`, and write
:func:`audit_actor` as the actor of anything they store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.accounts import Account
from console.auth_sessions import LoginSession, csrf_matches, find_session
from console.db import open_database

SESSION_COOKIE = "vagus_session"
#: Paths open without a session: the login form and its POST.
PUBLIC_PATHS = frozenset({"/login"})
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline';"
    " script-src 'none'; form-action 'self'; frame-ancestors 'none'",
}


def cookie_attributes(secure: bool) -> dict[str, object]:
    """HttpOnly, SameSite=Strict, and Secure unless the console serves loopback plain http."""
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}


class AuthGate:
    """Let through only requests of a live session (and, for a change, its CSRF token)."""

    def __init__(
        self, app: ASGIApp, database: str, *, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.app = app
        self.database = database
        self.clock_ns = clock_ns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        request = Request(scope)
        changes = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        if changes:
            form = await _read_form(request, receive)
            if form is None:
                await PlainTextResponse("a form of at most 64 KiB, url-encoded", 415)(
                    scope, receive, send
                )
                return
            scope["form"] = form
            receive = _replay(form.pop("\0body", ""))
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await run_in_threadpool(self._session, token) if token else None
        if scope["path"] in PUBLIC_PATHS:
            scope["login_session"] = session
            await self.app(scope, receive, send)
            return
        if session is None:
            await _refusal(request)(scope, receive, send)
            return
        if changes and not csrf_matches(session, scope["form"].get("csrf", "")):
            await PlainTextResponse("the form's CSRF token does not match the session", 403)(
                scope, receive, send
            )
            return
        scope["account"] = session.account
        scope["login_session"] = session
        await self.app(scope, receive, send)

    def _session(self, token: str) -> LoginSession | None:
        with open_database(self.database) as db:
            return find_session(db, token, self.clock_ns())


def _refusal(request: Request) -> Response:
    """A browser asking for a page goes to the login form; everything else is 401, bare."""
    wants_page = request.method in ("GET", "HEAD") and "text/html" in request.headers.get(
        "accept", ""
    )
    if wants_page:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return PlainTextResponse("log in first", 401, headers={"www-authenticate": "Cookie"})


async def _read_form(request: Request, receive: Receive) -> dict[str, str] | None:
    """The url-encoded form of the body (the raw body kept under ``"\\0body"``), or ``None``."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks).decode("utf-8", "replace")
    if body and kind != "application/x-www-form-urlencoded":
        return None
    try:
        form = dict(parse_qsl(body, keep_blank_values=True, max_num_fields=200))
    except ValueError:  # more fields than any form of the console has
        return None
    form["\0body"] = body
    return form


def _replay(body: str) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    return receive


def _with_security_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for key, value in SECURITY_HEADERS.items():
                headers.setdefault(key, value)
        await send(message)

    return sending


def current_account(request: Request) -> Account:
    """The logged-in account (the gate guarantees one on every non-public route)."""
    account = request.scope.get("account")
    if not isinstance(account, Account):
        raise HTTPException(401, "log in first")
    return account


def require_role(request: Request, *roles: str) -> Account:
    """The logged-in account if its role is one of ``roles``; 403 otherwise."""
    account = current_account(request)
    if account.role not in roles:
        raise HTTPException(403, f"this page is for: {', '.join(roles)}")
    return account


def may_see_patient(account: Account, patient_id: str) -> bool:
    """Clinicians see their assigned patients; engineers and admins see every patient."""
    return account.role in ("engineer", "admin") or patient_id in account.patients


def may_tune(account: Account, patient_id: str) -> bool:
    """Only a clinician, and only for a patient assigned to them."""
    return account.role == "clinician" and patient_id in account.patients


def visible(account: Account, patient_ids: Iterable[str]) -> list[str]:
    return [p for p in patient_ids if may_see_patient(account, p)]


def audit_actor(request: Request) -> str:
    """The actor to write in an audit entry: the logged-in account's name, never free text."""
    return current_account(request).name


def csrf_token(request: Request) -> str:
    """The session's CSRF token, for a form's hidden ``csrf`` field."""
    session = request.scope.get("login_session")
    return session.csrf if isinstance(session, LoginSession) else ""


def posted_form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST, as the gate parsed it (and checked its token)."""
    form = request.scope.get("form")
    return dict(form) if isinstance(form, dict) else {}
