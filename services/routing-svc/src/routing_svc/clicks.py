"""URL Shortener: short links made at acceptance, and a click answered with the original URL.

With `apps.url_shortener` on, every http(s) URL of a message's text is replaced by
`<ROUTING_SHORT_URL_BASE>/<code>` before the message is stored and sent; each link is a key
of `ROUTING_SHORT_LINKS` (a bucket whose TTL, `ROUTING_SHORT_LINK_TTL_SECONDS`, expires it).
`GET /s/{code}` answers 302 to the original URL and publishes `parley.message.clicked` on the
message's STATUS subject.
"""

from __future__ import annotations

import structlog
from parley_shared.timefmt import now_ts

from routing_svc.domain.events import click_event
from routing_svc.domain.links import Link, shorten
from routing_svc.domain.vault import Vault
from routing_svc.metrics import EVENTS, inc
from routing_svc.ports import Bus, LinkStore, Messages

log = structlog.get_logger("routing_svc.clicks")


class ShortLinks:
    """Making short links for a message's text and following them."""

    def __init__(
        self, links: LinkStore, base: str, *, store: Messages, vault: Vault, bus: Bus
    ) -> None:
        self._links, self._base = links, base
        self._store, self._vault, self._bus = store, vault, bus

    async def shorten(self, text: str, account_id: str, message_id: str, protection: str) -> str:
        """`text` with its URLs replaced by short links, each stored before this returns (the
        URL sealed with the master key unless the account's data protection is `store`)."""
        short, links = shorten(text, self._base)
        for link in links:
            record = {"account_id": account_id, "message_id": message_id, "protection": protection}
            if protection == "store":
                record["url"] = link.url
            else:
                day = now_ts()[:10].replace("-", "")
                record["url_sealed"] = self._vault.seal_text(link.url, account_id, "url", day)
            await self._links.create(link.code, record)
        return short

    async def click(self, code: str) -> str | None:
        """The original URL of a live short link (None when unknown or expired); the click is
        published as `parley.message.clicked` once it is stored (kept only for a while when
        the account's data protection is not `store`: the event carries the URL; a link made
        before links named their protection counts as protected)."""
        raw = await self._links.get(code)
        if raw is None:
            return None
        account_id, message_id = str(raw["account_id"]), str(raw["message_id"])
        url = raw.get("url") or self._vault.open_text(str(raw["url_sealed"]), account_id, "url")
        link = Link(code, str(url), f"{self._base}/{code}")
        msg = await self._store.read(message_id)
        recipient = self._vault.recipient(msg) if msg is not None else None
        event = click_event(
            account_id=account_id,
            message_id=message_id,
            msg=msg,
            recipient=recipient,
            link=link,
            at=now_ts(),
        )
        protection = msg.protection if msg is not None else str(raw.get("protection", ""))
        ttl = self._vault.event_ttl(protection, full_number=True, content=True)
        await (await self._bus.status(account_id, event, ttl))
        inc(EVENTS, "clicked", "none")
        log.info("short_link_clicked", account_id=account_id, message_id=message_id)
        return link.url
