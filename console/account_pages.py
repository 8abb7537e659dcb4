"""Self-service: a signed-in account changes its own password.

The current password is asked again (a session left open on a ward computer must not be enough)
and is throttled exactly like a login: its failures count against the same account and address
(``console.auth_sessions``), so guessing here locks logins too. The new password is typed twice
and follows the rule of account creation (:func:`console.accounts.check_password`).

On success every session of the account ends, the current one included, and this browser gets a
fresh one (new token, new CSRF token): a password is usually changed because it may be known to
someone else, who may hold a session too, and a re-issued token leaves no old cookie alive, not
even a copy of this one. The person who changed it stays signed in. Hash, sessions and audit entry
change in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import accounts
from console.accounts import AccountError
from console.auth import SESSION_COOKIE, cookie_attributes, current_account, posted_form
from console.auth_pages import Render
from console.auth_sessions import (
    clear_failures,
    end_sessions_of,
    locked_for_ns,
    record_failure,
    start_session,
)
from console.db import Database

PATH = "/account/password"


def account_routes(
    connected: Callable[[], Database], render: Render, clock_ns: Callable[[], int], secure: bool
) -> list[Route]:
    attributes = cookie_attributes(secure)

    def form(request: Request, status_code: int = 200, message: str = "") -> Response:
        current_account(request)
        changed = request.method == "GET" and request.query_params.get("changed") == "1"
        return render(
            request,
            "account_password.html",
            status_code,
            title="Change your password",
            minimum=accounts.MIN_PASSWORD,
            changed=changed,
            message=message,
        )

    def change(request: Request) -> Response:
        account = current_account(request)
        fields = posted_form(request)
        new, again = fields.get("new_password", ""), fields.get("new_password_again", "")
        address = request.client.host if request.client else "unknown"
        now = clock_ns()
        with connected() as db:
            wait_ns = locked_for_ns(db, account.name, address, now)
            if wait_ns > 0:
                minutes = -(-wait_ns // (60 * 10**9))
                return form(
                    request,
                    429,
                    "Too many wrong passwords for this account or from this address;"
                    f" try again in {minutes} minute(s).",
                )
            if (
                accounts.verify_password(db, account.name, fields.get("current_password", ""))
                is None
            ):
                record_failure(db, account.name, address, now)
                return form(request, 403, "The current password is wrong.")
            clear_failures(db, account.name)
            if new != again:
                return form(request, 400, "The two new passwords differ.")
            try:
                with db.transaction():
                    accounts.set_password(db, account.name, new, actor=account.name, now_ns=now)
                    end_sessions_of(db, account.name)
                    session = start_session(db, account, now)
            except AccountError as exc:
                return form(request, 400, f"The new password is refused: {exc}.")
        answer = RedirectResponse(f"{PATH}?changed=1", status_code=303)
        answer.set_cookie(SESSION_COOKIE, session.token, **attributes)  # type: ignore[arg-type]
        return answer

    return [Route(PATH, form, methods=["GET"]), Route(PATH, change, methods=["POST"])]
