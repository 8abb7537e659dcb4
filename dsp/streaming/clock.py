"""When windows close: on the data's own time, never the wall clock.

Windows of ``window_s`` start every ``hop_s`` from the first sample's time (the origin). The
watermark is the newest sample time the caller has seen; a window closes once its end lies
``lateness_s + lookahead_s`` behind it: late samples (a notification delayed on the link) still
land in their window, and the EDA traces have the look-ahead they are aligned by. The
arithmetic (float seconds times 1e9, truncated) is the gateway's since its first release, so
window bounds, and with them every event id derived from them, stay what they were.
"""

from __future__ import annotations

NS = 1_000_000_000
_NEVER = -(2**63)


class WindowClock:
    """Which window is next, and whether a watermark lets it close."""

    def __init__(self, *, window_s: float, hop_s: float, lateness_s: float, lookahead_s: float):
        if not (window_s > 0 and hop_s > 0 and lateness_s >= 0 and lookahead_s >= 0):
            raise ValueError("window and hop must be positive, lateness and look-ahead >= 0")
        self.window_s = window_s
        self.hop_s = hop_s
        #: how far a window's end must lie behind the watermark before it closes
        self.hold_ns = int((lateness_s + lookahead_s) * NS)
        self.origin_ns: int | None = None
        self.next_index = 0
        #: No watermark below this can close a window: callers on the per-notification path
        #: compare with it inline rather than call :meth:`may_close`.
        self.not_before_ns = _NEVER

    def start(self, first_ns: int) -> None:
        """Set the origin from the first sample of any stream (later calls change nothing)."""
        if self.origin_ns is None:
            self.origin_ns = first_ns

    def bounds(self, index: int) -> tuple[int, int]:
        """[start, end) of window ``index`` (ns); the origin must be set."""
        assert self.origin_ns is not None
        start = self.origin_ns + int(index * self.hop_s * NS)
        return start, start + int(self.window_s * NS)

    def may_close(self, watermark_ns: int) -> bool:
        """False when the watermark cannot close the next window (most calls: one per
        notification against one window per hop, so this is kept to one comparison)."""
        return watermark_ns >= self.not_before_ns and self.origin_ns is not None

    def due(self, watermark_ns: int) -> tuple[int, int] | None:
        """The next window's bounds if the watermark closes it, else None."""
        if self.origin_ns is None:
            return None
        start, end = self.bounds(self.next_index)
        return (start, end) if end <= watermark_ns - self.hold_ns else None

    def closed(self) -> None:
        """The window ``due`` returned is closed: move on to the next."""
        self.next_index += 1

    def rearm(self) -> None:
        """After a watermark closed what it could: the watermark the next window needs."""
        if self.origin_ns is not None:
            self.not_before_ns = self.bounds(self.next_index)[1] + self.hold_ns
