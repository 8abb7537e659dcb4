"""The login and logout pages.

The login form has no session to tie a CSRF token to, so it carries a double-submit token: a
random value in a SameSite=Strict, HttpOnly cookie and the same value in the form, compared in
constant time. Throttling (``console.auth_sessions``) is checked before the password.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console.accounts import verify_password
from console.auth import SESSION_COOKIE, cookie_attributes, posted_form
from console.auth_sessions import (
    LoginSession,
    clear_failures,
    end_session,
    locked_for_ns,
    record_failure,
    start_session,
)
from console.db import Database

LOGIN_CSRF_COOKIE = "vagus_login_csrf"


class Render(Protocol):
    def __call__(
        self, request: Request, name: str, status_code: int = 200, **context: object
    ) -> Response: ...


def login_routes(
    connected: Callable[[], Database], render: Render, clock_ns: Callable[[], int], secure: bool
) -> list[Route]:
    attributes = cookie_attributes(secure)

    def form(request: Request, status_code: int = 200, message: str = "") -> Response:
        token = secrets.token_urlsafe(32)
        answer = render(
            request,
            "login.html",
            status_code,
            title="Log in",
            login_csrf=token,
            next_path=_safe_next(request.query_params.get("next", "/")),
            message=message,
        )
        answer.set_cookie(LOGIN_CSRF_COOKIE, token, **attributes)  # type: ignore[arg-type]
        return answer

    def login(request: Request) -> Response:
        if request.method == "GET":
            return form(request)
        fields = posted_form(request)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        offered = fields.get("login_csrf", "")
        if not cookie or not secrets.compare_digest(cookie.encode(), offered.encode()):
            return form(request, 403, "The form expired; please log in again.")
        name, password = fields.get("name", ""), fields.get("password", "")
        address = request.client.host if request.client else "unknown"
        now = clock_ns()
        with connected() as db:
            wait_ns = locked_for_ns(db, name, address, now)
            if wait_ns > 0:
                minutes = -(-wait_ns // (60 * 10**9))
                return form(
                    request,
                    429,
                    "Too many failed logins for this account or from this address;"
                    f" logins are locked for {minutes} more minute(s).",
                )
            account = verify_password(db, name, password)
            if account is None:
                record_failure(db, name, address, now)
                return form(request, 401, "Wrong name or password, or the account is disabled.")
            clear_failures(db, name)
            session = start_session(db, account, now)
        answer = RedirectResponse(_safe_next(fields.get("next", "/")), status_code=303)
        answer.set_cookie(SESSION_COOKIE, session.token, **attributes)  # type: ignore[arg-type]
        answer.delete_cookie(LOGIN_CSRF_COOKIE, **attributes)  # type: ignore[arg-type]
        return answer

    def logout(request: Request) -> Response:
        session = request.scope.get("login_session")
        if isinstance(session, LoginSession):
            with connected() as db:
                end_session(db, session.token)
        answer = RedirectResponse("/login", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, **attributes)  # type: ignore[arg-type]
        return answer

    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _safe_next(path: str) -> str:
    """Only a path on this site (no scheme, no ``//host``) is followed after login."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"
