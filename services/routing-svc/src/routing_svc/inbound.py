"""User-initiated messages from the sandbox: to whom they go, consent keywords, typing.

An inbound message reaches the conversational accounts whose access list for the channel names
`to`; when none does, the conversational account that last sent to `from` on that channel;
else nobody (404). STOP / UNSUBSCRIBE / START opt the user out of / into every channel of each
reached account's enterprise; the text still reaches the accounts. Typing is a status event.
"""

from __future__ import annotations

import asyncio
from typing import Any

from parley_shared.ids import new_id

from routing_svc.adapters.bus import Bus
from routing_svc.adapters.consent_store import ConsentStore
from routing_svc.adapters.directory import Directory
from routing_svc.adapters.last_sender import LastSenders
from routing_svc.clock import now_ts
from routing_svc.domain import consent as consent_rules
from routing_svc.domain.accounts import AccountView
from routing_svc.domain.events import inbound_event, typing_event
from routing_svc.domain.masking import mask_msisdn
from routing_svc.errors import NotFound
from routing_svc.metrics import INBOUND, inc
from routing_svc.models import InboundIn


class Inbound:
    """Receives what users write to the platform's senders."""

    def __init__(
        self, directory: Directory, consents: ConsentStore, last: LastSenders, bus: Bus
    ) -> None:
        self._directory, self._consents, self._last, self._bus = directory, consents, last, bus

    async def receive(self, body: InboundIn) -> dict[str, Any]:
        """Route one inbound message or typing notice; `{"inbound_id"}`."""
        accounts, last_message = await self._reached(body)
        inbound_id = new_id("inb")
        at = now_ts()
        if body.typing:
            acks = [
                await self._bus.status(
                    acc.account_id, self._typing(acc, body, inbound_id, at, last_message)
                )
                for acc in accounts
            ]
            inc(INBOUND, "typing")
        else:
            await self._keyword(accounts, body, at)
            acks = [
                await self._bus.inbound(
                    acc.account_id, self._message(acc, body, inbound_id, at, last_message)
                )
                for acc in accounts
            ]
            inc(INBOUND, "text")
        await asyncio.gather(*acks)
        return {"inbound_id": inbound_id}

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
