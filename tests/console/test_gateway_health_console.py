"""The patient list shows each patient's weakest device battery and the gateway's spool backlog
from the newest ``gateway_health``, with an alert for a battery under 20 % or a backlog older
than 2 h; on SQLite and PostgreSQL, through Starlette's TestClient behind the real sign-in."""

from __future__ import annotations

import msgspec
from starlette.testclient import TestClient

from console import create_schema, open_database, queries
from console.store import Record, store_batch
from console.svg import utc
from console.web import create_app
from stream.events import AnyEvent, DeviceBattery, GatewayHealth
from tests.console.events import PATIENT, T0, S, encoded, story
from tests.console.server import add_people
from tests.console.test_password_change import log_in

OTHER = "p-0123456789ac"
STRAP, ECG = "d-0123abcd", "d-4567efgh"


def health(
    at_s: int,
    *,
    strap: int | None,
    spool: int = 0,
    oldest_s: float | None = None,
    refusal: str | None = None,
) -> GatewayHealth:
    return GatewayHealth(
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        gateway_time_ns=T0 + at_s * S,
        devices=(
            DeviceBattery(device_id=STRAP, battery_percent=strap, connected=True),
            DeviceBattery(device_id=ECG, battery_percent=64, connected=False),
            DeviceBattery(device_id="d-89abcdef", battery_percent=None, connected=True),
        ),
        spool_events=spool,
        spool_oldest_age_s=oldest_s,
        broker_refusal=refusal,
    )


def stored(database: str, events: list[AnyEvent], first_offset: int = 0) -> None:
    with open_database(database) as db:
        create_schema(db)
        records = [Record(first_offset + i, p) for i, p in enumerate(encoded(events))]
        store_batch(db, "t.all", 0, records)


def patient_row(database: str, patient: str = PATIENT) -> str:
    web = create_app(database, clock_ns=lambda: T0 + 400 * S, secure_cookies=False)
    client = TestClient(web, follow_redirects=False)
    assert log_in(client, "admin") == 303
    page = client.get("/").text
    return page[page.index(f'data-patient="{patient}"') :].split("</tr>", 1)[0]


def test_a_flat_strap_and_a_stuck_backlog_are_shown_and_alerted(database: str) -> None:
    add_people(database)
    stale = health(100, strap=80)
    flat = health(300, strap=12, spool=40_000, oldest_s=3 * 3600.0, refusal="QuotaViolation")
    stored(database, [*story(), stale, flat])
    row = patient_row(database)
    assert f"12 % ({STRAP})" in row and utc(T0 + 300 * S) in row
    assert "40000 waiting, oldest 3.0 h" in row
    assert "broker refuses: QuotaViolation" in row
    assert "battery low: 12 %" in row
    assert "gateway backlog: events waiting 3.0 h" in row


def test_the_newest_report_wins_and_clears_the_alerts(database: str) -> None:
    add_people(database)
    flat = health(300, strap=12, spool=40_000, oldest_s=3 * 3600.0)
    charged = health(360, strap=95, spool=3, oldest_s=42.0)
    stored(database, [*story(), flat, charged])
    late = health(200, strap=5, spool=99, oldest_s=9 * 3600.0)  # redelivered late: older
    stored(database, [late], first_offset=10_000)
    with open_database(database) as db:
        found = queries.gateway_health(db, PATIENT)
    assert found is not None and found.time_ns == T0 + 360 * S
    row = patient_row(database)
    assert f"64 % ({ECG})" in row  # the weakest battery now is the ECG's, not the strap's
    assert "3 waiting, oldest 42 s" in row
    assert "battery low" not in row and "gateway backlog" not in row
    assert "broker refuses" not in row


def test_a_patient_without_a_report_shows_none_and_no_alert(database: str) -> None:
    add_people(database)
    stored(database, [*story(), health(300, strap=12)])
    other_patient = [
        msgspec.structs.replace(e, patient_id=OTHER, event_id=f"other-{e.event_id}")
        for e in story()[:3]
    ]
    stored(database, other_patient, first_offset=10_000)
    row = patient_row(database, OTHER)
    assert row.count("no report") >= 2
    assert "battery low" not in row
    assert "battery low: 12 %" in patient_row(database)  # the control: the reporting patient


def test_a_report_without_any_battery_alerts_only_on_the_backlog(database: str) -> None:
    add_people(database)
    no_batteries = GatewayHealth(
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        gateway_time_ns=T0 + 300 * S,
        devices=(DeviceBattery(device_id=STRAP, battery_percent=None, connected=False),),
        spool_events=7,
        spool_oldest_age_s=7201.0,
    )
    stored(database, [*story(), no_batteries])
    row = patient_row(database)
    assert "not reported" in row
    assert "7 waiting, oldest 2.0 h" in row
    assert "gateway backlog: events waiting 2.0 h" in row and "battery low" not in row
