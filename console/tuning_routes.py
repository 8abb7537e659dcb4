"""The tuning pages: a patient's policy form, the preview of a change, and its audited publish.

The routes are handed what they need (the database, the publish callable, the clock) and are
wired into the application by ``console.web``. The signed-in account is read from
``request.scope["account"]`` (an object with ``name`` and ``role``, put there by the accounts
middleware): no account is 401, a role other than clinician or admin may look at the form but not
preview or publish (403). ``csrf_field(request)`` renders the form's anti-forgery field (the
accounts middleware supplies it; empty by default).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

import jinja2
import msgspec
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from closedloop.policy import PolicyError
from console.auth import csrf_token
from console.db import Database, open_database, redacted
from console.policies import policy_log
from console.queries import last_data_ns
from console.registry import enrolment
from console.svg import utc
from console.tuning import Publish, form_fields, proposal, publish_tuning
from console.tuning_preview import DEFAULT_DAYS, preview
from stream.events import PolicySnapshot
from stream.ids import PATIENT_ID_PATTERN

TEMPLATES = Path(__file__).parent / "templates"
#: Who may preview and publish a change.
TUNING_ROLES = frozenset({"clinician", "admin"})
MAX_FORM_BYTES = 64 * 1024
#: Past the last data, how long the preview still looks for the decisions that data caused.
DECISION_MARGIN_NS = 60 * 10**9
FORM_ONLY = (
    f"send the form URL-encoded (application/x-www-form-urlencoded, at most {MAX_FORM_BYTES} bytes)"
)


class Account(Protocol):
    name: str
    role: str


def _csrf_input(request: Request) -> Markup:
    """The session's anti-forgery token as a hidden field (console.auth checks it on POST)."""
    return Markup('<input type="hidden" name="csrf" value="{}">').format(csrf_token(request))


def _any_patient(account: Account, patient_id: str) -> bool:
    return True


def _tuning_role(account: Account, patient_id: str) -> bool:
    return account.role in TUNING_ROLES


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["utc"] = lambda ns: "—" if ns is None else utc(int(ns))
    return env


def tuning_routes(
    database: str,
    publish: Publish,
    *,
    default_policy: PolicySnapshot | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
    preview_days: int = DEFAULT_DAYS,
    csrf_field: Callable[[Request], Markup] = _csrf_input,
    may_see: Callable[[Any, str], bool] = _any_patient,
    may_change: Callable[[Any, str], bool] = _tuning_role,
) -> list[Route]:
    """GET ``/patients/{id}/tuning``, POST ``.../tuning/preview`` and ``.../tuning/publish``.

    ``may_see`` and ``may_change`` decide per account and patient (the console passes
    ``console.auth``'s rules: a clinician sees and tunes assigned patients only)."""
    pages = _TuningPages(
        database,
        publish,
        default=default_policy or PolicySnapshot(),
        clock_ns=clock_ns,
        preview_days=preview_days,
        csrf_field=csrf_field,
        may_see=may_see,
        may_change=may_change,
    )
    prefix = "/patients/{patient_id}/tuning"
    return [
        Route(prefix, pages.form, methods=["GET"]),
        Route(f"{prefix}/preview", pages.preview, methods=["POST"]),
        Route(f"{prefix}/publish", pages.publish, methods=["POST"]),
    ]


