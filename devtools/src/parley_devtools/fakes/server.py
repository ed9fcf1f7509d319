"""An aiohttp application on a free loopback port, started and stopped by a test fixture,
with one client session to post callbacks from the fake's side."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import aiohttp
from aiohttp import web

from parley_devtools.embedded import LOOPBACK, free_port


class FakeServer(ABC):
    """Base of the fakes: `start()` serves `app()` on 127.0.0.1, `post()` plays the provider
    calling routing-svc back."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` of the running fake."""
        return f"http://{LOOPBACK}:{self.port}"

    @abstractmethod
    def app(self) -> web.Application:
        """The fake's routes: each provider's fake declares its own."""

    async def start(self) -> Any:
        """Serve on a free loopback port; returns the fake."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        for _ in range(5):
            self.port = free_port()
            site = web.TCPSite(self._runner, LOOPBACK, self.port)
            try:
                await site.start()
                break
            except OSError:  # taken between free_port and bind: try another
                continue
        self._client = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        """Stop serving and close the callback client."""
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """POST `body` to `url` as the provider would: (status, body, content type)."""
        assert self._client is not None, "start the fake first"
        async with self._client.post(url, data=body, headers=headers) as resp:
            return resp.status, await resp.read(), resp.content_type

    async def get(self, url: str, params: dict[str, str]) -> tuple[int, bytes, str]:
        """GET `url` with `params`: (status, body, content type)."""
        assert self._client is not None, "start the fake first"
        async with self._client.get(url, params=params) as resp:
            return resp.status, await resp.read(), resp.content_type
