"""The console's web application (Starlette): server-rendered pages, no script, no CDN.

Each request opens its own database connection and closes it (a SQLite file or a PostgreSQL
server); the pages only read. Patients appear by pseudonym only, and a path that is not a
pseudonym is not looked up at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import jinja2
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from console import queries
from console.db import Database, open_database
from console.export import timeline_csv
from console.pages import (
    TimeRange,
    default_range,
    effects,
    response,
    session_label,
    timeline,
    why,
)
from console.policies import policy_log
from console.svg import utc
from console.times import BadRangeError, parse_utc
from stream.events import PolicySnapshot
from stream.ids import PATIENT_ID_PATTERN

TEMPLATES = Path(__file__).parent / "templates"
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
) -> Starlette:
    """The console over ``database`` (a SQLite path or a PostgreSQL URL).

    ``default_policy`` is the policy the closed loop applies before a patient's first version
    (the configuration's); ``clock_ns`` is "now" for the no-data alert.
    """
    env = _environment()
    policy = default_policy or PolicySnapshot()

    @contextmanager
    def connected() -> Iterator[Database]:
        with open_database(database) as db:
            yield db

    def page(name: str, status_code: int = 200, **context: object) -> HTMLResponse:
        html = env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def not_found(what: str) -> HTMLResponse:
        return page("not_found.html", 404, title="Not found", what=what)

    def patients(request: Request) -> Response:
        now = clock_ns()
        with connected() as db:
            rows = [queries.patient_status(db, p, now) for p in queries.patient_ids(db)]
        return page("patients.html", title="Patients", patients=rows, now_ns=now)

    def patient(request: Request) -> Response:
        patient_id = str(request.path_params["patient_id"])
        if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
            return not_found("a patient with that pseudonym")
        with connected() as db:
            if patient_id not in queries.patient_ids(db):
                return not_found(f"patient {patient_id}")
            try:
                window = _requested_range(request) or default_range(db, patient_id)
            except BadRangeError as exc:
                return page("bad_request.html", 400, title="Bad range", message=str(exc))
            status = queries.patient_status(db, patient_id, clock_ns())
            figure = None if window is None else timeline(db, patient_id, window, policy)
            in_range = (
                []
                if window is None
                else queries.sessions(db, patient_id, window.start_ns, window.end_ns)
            )
            measured = effects(db, patient_id)
            held = (
                []
                if window is None
                else queries.decisions(db, patient_id, window.start_ns, window.end_ns)
            )
        return page(
            "patient.html",
            title=patient_id,
            status=status,
            window=window,
            figure=figure,
            sessions=in_range,
            decisions=held,
            effects=measured,
        )

    def timeline_export(request: Request) -> Response:
        patient_id = str(request.path_params["patient_id"])
        if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
            return not_found("a patient with that pseudonym")
        with connected() as db:
            if patient_id not in queries.patient_ids(db):
                return not_found(f"patient {patient_id}")
            try:
                window = _requested_range(request) or default_range(db, patient_id)
            except BadRangeError as exc:
                return page("bad_request.html", 400, title="Bad range", message=str(exc))
            body = timeline_csv(db, patient_id, window.start_ns, window.end_ns) if window else ""
        return Response(
            body or "time_utc,time_ns\n",
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{patient_id}-timeline.csv"'},
        )

    def policy_history(request: Request) -> Response:
        patient_id = str(request.path_params["patient_id"])
        if not re.fullmatch(PATIENT_ID_PATTERN, patient_id):
            return not_found("a patient with that pseudonym")
        with connected() as db:
            if patient_id not in queries.patient_ids(db):
                return not_found(f"patient {patient_id}")
            log = policy_log(db, patient_id, policy)
        return page(
            "policy.html",
            title=f"Policy history of {patient_id}",
            patient_id=patient_id,
            log=log,
            current=dict(msgspec.to_builtins(log.state.policy)),
        )

    def decision(request: Request) -> Response:
        event_id = str(request.path_params["event_id"])
        if not EVENT_ID.fullmatch(event_id):
            return not_found("a decision with that id")
        with connected() as db:
            found = queries.decision(db, event_id)
            if found is None:
                return not_found(f"decision {event_id}")
            context = why(db, found, policy)
        return page("decision.html", title="Why", **context)

    routes = [
        Route("/", patients),
        Route("/patients/{patient_id}", patient),
        Route("/patients/{patient_id}/policy", policy_history),
        Route("/patients/{patient_id}/timeline.csv", timeline_export),
        Route("/decisions/{event_id}", decision),
    ]
    return Starlette(routes=routes)


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
