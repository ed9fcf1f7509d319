"""The one `Sender` handlers use: NATS targets to `NatsSender`, the rest to `HttpSender`."""

from __future__ import annotations

from collections.abc import Mapping

from webhook_svc.adapters.http_sender import HttpSender
from webhook_svc.adapters.nats_sender import NatsSender
from webhook_svc.domain.targets import Target
from webhook_svc.ports import Outcome


class TargetSender:
    """Sends each body with the transport its target names."""

    def __init__(self, http: HttpSender, nats: NatsSender) -> None:
        """Use these two transports."""
        self.http = http
        self.nats = nats

    async def send(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """Send one body to one target."""
        if target.is_nats:
            return await self.nats.send(target, body, headers)
        return await self.http.send(target, body, headers)

    async def close(self) -> None:
        """Close both transports' pooled connections."""
        await self.http.close()
        await self.nats.close()
