"""The admin's enrolment page: list the enrolled patients, enrol or unenrol a pseudonym.

The same registry functions as `vagus console enrol|unenrol` (so the same check of the
pseudonym and the same messages), with the signed-in admin as actor: :func:`registry.enrol_as`
checks the name against the accounts and audits the change. Admin role only (403 otherwise);
the gate has checked the form's CSRF token before a POST gets here.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import registry
from console.accounts import audit_log
from console.auth import posted_form, require_role
from console.auth_pages import Render
from console.db import Database
from console.registry import RegistryError
from console.svg import utc

PATH = "/admin/patients"


def enrol_routes(
    connected: Callable[[], Database], render: Render, clock_ns: Callable[[], int]
) -> list[Route]:
    def overview(request: Request, status_code: int = 200, message: str = "") -> Response:
        require_role(request, "admin")
        with connected() as db:
            patients = registry.enrolled(db)
            log = audit_log(db, actions=("enrol", "unenrol"))
        return render(
            request,
            "enrolment.html",
            status_code,
            title="Enrolled patients",
            enrolled=patients,
            log=log,
            message=message,
        )

    def change(request: Request) -> Response:
        admin = require_role(request, "admin")
        action = str(request.path_params["action"])
        patient_id = posted_form(request).get("patient_id", "").strip()
        now = clock_ns()
        if action not in ("enrol", "unenrol"):
            return overview(request, 404, f"no such action: {action}")
        try:
            with connected() as db:
                if action == "enrol":
                    found, changed = registry.enrol_as(db, patient_id, admin.name, now)
                    unchanged = (
                        f"{patient_id} was already enrolled by {found.enrolled_by}"
                        f" at {utc(found.enrolled_ns)}; nothing changed."
                    )
                else:
                    changed = registry.unenrol_as(db, patient_id, admin.name, now)
                    unchanged = f"{patient_id} was not enrolled; nothing changed."
        except RegistryError as exc:
            return overview(request, 400, str(exc))
        if not changed:
            return overview(request, 200, unchanged)
        return RedirectResponse(PATH, status_code=303)

    return [
        Route(PATH, overview, methods=["GET"]),
        Route(f"{PATH}/{{action}}", change, methods=["POST"]),
    ]
