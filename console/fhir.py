"""Export to the health record: a FHIR R4 Bundle (type ``collection``) of Observations.

One Observation per measured value (heart rate, RMSSD, SCR rate, stress probability) and one per
session. The subject is referenced by pseudonym only (``Patient/p-…``): no name, no device
address, nothing that identifies a person leaves the console. Heart rate carries its LOINC code;
the others have none that fits a windowed wearable measure, so they carry codes of vagus's own
code system, :data:`VAGUS_CODES` (documented in docs/console.md). Resource ids are derived from
event ids, so exporting twice gives the same resources.
"""

from __future__ import annotations

import uuid
from typing import Any

from console import queries
from console.db import Database
from console.svg import utc

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
#: vagus's code system for what LOINC does not name (docs/console.md, "FHIR export").
VAGUS_CODES = "urn:vagus:fhir:observation"
#: metric -> (code system, code, display, UCUM unit)
CODES = {
    "heart_rate_bpm": (LOINC, "8867-4", "Heart rate", "/min"),
    "rmssd_ms": (VAGUS_CODES, "rmssd", "RMSSD of RR intervals over the window", "ms"),
    "scr_rate_per_min": (VAGUS_CODES, "scr-rate", "Skin conductance responses per minute", "/min"),
    "stress_score": (VAGUS_CODES, "stress-probability", "Stress probability (vagus model)", "1"),
}
SESSION = (VAGUS_CODES, "calming-session", "Closed-loop calming session")
_IDS = uuid.UUID("6f1d0c56-3f57-4c1e-9a57-2f0b3c1d9e10")  # namespace of resource ids


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _entry(key: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource_id = str(uuid.uuid5(_IDS, key))
    return {"fullUrl": f"urn:uuid:{resource_id}", "resource": {"id": resource_id, **resource}}


def _measurement(patient_id: str, metric: str, time_ns: int, value: float) -> dict[str, Any]:
    system, code, display, unit = CODES[metric]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": _coding(system, code, display),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": utc(time_ns),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    if metric == "heart_rate_bpm":
        observation["category"] = [_coding(CATEGORY, "vital-signs", "Vital Signs")]
    return _entry(f"{patient_id}/{metric}/{time_ns}", observation)


def _session(patient_id: str, session: queries.Session) -> dict[str, Any] | None:
    start = session.start_ns
    if start is None:
        return None
    period = {"start": utc(start)}
    if session.ended_ns is not None:
        period["end"] = utc(session.ended_ns)
    components = [
        {"code": _coding(VAGUS_CODES, "modality", "Modality"), "valueString": session.modality},
        {
            "code": _coding(VAGUS_CODES, "outcome", "Outcome"),
            "valueString": session.status or "requested",
        },
    ]
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": _coding(*SESSION),
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectivePeriod": period,
        "component": components,
    }
    return _entry(f"{patient_id}/session/{session.command_id}", resource)


def fhir_bundle(
    db: Database, patient_ids: list[str], start_ns: int, end_ns: int, *, now_ns: int
) -> dict[str, Any]:
    """The patients' measurements and sessions in [start_ns, end_ns] as one Bundle."""
    entries: list[dict[str, Any]] = []
    for patient_id in patient_ids:
        for metric in CODES:
            entries += [
                _measurement(patient_id, metric, time_ns, value)
                for time_ns, value in queries.series(db, patient_id, metric, start_ns, end_ns)
            ]
        for session in queries.sessions(db, patient_id, start_ns, end_ns):
            entry = _session(patient_id, session)
            if entry is not None:
                entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utc(now_ns),
        "entry": entries,
    }
