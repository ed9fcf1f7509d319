"""Accepting a send: the account's policy, consent, the plan, then durable on SUBMIT.

The message record is created in the message log first (with, when the send has a
`client_ref`, its entry in the client_ref index), then the attempt is put on SUBMIT; the
caller gets its 202 only once all are stored.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from nats.js.errors import APIError
from parley_shared.timefmt import now as utc_now
from parley_shared.timefmt import now_ts

from routing_svc.clicks import ShortLinks
from routing_svc.domain import consent as consent_rules
from routing_svc.domain.accounts import AccountView
from routing_svc.domain.lifecycle import Attempt, Message
from routing_svc.domain.masking import mask_msisdn
from routing_svc.domain.message_ids import RANDOM_BITS, new_message_id
from routing_svc.domain.policy import (
    PolicyRefusal,
    check_apps,
    check_consent,
    check_window,
    needs_consent,
    plan,
    resolve_sender,
)
from routing_svc.domain.rate_limit import RateLimits
from routing_svc.domain.requests import ConsentIn, MessageIn
from routing_svc.domain.templates import TemplateProblem
from routing_svc.domain.traffic import PROMOTIONAL
from routing_svc.domain.vault import Vault
from routing_svc.errors import Overloaded, RateLimited
from routing_svc.metrics import OVERLOADED, RATE_LIMITED, inc
from routing_svc.ports import Bus, ClientRefs, Consents, Messages, Senders, Templates

STREAM_FULL = frozenset({10077, 10078, 10047})
"""JetStream errors of a full stream (`discard: new`): maximum messages / bytes exceeded,
insufficient storage."""


def _day(ts: str) -> str:
    """`YYYYMMDD` of a contract timestamp (whose record subkey seals the message)."""
    return ts[:10].replace("-", "")


def app_fields(body: MessageIn) -> set[tuple[str, ...]]:
    """The app-gated fields a send gives (see `domain.policy.APP_FIELDS`)."""
    given: set[tuple[str, ...]] = set()
    if body.campaign_id is not None:
        given.add(("campaign_id",))
    if body.content.media_url is not None:
        given.add(("content", "media_url"))
    if body.content.template is not None:
        given.add(("content", "template"))
    return given


class Submissions:
    """The send, consent and message-log use cases of the messaging API."""

    def __init__(
        self,
        *,
        store: Messages,
        bus: Bus,
        vault: Vault,
        consents: Consents,
        default_senders: Mapping[str, str],
        default_dr_ttl_s: int,
        templates: Templates,
        links: ShortLinks | None = None,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        promotional_accepting: int = 0,
        senders: Senders | None = None,
        client_refs: ClientRefs | None = None,
    ) -> None:
        self._client_refs = client_refs
        self._senders = senders
        self._now = now
        self._promo_slots = (
            asyncio.Semaphore(promotional_accepting) if promotional_accepting > 0 else None
        )
        self._links = links
        self._limits, self._clock = limits, clock
        self._store, self._bus, self._vault, self._consents = store, bus, vault, consents
        self._templates = templates
        self._defaults = dict(default_senders)
        self._default_ttl = default_dr_ttl_s

    async def send(self, account: AccountView, body: MessageIn) -> dict[str, Any]:
        """Accept a message (PolicyRefusal when the account refuses it).

        Promotional sends are accepted at most `promotional_accepting` at a time per process;
        the others wait their turn (their connection held, nothing refused): a flood then keeps
        few steps in the event loop's queue, and an OTP or transactional send is not delayed
        behind hundreds of promotional ones being stored."""
        if account.traffic_class == PROMOTIONAL and self._promo_slots is not None:
            async with self._promo_slots:
                return await self._send(account, body)
        return await self._send(account, body)

    async def _send(self, account: AccountView, body: MessageIn) -> dict[str, Any]:
        if self._limits is not None:
            wait = self._limits.take(account.account_id, self._clock())
            if wait > 0:
                RATE_LIMITED.inc()
                raise RateLimited("the account sends faster than its send rate limit", wait)
        check_apps(account, app_fields(body))
        registered = self._senders.registered if self._senders is not None else None
        sender = resolve_sender(account, body.channel, body.sender, self._defaults, registered)
        check_window(account, self._now())
        if needs_consent(account):
            record = await self._consents.get(account.enterprise_id, body.to)
            check_consent(account, record.status_for(body.channel))
        at = now_ts()
        message_id = new_message_id(
            account.account_id, int(time.time() * 1000), secrets.randbits(RANDOM_BITS)
        )
        content = self._content(account, body)
        if self._links is not None and "url_shortener" in account.apps and "text" in content:
            content["text"] = await self._links.shorten(
                content["text"], account.account_id, message_id, account.data_protection
            )
        validity = body.validity_seconds
        until = int(time.time() * 1000) + validity * 1000 if validity else None
        msg = Message(
            id=message_id,
            account_id=account.account_id,
            enterprise_id=account.enterprise_id,
            protection=account.data_protection,
            to_masked=mask_msisdn(body.to),
            created_at=at,
            hops=plan(account, body.channel, sender, self._defaults, self._default_ttl),
            attempts=[Attempt(1, body.channel, at, valid_until_ms=until)],
            conversational=account.conversational,
            client_ref=body.client_ref,
            metadata=body.metadata,
            validity_s=validity,
            campaign_id=body.campaign_id,
            traffic_class=account.traffic_class,
            **self._vault.protect(
                account.data_protection, account.account_id, body.to, content, _day(at)
            ),
        )
        indexed = None
        if self._client_refs is not None and body.client_ref is not None:
            indexed = await self._client_refs.add(account.account_id, body.client_ref, msg.id)
        await self._store.create(msg)
        if indexed is not None:
            await indexed  # the client_ref index entry is stored before the 202, like the record
        try:
            await (await self._bus.submit(account.account_id, msg.id, 1, msg.traffic_class))
        except APIError as exc:
            if exc.err_code not in STREAM_FULL:
                raise
            await self._store.discard(msg.id)  # refused: nothing of it stays
            inc(OVERLOADED, "submit_full")
            raise Overloaded("Parley is taking no more messages right now") from None
        return {"message_id": msg.id, "status": "accepted"}

    def _content(self, account: AccountView, body: MessageIn) -> dict[str, Any]:
        """The content to store and send: a template rendered, or text checked against the
        approved templates when the account has Template Lookup on."""
        content = body.content.model_dump(exclude_none=True)
        if "template_lookup" not in account.apps:
            return content
        given = body.content.template
        if given is not None:
            template = self._templates.get(given.id)
            if (
                template is None
                or template.enterprise_id != account.enterprise_id
                or template.channel != body.channel
            ):
                raise PolicyRefusal(
                    "template_not_matched",
                    f"no approved {body.channel} template with this id",
                    ["content", "template", "id"],
                )
            try:
                content["text"] = template.render(given.params)
            except TemplateProblem as exc:
                raise PolicyRefusal("validation_error", exc.detail, exc.loc) from exc
            return content
        if body.content.text is not None:
            index = self._templates.index(account.enterprise_id, body.channel)
            if index.match(body.content.text) is None:
                raise PolicyRefusal(
                    "template_not_matched",
                    f"the text matches no approved {body.channel} template",
                    ["content", "text"],
                )
        return content

    async def message(self, account: AccountView, message_id: str) -> dict[str, Any] | None:
        """A message of this account as the API shows it, or None."""
        from routing_svc.domain.records import view

        msg = await self._store.read(message_id)
        if msg is None or msg.account_id != account.account_id:
            return None
        to, content = self._vault.shown(msg)
        return view(msg, to, content)

    async def put_consent(
        self, account: AccountView, msisdn: str, body: ConsentIn
    ) -> dict[str, Any]:
        """Record a user's consent for the account's enterprise."""
        at = now_ts()

        def change(record: consent_rules.ConsentRecord) -> consent_rules.ConsentRecord:
            return consent_rules.with_status(record, body.status, body.channel, at)

        record = await self._consents.change(account.enterprise_id, msisdn, change)
        return consent_rules.answer(msisdn, record)

    async def get_consent(self, account: AccountView, msisdn: str) -> dict[str, Any]:
        """A user's consent towards the account's enterprise."""
        record = await self._consents.get(account.enterprise_id, msisdn)
        return consent_rules.answer(msisdn, record)
