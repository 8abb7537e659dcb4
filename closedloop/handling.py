"""One admitted event in, the events to publish out: evaluation, decision, bookkeeping.

No transport here: the faust app (closedloop.app) passes each admitted event with its topic,
partition and offset, and publishes what comes back. So the whole per-event path, restarts
included, can be tested in-process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from closedloop.decision import NOTHING, record_evaluation, step
from closedloop.patients import PatientTable
from stream.events import (
    AnyEvent,
    Event,
    FeatureWindow,
    InterventionCommand,
    InterventionOutcome,
    PolicyVersion,
    SessionEvaluation,
    StressScore,
)
from stream.ids import derived_event_id

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Handled:
    """What handling one event produced, in the order to publish it."""

    outputs: tuple[Event, ...] = ()
    command: InterventionCommand | None = None
    #: The input was already reflected in the restored snapshot (redelivered after a restart).
    already_applied: bool = False


class EventHandler:
    """Applies admitted events to the patients of a :class:`PatientTable`."""

    def __init__(self, table: PatientTable, *, producer_id: str) -> None:
        self.table = table
        self.producer_id = producer_id

    def handle(self, event: AnyEvent, *, topic: str, partition: int, offset: int) -> Handled:
        """Evaluate and decide; record the offset when the patient's state changed.

        The caller restores the partition first (:meth:`PatientTable.ensure_loaded`).
        """
        if isinstance(event, PolicyVersion):
            # Versions are folded from the policy topic's log only (ClosedLoopWorker), where the
            # CLI and the console read them too; one that reached here came another way.
            raise ValueError("a policy_version is never an input; it is read from the policy log")
        patient = event.patient_id
        if self.table.already_applied(patient, topic, offset):
            return Handled(already_applied=True)
        evaluations, evaluator_changed = self._evaluate(event)
        if isinstance(event, FeatureWindow):
            result = NOTHING
        else:
            result = step(self.table.state_for(patient), event, producer_id=self.producer_id)
        if result.command is not None:
            log.info("session for %s: %s", patient, result.command.reason.rule)
        decided = [e for e in (result.command, result.decision) if e is not None]
        # A score outside an episode that the evaluator did not keep changes nothing.
        unchanged = isinstance(event, StressScore) and not decided and not evaluator_changed
        if not unchanged:
            self.table.mark_applied(patient, topic=topic, partition=partition, offset=offset)
        return Handled((*evaluations, *decided), command=result.command)

    def _evaluate(self, event: AnyEvent) -> tuple[list[SessionEvaluation], bool]:
        """Feed the patient's session evaluator; return the evaluations it completes."""
        evaluator = self.table.evaluator_for(event.patient_id)
        if isinstance(event, StressScore):
            return [], evaluator.on_score(event)
        if isinstance(event, InterventionOutcome):
            return [], evaluator.on_outcome(event)
        if not isinstance(event, FeatureWindow):
            return [], False
        evaluations = []
        for done in evaluator.on_window(event):
            state = self.table.state_for(event.patient_id)
            record_evaluation(state, done.modality, done.metrics)
            evaluations.append(
                SessionEvaluation(
                    event_id=derived_event_id("evaluation", done.command_id),
                    patient_id=event.patient_id,
                    producer_id=self.producer_id,
                    gateway_time_ns=event.gateway_time_ns,
                    command_id=done.command_id,
                    modality=done.modality,
                    outcome=done.outcome,
                    session_start_ns=done.start_ns,
                    session_end_ns=done.end_ns,
                    metrics=done.metrics,
                    effectiveness=evaluator.effectiveness(done.modality),
                )
            )
        return evaluations, True
