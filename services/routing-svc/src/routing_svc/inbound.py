"""User-initiated messages from the sandbox: to whom they go, consent keywords, typing.

An inbound message reaches the conversational accounts whose access list for the channel names
`to`; when none does, the conversational account that last sent to `from` on that channel;
else nobody (404). STOP / UNSUBSCRIBE / START opt the user out of / into every channel of each
reached account's enterprise; the text still reaches the accounts. Typing is a status event.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import structlog
from parley_shared.ids import new_id
from parley_shared.sealing import SealError
from parley_shared.timefmt import now_ts

from routing_svc.domain import consent as consent_rules
from routing_svc.domain.accounts import AccountView
from routing_svc.domain.events import inbound_event, typing_event
from routing_svc.domain.masking import mask_msisdn
from routing_svc.domain.requests import InboundIn
from routing_svc.domain.vault import USER_FROM, USER_TEXT, Vault
from routing_svc.errors import NotFound, Undecodable
from routing_svc.metrics import INBOUND, USER_MESSAGES, inc
from routing_svc.ports import (
    AccountDirectory,
    Bus,
    Consents,
    Handovers,
    InFlight,
    LastSenders,
    UserParts,
)
from routing_svc.transitions import decode

log = structlog.get_logger("routing_svc.inbound")


class Inbound:
    """Receives what users write to the platform's senders."""

    def __init__(
        self,
        directory: AccountDirectory,
        consents: Consents,
        last: LastSenders,
        bus: Bus,
        vault: Vault,
        *,
        heard: Handovers | None = None,
        parts: UserParts | None = None,
    ) -> None:
        self._directory, self._consents, self._last, self._bus = directory, consents, last, bus
        self._vault = vault
        self._heard, self._parts = heard, parts

    async def receive(
        self, body: InboundIn, *, inbound_id: str | None = None, at: str | None = None
    ) -> dict[str, Any]:
        """Route one inbound message or typing notice; `{"inbound_id"}`.

        `inbound_id` and `at` are given for a message a provider may deliver again: the same
        message then makes the same events (same ids).
        """
        accounts, last_message = await self._reached(body)
        inbound_id = inbound_id or new_id("inb")
        at = at or now_ts()
        protected = self._vault.event_ttl
        if body.typing:
            acks = [
                await self._bus.status(
                    acc.account_id,
                    self._typing(acc, body, inbound_id, at, last_message),
                    protected(acc.data_protection, full_number=True, content=False),
                )
                for acc in accounts
            ]
            inc(INBOUND, "typing")
        else:
            await self._keyword(accounts, body, at)
            acks = [
                await self._bus.inbound(
                    acc.account_id,
                    self._message(acc, body, inbound_id, at, last_message),
                    protected(acc.data_protection, full_number=True, content=True),
                )
                for acc in accounts
            ]
            inc(INBOUND, "text")
        await asyncio.gather(*acks)
        return {"inbound_id": inbound_id}

    async def heard(self, nats_msg: InFlight) -> None:
        """A user's message (or typing, or one part of a long SMS) heard through a provider's
        route, from ROUTING_REPORTS; acked once what it causes is stored.

        A message heard before (a provider's resend) is ignored; a part waits in the parts
        store until its message is whole; a message no account takes is logged and dropped.
        """
        raw = decode(nats_msg, "route", "key", "channel", "to", "at")
        route, key, channel = str(raw["route"]), str(raw["key"]), str(raw["channel"])
        heard, parts = self._heard, self._parts
        assert heard is not None  # wired whenever providers are
        assert parts is not None
        self._open_user(raw, route)
        text = raw.get("text")
        if raw.get("part"):
            ref, total, seq = (int(value) for value in raw["part"])
            whole = await parts.add(
                route, str(raw["from"]), ref=ref, total=total, seq=seq, text=text or ""
            )
            if whole is None:
                inc(USER_MESSAGES, route, "part")
                await nats_msg.ack()
                return
            digest = hashlib.sha256(whole.encode()).hexdigest()[:16]
            text, key = whole, f"{raw['from']}|{ref}|{total}|{digest}"
        if await heard.seen(route, key):
            inc(USER_MESSAGES, route, "repeat")
            await nats_msg.ack()
            return
        body = InboundIn.model_validate(
            {"channel": channel, "from": raw["from"], "to": raw["to"]}
            | ({"typing": True} if raw.get("typing") else {"text": text})
        )
        digest = hashlib.sha256(f"{route}|{key}".encode()).hexdigest()[:26]
        try:
            await self.receive(body, inbound_id=f"inb_{digest}", at=str(raw["at"]))
        except NotFound:
            log.warning("user_message_unclaimed", route=route, channel=channel)
            inc(USER_MESSAGES, route, "unclaimed")
        else:
            inc(USER_MESSAGES, route, "typing" if body.typing else "text")
        await heard.mark_seen(route, key)
        if raw.get("part"):
            await parts.forget(route, str(raw["from"]), *(int(v) for v in raw["part"][:2]))
        await nats_msg.ack()

    def _open_user(self, raw: dict[str, Any], route: str) -> None:
        """Open the sealed number and text of a user's message (`JetStreamProviderSink`) in
        place; one written before they were sealed has them in clear."""
        try:
            if "from_sealed" in raw:
                raw["from"] = self._vault.open_text(str(raw["from_sealed"]), route, USER_FROM)
            if raw.get("text_sealed") is not None:
                raw["text"] = self._vault.open_text(str(raw["text_sealed"]), route, USER_TEXT)
        except SealError as exc:
            raise Undecodable("a sealed field does not open") from exc
        if not isinstance(raw.get("from"), str):
            raise Undecodable("lacks from")

    async def _reached(self, body: InboundIn) -> tuple[list[AccountView], dict[str, str]]:
        """The accounts the message reaches, and each one's last message to the user."""
        owners = self._directory.owners(body.channel, body.to)
        last = await self._last.lookup(body.channel, body.from_)
        last_message = {last[0]: last[1]} if last else {}
        if owners:
            return owners, last_message
        account = self._directory.get(last[0]) if last else None
        if account is None or not account.conversational:
            raise NotFound("no conversational account takes messages from this user on that sender")
        return [account], last_message

    async def _keyword(self, accounts: list[AccountView], body: InboundIn, at: str) -> None:
        status = consent_rules.keyword(body.text)
        if status is None:
            return
        for enterprise_id in sorted({acc.enterprise_id for acc in accounts}):
            await self._consents.change(
                enterprise_id, body.from_, lambda _: consent_rules.from_keyword(status, at)
            )

    @staticmethod
    def _user(account: AccountView, msisdn: str) -> str:
        return mask_msisdn(msisdn) if account.data_protection == "do_not_store" else msisdn

    def _message(
        self, acc: AccountView, body: InboundIn, inbound_id: str, at: str, last: dict[str, str]
    ) -> dict[str, Any]:
        return inbound_event(
            inbound_id=inbound_id,
            account_id=acc.account_id,
            channel=body.channel,
            user=self._user(acc, body.from_),
            to=body.to,
            text=body.text or "",
            in_reply_to=last.get(acc.account_id),
            at=at,
        )

    def _typing(
        self, acc: AccountView, body: InboundIn, inbound_id: str, at: str, last: dict[str, str]
    ) -> dict[str, Any]:
        return typing_event(
            account_id=acc.account_id,
            subject_id=last.get(acc.account_id) or inbound_id,
            inbound_id=inbound_id,
            channel=body.channel,
            sender=body.to,
            user=self._user(acc, body.from_),
            at=at,
        )
