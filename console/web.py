"""The console's web application (Starlette): server-rendered pages, no script, no CDN.

Each request opens its own database connection and closes it (a SQLite file or a PostgreSQL
server). Every route but ``/login`` sits behind :class:`console.auth.AuthGate`; a patient the
account may not see is answered exactly as one that does not exist (404). Patients appear by
pseudonym only, and a path that is not a pseudonym is not looked up at all.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import jinja2
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from closedloop.policy import PolicyError
from closedloop.policy_store import Published
from console import queries
from console.account_pages import account_routes
from console.auth import (
    AuthGate,
    csrf_token,
    current_account,
    may_see_patient,
    may_tune,
    visible,
)
from console.auth_admin import admin_routes
from console.auth_pages import Render, login_routes
from console.db import Database, open_database
from console.enrol_pages import enrol_routes
from console.export import timeline_csv
from console.fhir import fhir_bundle
from console.pages import (
    TimeRange,
    default_range,
    effects,
    randomised,
    response,
    session_label,
    timeline,
    why,
)
from console.policies import policy_log
from console.scorer_facts import ScorerFactsByMethod
from console.svg import utc
from console.times import BadRangeError, parse_utc
from console.tuning import Publish
from console.tuning_routes import tuning_routes
from stream.events import PolicySnapshot
from stream.ids import PATIENT_ID_PATTERN

TEMPLATES = Path(__file__).parent / "templates"
#: An export of one patient's range: the CSV timeline, the FHIR bundle.
Export = Callable[[Database, str, TimeRange | None], Response]
NO_RANGE = TimeRange(0, -1)
EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["utc"] = lambda ns: "—" if ns is None else utc(int(ns))
    env.filters["session_label"] = session_label
    env.filters["response"] = response
    return env


def create_app(
    database: str,
    *,
    default_policy: PolicySnapshot | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
    secure_cookies: bool = True,
    publish: Publish | None = None,
    scorer_facts: ScorerFactsByMethod | None = None,
) -> Starlette:
    """The console over ``database`` (a SQLite path or a PostgreSQL URL).

    ``default_policy`` is the policy the closed loop applies before a patient's first version
    (the configuration's); ``clock_ns`` is "now" for the no-data alert and for sessions;
    ``secure_cookies`` is False only when serving plain http on loopback; ``publish`` writes a
    tuned policy through the audited path (console.tuning.kafka_publisher), None when the
    console has no broker: the tuning form and preview work, publishing is refused;
    ``scorer_facts`` is what the patient page says about each scorer's accuracy
    (console.scorer_facts; a scorer without facts is said to have none).
    """
    page = _renderer(_environment())
    policy = default_policy or PolicySnapshot()
    facts = dict(scorer_facts or {})

    def connected() -> Database:
        return open_database(database)

    def not_found(request: Request, what: str) -> Response:
        return page(request, "not_found.html", 404, title="Not found", what=what)

    def known(request: Request, db: Database, patient_id: str) -> bool:
        """The patient has data and this account may see it (both answered alike: 404)."""
        account = current_account(request)
        return may_see_patient(account, patient_id) and patient_id in queries.patient_ids(db)

    def patients(request: Request) -> Response:
        now = clock_ns()
        account = current_account(request)
        with connected() as db:
            shown = visible(account, queries.patient_ids(db))
            rows = [queries.patient_status(db, p, now) for p in shown]
        return page(request, "patients.html", title="Patients", patients=rows, now_ns=now)

    def patient(request: Request) -> Response:
        def render(db: Database, patient_id: str, window: TimeRange | None) -> Response:
            spans = [] if window is None else [window.start_ns, window.end_ns]
            scorer = queries.latest_scorer(db, patient_id)
            return page(
                request,
                "patient.html",
                title=patient_id,
                status=queries.patient_status(db, patient_id, clock_ns()),
                window=window,
                figure=None if window is None else timeline(db, patient_id, window, policy),
                sessions=queries.sessions(db, patient_id, *spans) if spans else [],
                decisions=queries.decisions(db, patient_id, *spans) if spans else [],
                effects=effects(db, patient_id),
                randomised=randomised(db, patient_id, policy),
                scorer=scorer,
                scorer_facts=None if scorer is None else facts.get(scorer),
            )

        return shown_range(request, render)

    def shown_range(request: Request, render: Export) -> Response:
        """What the patient page and its exports share: a pseudonym this account may see, a
        valid range (the page's default when none is asked; None without data)."""
        patient_id = str(request.path_params["patient_id"])
        if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
            return not_found(request, "a patient with that pseudonym")
        with connected() as db:
            if not known(request, db, patient_id):
                return not_found(request, f"patient {patient_id}")
            try:
                window = _requested_range(request) or default_range(db, patient_id)
            except BadRangeError as exc:
                return page(request, "bad_request.html", 400, title="Bad range", message=str(exc))
            return render(db, patient_id, window)

    def timeline_export(request: Request) -> Response:
        return shown_range(request, _timeline_csv)

    def fhir_export(request: Request) -> Response:
        return shown_range(request, functools.partial(_fhir_json, now_ns=clock_ns()))

    def policy_history(request: Request) -> Response:
        patient_id = str(request.path_params["patient_id"])
        if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
            return not_found(request, "a patient with that pseudonym")
        with connected() as db:
            if not known(request, db, patient_id):
                return not_found(request, f"patient {patient_id}")
            log = policy_log(db, patient_id, policy)
        return page(
            request,
            "policy.html",
            title=f"Policy history of {patient_id}",
            patient_id=patient_id,
            log=log,
            current=dict(msgspec.to_builtins(log.state.policy)),
        )

    def decision(request: Request) -> Response:
        event_id = str(request.path_params["event_id"])
        if not EVENT_ID.fullmatch(event_id):
            return not_found(request, "a decision with that id")
        with connected() as db:
            found = queries.decision(db, event_id)
            if found is None or not may_see_patient(current_account(request), found.patient_id):
                return not_found(request, f"decision {event_id}")
            context = why(db, found, policy)
        return page(request, "decision.html", title="Why", **context)

    routes = [
        Route("/", patients),
        Route("/patients/{patient_id}", patient),
        Route("/patients/{patient_id}/policy", policy_history),
        Route("/patients/{patient_id}/timeline.csv", timeline_export),
        Route("/patients/{patient_id}/fhir.json", fhir_export),
        Route("/decisions/{event_id}", decision),
        *login_routes(connected, page, clock_ns, secure_cookies),
        *account_routes(connected, page, clock_ns, secure_cookies),
        *enrol_routes(connected, page, clock_ns),
        *admin_routes(connected, page, clock_ns),
        *tuning_routes(
            database,
            publish or _no_broker,
            default_policy=policy,
            clock_ns=clock_ns,
            may_see=may_see_patient,
            may_change=may_tune,
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(AuthGate, database=database, clock_ns=clock_ns)],
        exception_handlers={HTTPException: _refusal_page(page)},
    )


def _renderer(env: jinja2.Environment) -> Render:
    def page(
        request: Request, name: str, status_code: int = 200, **context: object
    ) -> HTMLResponse:
        account = request.scope.get("account")
        html = env.get_template(name).render(account=account, csrf=csrf_token(request), **context)
        return HTMLResponse(html, status_code=status_code)

    return page


def _refusal_page(page: Render) -> Callable[[Request, Exception], Response]:
    """A 403 (or other refusal) as a page for a logged-in account, bare text otherwise."""

    def refused(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "error"
        if "account" not in request.scope:
            return Response(detail, status, media_type="text/plain")
        return page(request, "bad_request.html", status, title="Not allowed", message=detail)

    return refused


def _requested_range(request: Request) -> TimeRange | None:
    start_text, end_text = request.query_params.get("from"), request.query_params.get("to")
    if not start_text and not end_text:
        return None
    if not (start_text and end_text):
        raise BadRangeError("give both ends of the range: from and to")
    start, end = parse_utc(start_text), parse_utc(end_text)
    if end <= start:
        raise BadRangeError("the range must end after it starts")
    return TimeRange(start, end)


async def _no_broker(patient_id: str, assignments: list[str], actor: str, reason: str) -> Published:
    """Publishing without a broker: refused, with what to do instead."""
    del patient_id, assignments, actor, reason
    raise PolicyError(
        "this console has no broker to publish to: start it with the Kafka settings "
        "(`vagus console serve` with [kafka] configured)"
    )


def _timeline_csv(db: Database, patient_id: str, window: TimeRange | None) -> Response:
    window = window or NO_RANGE
    body = timeline_csv(db, patient_id, window.start_ns, window.end_ns)
    return _attachment(body or "time_utc,time_ns\n", "text/csv", f"{patient_id}-timeline.csv")


def _fhir_json(db: Database, patient_id: str, window: TimeRange | None, *, now_ns: int) -> Response:
    window = window or NO_RANGE
    bundle = fhir_bundle(db, [patient_id], window.start_ns, window.end_ns, now_ns=now_ns)
    body = json.dumps(bundle, indent=1) + "\n"
    return _attachment(body, "application/fhir+json", f"{patient_id}-fhir.json")


def _attachment(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
