"""faust's worker with a deadline on its stop.

faust answers SIGINT and SIGTERM with a graceful stop: leave the group, commit, flush. With the
broker gone every step of it waits on the broker (measured: still running 30 s after SIGTERM),
so a service manager or a person at Ctrl-C would wait for ever. The deadline ends the process
once the graceful stop has had its time, after writing what must survive it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import faust

#: How long faust's own stop may take after a signal; the promise to the caller is 5 s in all.
STOP_DEADLINE_S = 4.5


class DeadlineWorker(faust.Worker):
    """A faust worker whose stop after a signal is cut off after ``deadline_s``.

    A stop within the deadline ends as faust ends it (exit 0); a cut-off one runs ``last_words``
    (stats, clean-up), says so on stderr in one line and exits with 128 + the signal's number.
    """

    def __init__(
        self,
        *args: Any,
        last_words: Callable[[], None],
        deadline_s: float = STOP_DEADLINE_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._last_words = last_words
        self._deadline_s = deadline_s
        self._deadline: threading.Timer | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._deadline is None:
            self._deadline = threading.Timer(self._deadline_s, self._cut_off, args=(signal,))
            self._deadline.daemon = True
            self._deadline.start()
        super()._schedule_shutdown(signal)

    def _cut_off(self, received: signal.Signals) -> None:
        try:
            self._last_words()
        finally:
            # fd 2 itself: faust's worker has put a logging proxy in place of sys.stderr.
            said = (
                f"vagus closedloop: its stop after {received.name} did not finish within"
                f" {self._deadline_s:g} s (the broker does not answer); stopped without it\n"
            )
            os.write(2, said.encode())
            os._exit(128 + received.value)
