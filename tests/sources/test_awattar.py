"""The aWATTar client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import ast
import asyncio
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import socket
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.phoenyra_ems.engine.prices import PricePoint
from custom_components.phoenyra_ems.sources import awattar as awattar_module
from custom_components.phoenyra_ems.sources.awattar import (
    AwattarClient,
    FetchErrorKind,
    PriceFetchError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

# Home Assistant's test plugin blocks sockets (pytest-socket); these tests run a real HTTP server
# on 127.0.0.1, which the socket_enabled fixture allows.
pytestmark = pytest.mark.usefixtures("socket_enabled")

FIXTURES = Path(__file__).parent.parent / "fixtures" / "awattar"
VIENNA = ZoneInfo("Europe/Vienna")
TIMEOUT_S = 0.2


class FakeAwattar:
    """What the server saw, and a gate that holds the slow answer until the test is done."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        self.release = asyncio.Event()

    async def marketdata(self, request: web.Request) -> web.Response:
        # The cached responses are named by the local day their window starts on.
        self.queries.append(dict(request.query))
        start = datetime.fromtimestamp(int(request.query["start"]) / 1000, VIENNA)
        path = FIXTURES / f"awattar_at_marketdata_{start.date().isoformat()}.json"
        if not path.exists():
            return web.json_response({"object": "list", "data": []})
        return web.Response(body=path.read_bytes(), content_type="application/json")

    async def quarter_hours(self, request: web.Request) -> web.Response:
        path = FIXTURES / "energycharts_at_15min_normalized_2025-10-01.json"
        return web.Response(body=path.read_bytes(), content_type="application/json")

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.json_response({"object": "list", "data": []})


def reply(
    status: int, body: bytes, content_type: str = "application/json"
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)

    return handler


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAwattar, str]]:
    api = FakeAwattar()
    app = web.Application()
    app.router.add_get("/ok/v1/marketdata", api.marketdata)
    app.router.add_get("/quarters/v1/marketdata", api.quarter_hours)
    app.router.add_get("/slow/v1/marketdata", api.slow)
    app.router.add_get(
        "/error500/v1/marketdata", reply(500, b"Internal Server Error", "text/plain")
    )
    app.router.add_get(
        "/ratelimit/v1/marketdata", reply(429, b'{"error":"Too Many Requests"}')
    )
    app.router.add_get(
        "/html/v1/marketdata",
        reply(200, b"<html><body>Maintenance</body></html>", "text/html"),
    )
    app.router.add_get(
        "/binary/v1/marketdata", reply(200, b"\x89PNG\r\n\x1a\n\x00\xff", "image/png")
    )
    app.router.add_get(
        "/truncated/v1/marketdata",
        reply(200, b'{"object":"list","data":[{"start_timestamp":'),
    )
    app.router.add_get("/list/v1/marketdata", reply(200, b"[1, 2, 3]"))
    app.router.add_get(
        "/wrongshape/v1/marketdata",
        reply(
            200,
            json.dumps({"object": "list", "data": [{"start": 1, "price": 2}]}).encode(),
        ),
    )
    async with TestServer(app, host="127.0.0.1") as server:
        yield api, str(server.make_url("")).rstrip("/")
        api.release.set()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


DAY = datetime(2024, 3, 31, tzinfo=VIENNA)


async def test_fetches_and_parses_a_real_response(
    fake: tuple[FakeAwattar, str], session: aiohttp.ClientSession
) -> None:
    api, base = fake
    client = AwattarClient(session, "at", base_url=f"{base}/ok", timeout_s=TIMEOUT_S)
    points = await client.fetch(DAY, DAY + timedelta(days=1))
    # The query is the window in epoch milliseconds: the local day, 23 hours long.
    assert api.queries == [
        {"start": "1711839600000", "end": str(1711839600000 + 23 * 3_600_000)}
    ]
    assert len(points) == 24
    assert all(isinstance(p, PricePoint) for p in points)
    assert points[0].start == DAY
    assert points[0].price_eur_kwh == pytest.approx(0.05691)
    # The spring DST day: 23 hours from local midnight to the next.
    assert sum(1 for p in points if p.start < datetime(2024, 4, 1, tzinfo=VIENNA)) == 23


async def test_nothing_published_yet_is_an_empty_list(
    fake: tuple[FakeAwattar, str], session: aiohttp.ClientSession
) -> None:
    _, base = fake
    client = AwattarClient(session, base_url=f"{base}/ok", timeout_s=TIMEOUT_S)
    future = datetime(2030, 1, 1, tzinfo=UTC)
    assert await client.fetch(future, future + timedelta(days=1)) == []


