"""aWATTar's public day-ahead price API (Austria and Germany)."""

from __future__ import annotations

from enum import StrEnum
import json
from typing import TYPE_CHECKING, Literal

import aiohttp

# Relative: mypy names this package phoenyra_ems (custom_components has no __init__.py), so an
# absolute import would load the engine twice under two names.
from ..engine.prices import PriceDataError, parse_awattar  # noqa: TID252

if TYPE_CHECKING:
    from datetime import datetime

    from ..engine.prices import PricePoint  # noqa: TID252

type Region = Literal["at", "de"]

REGIONS: tuple[Region, ...] = ("at", "de")
# aWATTar answers in well under a second; a slow answer is better retried later than waited for.
DEFAULT_TIMEOUT_S = 15.0


class FetchErrorKind(StrEnum):
    """Why a fetch failed: what the caller can tell the user and whether retrying helps."""

    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    CONNECTION = "connection"
    MALFORMED = "malformed"


class PriceFetchError(Exception):
    """A price fetch failed; ``kind`` says how, ``status`` is the HTTP status if there was one."""

    def __init__(
        self, kind: FetchErrorKind, message: str, *, status: int | None = None
    ) -> None:
        """Describe the failure; the message names the kind and the cause."""
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.status = status


class AwattarClient:
    """Fetches aWATTar market prices through a session it is given (it never opens its own)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        region: Region = "at",
        *,
        base_url: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Use ``session`` for ``region``'s API; ``base_url`` replaces https://api.awattar.<region>."""
        if region not in REGIONS:
            raise ValueError(f"region: {region!r} is not one of {REGIONS}")
        if timeout_s <= 0:
            raise ValueError("timeout_s: must be greater than 0")
        self._session = session
        self._url = f"{base_url or f'https://api.awattar.{region}'}".rstrip("/") + (
            "/v1/marketdata"
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    @property
    def url(self) -> str:
        """The marketdata endpoint this client calls."""
        return self._url

    async def fetch(self, start: datetime, end: datetime) -> list[PricePoint]:
        """Return the published prices from ``start`` to ``end`` (aware times), sorted by start.

        An empty list means nothing is published for the window yet. Every failure raises
        PriceFetchError: timeout, HTTP status (429 when rate-limited), connection, or a body that
        is not aWATTar's JSON (malformed).
        """
        if start.utcoffset() is None or end.utcoffset() is None:
            raise ValueError("start and end must be aware datetimes")
        params = {
            "start": str(round(start.timestamp() * 1000)),
            "end": str(round(end.timestamp() * 1000)),
        }
        try:
            async with self._session.get(
                self._url, params=params, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise PriceFetchError(
                        FetchErrorKind.HTTP_STATUS,
                        f"{self._url} answered HTTP {response.status}",
                        status=response.status,
                    )
                body = await response.read()
        except TimeoutError:
            # aiohttp's own timeouts are TimeoutErrors too; catch them before ClientError.
            raise PriceFetchError(
                FetchErrorKind.TIMEOUT,
                f"{self._url} did not answer within {self._timeout.total} s",
            ) from None
        except aiohttp.ClientError as err:
            raise PriceFetchError(
                FetchErrorKind.CONNECTION,
                f"{self._url}: {type(err).__name__}: {err}",
            ) from err
        try:
            payload: object = json.loads(body)
        except ValueError as err:  # also bodies that are not UTF-8
            raise PriceFetchError(
                FetchErrorKind.MALFORMED,
                f"{self._url} sent no JSON ({len(body)} bytes): {err}",
            ) from None
        try:
            return parse_awattar(payload)
        except PriceDataError as err:
            raise PriceFetchError(
                FetchErrorKind.MALFORMED,
                f"{self._url} sent unexpected JSON: {err}",
            ) from err
