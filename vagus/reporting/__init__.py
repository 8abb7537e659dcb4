"""`vagus report`: one self-contained HTML page about a recording or a demo's run directory.

:mod:`~vagus.reporting.data` gathers what to show (the same window table as `vagus analyze`,
the sessions and the threshold), :mod:`~vagus.reporting.figures` draws it (matplotlib, loaded
only there) and :mod:`~vagus.reporting.document` writes the page.
"""

from vagus.reporting.data import ReportData, Session, from_recording, from_run
from vagus.reporting.document import DISCLAIMER, ReportResult, build_report, write_report

__all__ = [
    "DISCLAIMER",
    "ReportData",
    "ReportResult",
    "Session",
    "build_report",
    "from_recording",
    "from_run",
    "write_report",
]