async def test_quarter_hours(
    fake: tuple[FakeAwattar, str], session: aiohttp.ClientSession
) -> None:
    _, base = fake
    client = AwattarClient(session, base_url=f"{base}/quarters/", timeout_s=TIMEOUT_S)
    day = datetime(2025, 10, 1, tzinfo=VIENNA)
    points = await client.fetch(day, day + timedelta(days=1))
    assert len(points) == 96
    assert {p.minutes for p in points} == {15}


@pytest.mark.parametrize(
    ("path", "kind", "status", "words"),
    [
        ("error500", FetchErrorKind.HTTP_STATUS, 500, ["HTTP 500"]),
        ("ratelimit", FetchErrorKind.HTTP_STATUS, 429, ["HTTP 429"]),
        ("missing", FetchErrorKind.HTTP_STATUS, 404, ["HTTP 404"]),
        ("html", FetchErrorKind.MALFORMED, None, ["no JSON", "37 bytes"]),
        ("binary", FetchErrorKind.MALFORMED, None, ["no JSON"]),
        ("truncated", FetchErrorKind.MALFORMED, None, ["no JSON"]),
        ("list", FetchErrorKind.MALFORMED, None, ["unexpected JSON", "response"]),
        (
            "wrongshape",
            FetchErrorKind.MALFORMED,
            None,
            ["unexpected JSON", "data[0].start_timestamp"],
        ),
    ],
)
async def test_failures_have_a_kind_and_say_what_happened(
    fake: tuple[FakeAwattar, str],
    session: aiohttp.ClientSession,
    path: str,
    kind: FetchErrorKind,
    status: int | None,
    words: list[str],
) -> None:
    _, base = fake
    client = AwattarClient(session, base_url=f"{base}/{path}", timeout_s=TIMEOUT_S)
    with pytest.raises(PriceFetchError) as err:
        await client.fetch(DAY, DAY + timedelta(days=1))
    assert err.value.kind is kind
    assert err.value.status == status
    message = str(err.value)
    assert message.startswith(f"{kind}: ")
    assert f"{base}/{path}/v1/marketdata" in message
    for word in words:
        assert word in message


async def test_slow_answer_times_out(
    fake: tuple[FakeAwattar, str], session: aiohttp.ClientSession
) -> None:
    api, base = fake
    client = AwattarClient(session, base_url=f"{base}/slow", timeout_s=TIMEOUT_S)
    started = asyncio.get_running_loop().time()
    with pytest.raises(PriceFetchError) as err:
        await client.fetch(DAY, DAY + timedelta(days=1))
    elapsed = asyncio.get_running_loop().time() - started
    assert err.value.kind is FetchErrorKind.TIMEOUT
    assert err.value.status is None
    assert f"within {TIMEOUT_S} s" in str(err.value)
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 1.0
    api.release.set()


async def test_closed_port_is_a_connection_error(
    session: aiohttp.ClientSession,
) -> None:
    # Bind a free port and close it again: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AwattarClient(
        session, base_url=f"http://127.0.0.1:{port}", timeout_s=TIMEOUT_S
    )
    with pytest.raises(PriceFetchError) as err:
        await client.fetch(DAY, DAY + timedelta(days=1))
    assert err.value.kind is FetchErrorKind.CONNECTION
    assert f"127.0.0.1:{port}" in str(err.value)
    assert isinstance(err.value.__cause__, aiohttp.ClientConnectionError)


async def test_regions_and_arguments(session: aiohttp.ClientSession) -> None:
    assert AwattarClient(session).url == "https://api.awattar.at/v1/marketdata"
    assert AwattarClient(session, "de").url == "https://api.awattar.de/v1/marketdata"
    with pytest.raises(ValueError, match="region"):
        AwattarClient(session, "ch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        AwattarClient(session, timeout_s=0)
    with pytest.raises(ValueError, match="aware"):
        await AwattarClient(session).fetch(datetime(2024, 1, 1), datetime(2024, 1, 2))  # noqa: DTZ001


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_client_imports_no_home_assistant_and_opens_no_session() -> None:
    source = Path(awattar_module.__file__)
    assert not any(
        name.split(".")[0] == "homeassistant" for name in imported_modules(source)
    )
    tree = ast.parse(source.read_text())
    calls = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert not any(
        (isinstance(func, ast.Attribute) and func.attr == "ClientSession")
        or (isinstance(func, ast.Name) and func.id == "ClientSession")
        for func in calls
    )
