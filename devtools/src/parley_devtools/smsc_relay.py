"""The SMSC simulator's front door: a frame-by-frame TCP relay to smpp34's server.

smpp34's `Server` cannot check a password, drop a connection, stop answering `enquire_link`
or send one on demand, and its `SubmitSmEvent` lacks `validity_period` and the sequence number.
The simulator (`parley_devtools.smsc`) therefore listens here and relays every PDU to the
smpp34 server on a second loopback port, frame by frame (by `command_length`), so it can record
each frame (decoded with `smpp34.decode`), swallow or answer one, and close both sides of any
connection. The SMPP conversation itself (binds, `submit_sm_resp`, `deliver_sm`) stays the
library's.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
HEADER = struct.Struct(">IIII")
MAX_FRAME = 70_000


@dataclass(eq=False)
class Link:
    """One ESME connection: the client side and our connection to the smpp34 server."""

    number: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False

    def send_to_client(self, frame: bytes) -> None:
        """Write a frame of our own to the ESME (e.g. an injected enquire_link)."""
        if not self.closed:
            self.client.write(frame)

    def close(self, *, flush: bool = False) -> None:
        """Close both sides at once: the ESME sees its connection reset, or, with `flush`,
        closed after what was written to it (a bind refusal) has gone out."""
        if self.closed:
            return
        self.closed = True
        if flush:
            self.client.close()
        else:
            self.client.transport.abort()
        self.upstream.transport.abort()


# Called with each frame; returns whether to forward it.
UpFilter = Callable[[Link, bytes], bool]
DownObserver = Callable[[Link, bytes], None]


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One PDU by its command_length; ValueError for an impossible length."""
    head = await reader.readexactly(4)
    length = int.from_bytes(head, "big")
    if not 16 <= length <= MAX_FRAME:
        raise ValueError(f"command_length {length}")
    return head + await reader.readexactly(length - 4)


class Relay:
    """Listens on `port` (0: a free one, kept across restarts) and relays to `upstream_port`."""

    def __init__(
        self, upstream_port: int, up_filter: UpFilter, down_observer: DownObserver, port: int = 0
    ) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self._up_filter = up_filter
        self._down_observer = down_observer
        self._server: asyncio.Server | None = None
        self.links: list[Link] = []
        self._count = 0

    async def start(self) -> None:
        """Listen (on the same port as before, after a stop)."""
        self._server = await asyncio.start_server(
            self._accept, LOOPBACK, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        if self._server is not None:
            self._server.close()
            self.drop_all()
            await self._server.wait_closed()
            self._server = None
        tasks = [task for link in self.links for task in link.tasks]
        await asyncio.gather(*tasks, return_exceptions=True)

    def drop_all(self) -> int:
        """Close every open connection; how many there were."""
        open_links = [link for link in self.links if not link.closed]
        for link in open_links:
            link.close()
        return len(open_links)

    @property
    def open_links(self) -> list[Link]:
        """The connections still open."""
        return [link for link in self.links if not link.closed]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._count += 1
        link = Link(self._count, writer, up_writer)
        self.links.append(link)
        up = asyncio.create_task(self._pump_up(link, reader, up_writer))
        down = asyncio.create_task(self._pump_down(link, up_reader, writer))
        link.tasks = [up, down]
        await asyncio.gather(up, down, return_exceptions=True)

    async def _pump_up(
        self, link: Link, reader: asyncio.StreamReader, upstream: asyncio.StreamWriter
    ) -> None:
        """ESME -> smpp34 server, each frame offered to the filter first."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while not link.closed:
                frame = await read_frame(reader)
                if self._up_filter(link, frame) and not link.closed:
                    upstream.write(frame)
                    await upstream.drain()
        link.close()

    async def _pump_down(
        self, link: Link, reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        """smpp34 server -> ESME, each frame shown to the observer first."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while not link.closed:
                frame = await read_frame(reader)
                self._down_observer(link, frame)
                if not link.closed:
                    client.write(frame)
                    await client.drain()
        link.close()
