"""Running a coroutine inline until it first waits (the fetch loop's per-message hand-over)."""

from __future__ import annotations

import asyncio

import pytest
from mode.utils.locks import Event

from closedloop.inline import start_inline, waits_on


async def _returns_at_once(value: int) -> int:
    return value * 2


async def _waits_for(future: asyncio.Future[int], trail: list[str]) -> int:
    trail.append("before")
    try:
        result = await future
        trail.append("after")
        return result + 1
    finally:
        trail.append("finally")


async def test_a_coroutine_that_never_waits_finishes_inline() -> None:
    started = start_inline(_returns_at_once(21))
    assert started.finished
    assert started.result == 42


async def test_a_paused_coroutine_resumes_where_it_stopped() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    trail: list[str] = []
    started = start_inline(_waits_for(future, trail))
    assert not started.finished
    assert trail == ["before"]
    rest = asyncio.ensure_future(started.rest())
    await asyncio.sleep(0)
    assert trail == ["before"]
    future.set_result(9)
    assert await rest == 10
    assert trail == ["before", "after", "finally"]


async def test_cancelling_the_rest_closes_the_coroutine() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    trail: list[str] = []
    rest = asyncio.ensure_future(start_inline(_waits_for(future, trail)).rest())
    await asyncio.sleep(0)
    rest.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rest
    assert trail == ["before", "finally"]


async def test_only_an_unstarted_wait_on_the_same_event_is_recognised() -> None:
    suspend, other = Event(), Event()
    waits = [suspend.wait(), other.wait(), _returns_at_once(1)]
    try:
        assert [waits_on(w, suspend) for w in waits] == [True, False, False]
    finally:
        for coroutine in waits:
            coroutine.close()
