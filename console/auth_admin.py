"""The admin pages: add accounts, change roles, disable or enable accounts, assign patients.

Every route requires the ``admin`` role (403 otherwise); every change is audited with the
logged-in admin's name as actor. An admin cannot disable or demote their own account, so the
console always keeps an admin who can undo a mistake.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import accounts, queries
from console.accounts import AccountError
from console.auth import audit_actor, posted_form, require_role
from console.auth_pages import Render
from console.db import Database


def admin_routes(
    connected: Callable[[], Database], render: Render, clock_ns: Callable[[], int]
) -> list[Route]:
    def overview(request: Request, status_code: int = 200, message: str = "") -> Response:
        require_role(request, "admin")
        with connected() as db:
            people = accounts.accounts(db)
            patients = queries.patient_ids(db)
            log = accounts.audit_log(db)
        return render(
            request,
            "admin.html",
            status_code,
            title="Accounts",
            people=people,
            roles=accounts.ROLES,
            patients=patients,
            log=log,
            message=message,
        )

    def change(request: Request) -> Response:
        admin = require_role(request, "admin")
        fields = posted_form(request)
        action, name = str(request.path_params["action"]), fields.get("name", "")
        actor, now = audit_actor(request), clock_ns()
        try:
            with connected() as db:
                if action == "add":
                    accounts.add_account(
                        db,
                        name,
                        fields.get("role", ""),
                        fields.get("password", ""),
                        actor=actor,
                        now_ns=now,
                    )
                elif action == "role":
                    _not_self(admin.name, name, "change the role of")
                    accounts.set_role(db, name, fields.get("role", ""), actor=actor, now_ns=now)
                elif action in ("disable", "enable"):
                    _not_self(admin.name, name, "disable")
                    accounts.set_disabled(db, name, action == "disable", actor=actor, now_ns=now)
                elif action in ("assign", "unassign"):
                    patient = fields.get("patient_id", "")
                    accounts.assign(db, name, patient, action == "assign", actor=actor, now_ns=now)
                else:
                    return overview(request, 404, f"no such action: {action}")
        except AccountError as exc:
            return overview(request, 400, str(exc))
        return RedirectResponse("/admin", status_code=303)

    return [
        Route("/admin", overview),
        Route("/admin/{action}", change, methods=["POST"]),
    ]


def _not_self(admin: str, name: str, what: str) -> None:
    if admin == name:
        raise AccountError(f"an admin cannot {what} their own account")
