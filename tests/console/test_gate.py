"""The login gate and cookies, called in-process through ASGI (no server, no client library)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from console import create_schema, open_database
from console.web import create_app
from tests.console.server import PASSWORD, add_people


async def call(
    app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, list[str]], bytes]:
    """One request through the ASGI app: status, headers (lower-case names), body."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    sent = False
    answer: dict[str, Any] = {"headers": {}, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            for key, value in message["headers"]:
                answer["headers"].setdefault(key.decode().lower(), []).append(value.decode())
        else:
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return int(answer["status"]), answer["headers"], bytes(answer["body"])


async def _login_cookie(app: Any) -> str:
    _, headers, form = await call(app, "GET", "/login")
    token = re.search(rb'name="login_csrf" value="([^"]+)"', form)
    assert token
    body = f"login_csrf={token[1].decode()}&name=engineer&password={PASSWORD.replace(' ', '+')}"
    status, headers, _ = await call(
        app,
        "POST",
        "/login",
        body.encode(),
        {
            "content-type": "application/x-www-form-urlencoded",
            "cookie": f"vagus_login_csrf={token[1].decode()}",
        },
    )
    assert status == 303
    (cookie,) = [c for c in headers["set-cookie"] if c.startswith("vagus_session=")]
    return cookie


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("gate") / "console.db")
    with open_database(path) as db:
        create_schema(db)
    add_people(path)
    return path


@pytest.mark.parametrize("secure", [True, False])
async def test_the_session_cookie_is_secure_unless_on_loopback(database: str, secure: bool) -> None:
    cookie = await _login_cookie(create_app(database, secure_cookies=secure))
    assert ("; Secure" in cookie) == secure
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


async def test_every_answer_carries_the_security_headers(database: str) -> None:
    _, headers, _ = await call(create_app(database), "GET", "/login")
    assert headers["cache-control"] == ["no-store"]
    assert "script-src 'none'" in headers["content-security-policy"][0]
    assert headers["x-frame-options"] == ["DENY"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"csrf=x&" + b"a" * 70_000, "application/x-www-form-urlencoded"),
        (b'{"csrf": "x"}', "application/json"),
        (b"&".join(b"f%d=1" % i for i in range(300)), "application/x-www-form-urlencoded"),
    ],
)
async def test_the_gate_refuses_bodies_it_does_not_read(
    database: str, body: bytes, kind: str
) -> None:
    app = create_app(database, secure_cookies=False)
    cookie = (await _login_cookie(app)).split(";")[0]
    status, _, _ = await call(
        app, "POST", "/logout", body, {"content-type": kind, "cookie": cookie}
    )
    assert status == 415


async def test_an_idle_session_expires(database: str) -> None:
    now = [time.time_ns()]
    app = create_app(database, secure_cookies=False, clock_ns=lambda: now[0])
    cookie = (await _login_cookie(app)).split(";")[0]
    assert (await call(app, "GET", "/", headers={"cookie": cookie}))[0] == 200
    now[0] += 31 * 60 * 10**9
    assert (await call(app, "GET", "/", headers={"cookie": cookie}))[0] == 401
