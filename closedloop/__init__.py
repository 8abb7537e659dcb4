"""The closed loop: per-patient policy, decisions and their reasons, run as a faust app.

Decisions are pure functions of events and event time (:mod:`closedloop.decision`), so a replay
decides exactly what the live stream decided; the faust app only moves events in and out.
"""