class _TuningPages:
    def __init__(
        self,
        database: str,
        publish: Publish,
        *,
        default: PolicySnapshot,
        clock_ns: Callable[[], int],
        preview_days: int,
        csrf_field: Callable[[Request], Markup],
        may_see: Callable[[Any, str], bool],
        may_change: Callable[[Any, str], bool],
    ) -> None:
        self._may_see = may_see
        self._may_change = may_change
        self._env = _environment()
        self._database = database
        self._publish = publish
        self._default = default
        self._clock_ns = clock_ns
        self._days = preview_days
        self._csrf_field = csrf_field

    def _page(
        self, request: Request, name: str, status_code: int = 200, **context: Any
    ) -> Response:
        html = self._env.get_template(name).render(
            csrf_field=self._csrf_field(request),
            account=request.scope.get("account"),
            csrf=csrf_token(request),
            **context,
        )
        return HTMLResponse(html, status_code=status_code)

    def _refused(self, request: Request, status_code: int, message: str) -> Response:
        return self._page(
            request, "tuning_refused.html", status_code, title="Refused", message=message
        )

    def _gate(self, request: Request, *, writes: bool) -> tuple[str, Account] | Response:
        """The patient id and the account, or the page that refuses the request."""
        account = request.scope.get("account")
        if account is None:
            return self._refused(request, 401, "sign in to tune a patient's policy")
        patient_id = str(request.path_params["patient_id"])
        if not re.fullmatch(PATIENT_ID_PATTERN, patient_id) or not self._may_see(
            account, patient_id
        ):
            return self._refused(request, 404, "there is no patient with that pseudonym")
        if writes and not self._may_change(account, patient_id):
            message = f"this {account.role} account may not change the policy of this patient"
            return self._refused(request, 403, message)
        return patient_id, account

    def _end_ns(self, db: Database, patient_id: str) -> int:
        """Where the preview's days end: this patient's last data (a gateway offline for a week
        still has a week to show), never later than now."""
        last = last_data_ns(db, patient_id)
        now = self._clock_ns()
        return now if last is None else min(now, last + DECISION_MARGIN_NS)

    def _current(self, db: Database, patient_id: str) -> tuple[int, PolicySnapshot]:
        state = policy_log(db, patient_id, self._default).state
        return state.version, state.policy

    def _form_page(
        self,
        request: Request,
        patient_id: str,
        db: Database,
        *,
        status_code: int = 200,
        errors: str = "",
        shown: Mapping[str, str] | None = None,
    ) -> Response:
        version, policy = self._current(db, patient_id)
        fields = form_fields(policy)
        values = {f.name: (shown or {}).get(f.name, f.value) for f in fields}
        return self._page(
            request,
            "tuning.html",
            status_code,
            title=f"Tune the policy of {patient_id}",
            patient_id=patient_id,
            version=version,
            fields=fields,
            values=values,
            errors=errors,
            enrolled=enrolment(db, patient_id),
            database_hint=redacted(db.url),
            days=self._days,
        )

    async def form(self, request: Request) -> Response:
        gated = self._gate(request, writes=False)
        if isinstance(gated, Response):
            return gated
        with open_database(self._database) as db:
            return self._form_page(request, gated[0], db)

    async def preview(self, request: Request) -> Response:
        gated = self._gate(request, writes=True)
        if isinstance(gated, Response):
            return gated
        patient_id = gated[0]
        form = await _form(request)
        if form is None:
            return self._refused(request, 400, FORM_ONLY)
        with open_database(self._database) as db:
            if enrolment(db, patient_id) is None:
                return self._form_page(request, patient_id, db, status_code=409)
            version, policy = self._current(db, patient_id)
            try:
                proposed = proposal(policy, form)
            except PolicyError as exc:
                return self._form_page(
                    request, patient_id, db, status_code=400, errors=str(exc), shown=form
                )
            found = preview(
                db, patient_id, policy, proposed.policy, end_ns=self._end_ns(db, patient_id),
                days=self._days,
            )  # fmt: skip
        before, after = msgspec.structs.asdict(policy), msgspec.structs.asdict(proposed.policy)
        return self._page(
            request,
            "tuning_preview.html",
            title=f"Preview of a change for {patient_id}",
            patient_id=patient_id,
            version=version,
            changed=[(k, before[k], after[k]) for k in after if after[k] != before[k]],
            values={name: form[name] for name in form if name in before},
            preview=found,
            days=self._days,
        )

    async def publish(self, request: Request) -> Response:
        gated = self._gate(request, writes=True)
        if isinstance(gated, Response):
            return gated
        patient_id, account = gated
        form = await _form(request)
        if form is None:
            return self._refused(request, 400, FORM_ONLY)
        with open_database(self._database) as db:
            _version, policy = self._current(db, patient_id)
            try:
                assignments = proposal(policy, form).assignments
            except PolicyError as exc:
                return self._refused(request, 400, str(exc))
        try:
            published = await publish_tuning(
                self._database,
                self._publish,
                patient_id=patient_id,
                assignments=assignments,
                actor=f"{account.role}:{account.name}",
                reason=form.get("reason", ""),
            )
        except PolicyError as exc:
            return self._refused(request, 409, str(exc))
        return self._page(
            request,
            "tuning_published.html",
            title=f"Policy v{published.version.version} of {patient_id} published",
            patient_id=patient_id,
            published=published,
        )


async def _form(request: Request) -> dict[str, str] | None:
    """A URL-encoded form's fields (the last value of each), or ``None`` for another body.

    Behind the accounts gate (console.auth) the form is the one it read and checked the CSRF
    token of (``scope["form"]``), not parsed a second time; without the gate (tests mounting the
    routes alone) it is read by hand (no multipart parser needed). Blank values are kept: a
    blank optional key means "unset".
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        return None
    gated: Mapping[str, str] | None = request.scope.get("form")
    if gated is not None:
        return dict(gated)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}
