"""Prometheus metrics on a loopback port, without a dependency.

A scrape reads the counters the gateway and the worker keep anyway (GatewayStats, the
pipeline's counters, the transport's device statuses, the spool, LoopStats), so measuring
costs nothing between scrapes. The text exposition format (version 0.0.4) is small enough to
write here; names and meanings are listed in docs/observability.md, and
deploy/grafana/vagus.json draws them. The port binds to 127.0.0.1 only: a node exporter or a
local agent forwards what a deployment wants to collect; labels carry pseudonyms, never a name
or an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["LoopLag", "Metric", "MetricsServer", "render", "serving_metrics"]

log = logging.getLogger(__name__)

Labels = Mapping[str, str]
Kind = Literal["counter", "gauge"]


@dataclass(frozen=True)
class Metric:
    """One metric family: its samples as (labels, value)."""

    name: str
    kind: Kind
    help: str
    samples: Sequence[tuple[Labels, float]] = field(default_factory=tuple)

    @classmethod
    def one(cls, name: str, kind: Kind, help_text: str, value: float | None) -> Metric:
        """A family with one unlabelled sample (none when the value is unknown)."""
        return cls(name, kind, help_text, () if value is None else (({}, value),))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(metrics: Sequence[Metric]) -> str:
    """The text exposition of ``metrics``."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {_escape(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            name = f"{metric.name}{{{label_text}}}" if label_text else metric.name
            lines.append(f"{name} {_number(value)}")
    return "\n".join(lines) + "\n"


class LoopLag:
    """How late the event loop runs a timer: the largest lateness in each scrape interval."""

    def __init__(self, period_s: float = 0.25) -> None:
        self.period_s = period_s
        self.worst_s = 0.0
        self.last_s = 0.0

    async def run(self) -> None:
        while True:
            due = time.monotonic() + self.period_s
            await asyncio.sleep(self.period_s)
            self.last_s = max(0.0, time.monotonic() - due)
            self.worst_s = max(self.worst_s, self.last_s)

    def take_worst(self) -> float:
        worst, self.worst_s = self.worst_s, self.last_s
        return worst


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (port 0: a free one, see :attr:`port`)."""

    def __init__(
        self, collect: Callable[[], Sequence[Metric]], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._collect = collect
        self._host = host
        self._wanted_port = port
        self._server: asyncio.Server | None = None
        self.port = port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._wanted_port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0]
            if method != "GET" or path.split("?")[0] != "/metrics":
                status, body = "404 Not Found", b"only GET /metrics\n"
                kind = "text/plain"
            else:
                status, body = "200 OK", render(self._collect()).encode()
                kind = "text/plain; version=0.0.4; charset=utf-8"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a scraper that went away or sent nonsense: nothing to answer
        except Exception:  # a collector bug must not end the gateway
            log.exception("metrics scrape failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def serving_metrics(
    collect: Callable[[LoopLag], Sequence[Metric]], port: int | None
) -> AsyncIterator[MetricsServer | None]:
    """Serve ``collect`` (given the loop-lag probe) on ``port`` for the body; None: off."""
    if port is None:
        yield None
        return
    lag = LoopLag()
    probe = asyncio.create_task(lag.run(), name="loop-lag")
    server = MetricsServer(lambda: collect(lag), port=port)
    try:
        await server.start()
        yield server
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        await server.stop()
