"""The ports routing-svc's use cases work over; adapters implement them against JetStream, KV
and the providers' networks, tests against fakes.

Use cases (`submissions`, `router`, `transitions`, `outcomes`, `inbound`, `clicks`, `access`,
`erasure`)
import only this module and `domain`; `bootstrap` hands them the adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from routing_svc.domain.accounts import AccountView
from routing_svc.domain.channels import (
    CallbackAnswer,
    CallbackRequest,
    Channel,
    Claim,
    DeliveryReport,
    InboundMessage,
    Outbound,
    PartRef,
    ProviderReport,
    Route,
    SendResult,
)
from routing_svc.domain.consent import ConsentRecord
from routing_svc.domain.lifecycle import Message
from routing_svc.domain.templates import Template, TemplateIndex

Ack = asyncio.Future[Any]
"""A JetStream publish's acknowledgement, awaited together with others (pipelining)."""


# ---------------------------------------------------------------------------- work in hand
class InFlight(Protocol):
    """A JetStream message being handled (nats-py's `Msg` is one)."""

    data: bytes

    @property
    def metadata(self) -> Any:
        """`num_delivered` and the stream sequence of this delivery."""
        ...

    async def ack(self) -> None:
        """Done: what it caused is stored."""
        ...

    async def nak(self, delay: float | None = None) -> None:
        """Deliver it again (after `delay` seconds)."""
        ...

    async def term(self) -> None:
        """Never deliver it again."""
        ...

    async def in_progress(self) -> None:
        """Still being worked on: restart its ack deadline."""
        ...


# ---------------------------------------------------------------------------- storage
class Messages(Protocol):
    """The message log (records with compare-and-set revisions, an in-process lock per id)."""

    def lock(self, message_id: str) -> AbstractAsyncContextManager[None]:
        """The in-process lock of one message."""
        ...

    async def create(self, msg: Message) -> None:
        """Store a new message (refusing to overwrite one)."""
        ...

    async def load(self, message_id: str, fresh: bool = False) -> tuple[Message, int] | None:
        """The message and its revision (cached unless `fresh`), or None."""
        ...

    async def read(self, message_id: str) -> Message | None:
        """The stored message, bypassing the cache (queries)."""
        ...

    async def discard(self, message_id: str) -> None:
        """Remove a message that was never accepted (its queueing was refused)."""
        ...

    async def save(self, msg: Message, revision: int) -> int:
        """Write `msg` if the stored revision is still `revision` (else `StaleState`)."""
        ...

    def hold(self, msg: Message, revision: int) -> None:
        """Keep a change in memory until `save` writes it."""
        ...

    def held(self, message_id: str) -> tuple[Message, int] | None:
        """The held change of a message, if one waits to be written."""
        ...

    def forget(self, message_id: str) -> None:
        """Drop a cached entry."""
        ...


class Consents(Protocol):
    """Consent records by (enterprise, msisdn)."""

    async def get(self, enterprise_id: str, msisdn: str) -> ConsentRecord:
        """The record (empty when the user never said anything)."""
        ...

    async def change(
        self, enterprise_id: str, msisdn: str, change: Callable[[ConsentRecord], ConsentRecord]
    ) -> ConsentRecord:
        """Apply `change` with compare-and-set; the record written."""
        ...


class LastSenders(Protocol):
    """Which conversational account last sent to a user on a channel."""

    async def remember(self, channel: str, msisdn: str, account_id: str, message_id: str) -> None:
        """Record the last sender."""
        ...

    async def lookup(self, channel: str, msisdn: str) -> tuple[str, str] | None:
        """(account id, message id) of the last sender, or None."""
        ...


class ClientRefs(Protocol):
    """Which messages were sent with a `client_ref` (the console's search index)."""

    async def add(self, account_id: str, client_ref: str, message_id: str) -> Ack:
        """Publish the entry of one message; the ack to await."""
        ...


class LinkStore(Protocol):
    """Short links of the URL Shortener."""

    async def create(self, code: str, record: dict[str, Any]) -> None:
        """Store a new link."""
        ...

    async def get(self, code: str) -> dict[str, Any] | None:
        """A live link's record, or None when unknown or expired."""
        ...


class Handovers(Protocol):
    """Attempts handed to a provider, and the provider's ids of each (shared by every replica).

    `claim` before a send makes a redelivered attempt that was already handed over not go out
    again (at most once more when the process died between the send and its answer).
    """

    async def claim(self, message_id: str, attempt: int, route: str) -> Claim:
        """Record that attempt `attempt` is about to be handed to `route`; what to do."""
        ...

    async def handed(
        self, message_id: str, attempt: int, route: str, provider_ids: tuple[str, ...]
    ) -> list[Ack]:
        """Record the provider's ids of a handed attempt (id -> attempt, for its reports)."""
        ...

    async def release(self, message_id: str, attempt: int) -> None:
        """The claimed send did not go out (refused or put off): forget the claim."""
        ...

    async def resolve(self, route: str, provider_id: str) -> PartRef | None:
        """The attempt (and part) a provider's id belongs to, or None when unknown."""
        ...

    async def seen(self, route: str, key: str) -> bool:
        """Whether a user's message with this key was handled before."""
        ...

    async def mark_seen(self, route: str, key: str) -> None:
        """Record that a user's message with this key was handled."""
        ...


class UserParts(Protocol):
    """Parts of users' long messages (SMS UDH), kept until each message is whole."""

    async def add(
        self, route: str, sender: str, *, ref: int, total: int, seq: int, text: str
    ) -> str | None:
        """Keep one part; the whole text once every part is in, else None."""
        ...

    async def forget(self, route: str, sender: str, ref: int, total: int) -> None:
        """Drop a message's parts once it was handled."""
        ...


# ---------------------------------------------------------------------------- publishing
class Bus(Protocol):
    """Everything routing-svc publishes to JetStream, pipelined (each call returns the ack)."""

    async def status(self, account_id: str, event: dict[str, Any], ttl_s: int | None = None) -> Ack:
        """A status event on the account's STATUS subject (kept `ttl_s` seconds when given)."""
        ...

    async def inbound(
        self, account_id: str, event: dict[str, Any], ttl_s: int | None = None
    ) -> Ack:
        """An inbound event on the account's INBOUND subject (kept `ttl_s` seconds when given)."""
        ...

    async def submit(
        self, account_id: str, message_id: str, attempt: int, traffic_class: str = "transactional"
    ) -> Ack:
        """Queue an attempt for routing, in its traffic class's lane."""
        ...

    async def schedule_timer(self, message_id: str, attempt: int, at_ms: int) -> Ack:
        """The DR TTL timer of an attempt (replaces an older one)."""
        ...

    def cancel_timer(self, message_id: str) -> Ack:
        """Remove a message's pending DR TTL timer."""
        ...


class AccountData(Protocol):
    """Everything routing-svc stores of one account, addressed by subject or key."""

    async def purge(self, account_id: str, *, tag_shared: bool) -> dict[str, int]:
        """Remove the account's events, queued attempts, message records and short links;
        how many stored messages went from each store. `tag_shared`: another active account
        has the same tag, so message records are removed one by one, checked."""
        ...


# ---------------------------------------------------------------------------- views
class AccountDirectory(Protocol):
    """The account view, built from ACCOUNTS."""

    def get(self, account_id: str) -> AccountView | None:
        """An account by id."""
        ...

    def by_api_key(self, api_key: str) -> AccountView | None:
        """The account whose current key this is."""
        ...

    def owners(self, channel: str, sender: str) -> list[AccountView]:
        """Conversational accounts whose access list for `channel` names `sender`."""
        ...

    def account_ids(self) -> list[str]:
        """The ids of every active account."""
        ...

    @property
    def ready(self) -> asyncio.Event:
        """Set once the view caught up with the stream."""
        ...


class Senders(Protocol):
    """The registered senders of every enterprise, built from SENDERS."""

    def registered(self, enterprise_id: str, channel: str, value: str) -> bool:
        """Whether the enterprise owns `value` on `channel`."""
        ...


class Templates(Protocol):
    """The approved templates, built from TEMPLATES."""

    def get(self, template_id: str) -> Template | None:
        """An approved template by id."""
        ...

    def index(self, enterprise_id: str, channel: str) -> TemplateIndex:
        """The approved templates of an enterprise on a channel."""
        ...


# ---------------------------------------------------------------------------- providers
class ProviderSink(Protocol):
    """Where a provider hands what it hears; each call returns once it is durable (JetStream),
    so the provider may then acknowledge it to the network (SMPP `deliver_sm_resp`, HTTP 200)."""

    async def report(self, report: DeliveryReport, delay_s: float = 0.0) -> None:
        """An outcome keyed by Parley's ids (the sandbox), visible after `delay_s`."""
        ...

    async def receipt(self, report: ProviderReport) -> None:
        """An outcome keyed by the provider's id (SMPP receipts, status callbacks)."""
        ...

    async def inbound(self, message: InboundMessage) -> None:
        """A user's message (or typing) that arrived through the provider."""
        ...


class Provider(Protocol):
    """A channel provider: the sandbox, SMPP, WhatsApp Cloud API or RBM."""

    kind: str
    """`sandbox`, `smpp`, `whatsapp_cloud` or `rbm` (the routes file's `provider`)."""

    profiles_cacheable: bool
    """Whether `has_capability` answers may be reused for a while."""

    needs_handover: bool
    """Whether a send is claimed (`Handovers.claim`) before it goes out: a real network,
    where a second send is a second message on the user's phone."""

    def routes(self) -> list[Route]:
        """Every route this provider serves, in a stable order."""
        ...

    async def start(self, sink: ProviderSink) -> None:
        """Connect; from now on what the provider hears goes to `sink`."""
        ...

    async def stop(self) -> None:
        """Disconnect (waiting briefly for answers outstanding)."""
        ...

    async def send(self, message: Outbound) -> SendResult:
        """Hand one attempt to the provider on `message.route`."""
        ...

    async def has_capability(self, to: str, channel: Channel, route: str) -> bool:
        """Profile lookup: whether `to` can receive on `channel` (through `route`)."""
        ...

    def route_up(self, route: str) -> bool:
        """Whether `route` has a live connection now."""
        ...


class CallbackProvider(Protocol):
    """A provider that hears its network through HTTP callbacks (WhatsApp Cloud API, RBM)."""

    async def callback(self, route: str, request: CallbackRequest) -> CallbackAnswer:
        """Verify and handle one callback; answer 401 (changing nothing) when it fails its
        provider's verification, 200 only once what it carries is durable (`ProviderSink`)."""
        ...


class Providers(Protocol):
    """Every provider of the process, by route."""

    def routes(self) -> list[Route]:
        """Every route, in the routes file's order."""
        ...

    def for_route(self, route: str) -> Provider:
        """The provider carrying `route`."""
        ...


class Capacity(Protocol):
    """Each route's `capacity_per_s`, held across every replica together."""

    async def take(self, route: Route) -> None:
        """Wait for (and take) one send's share of `route`'s capacity."""
        ...


class Profiles(Protocol):
    """Strict profile checks (cached where the provider allows it)."""

    async def has(self, to: str, channel: Channel, route: str) -> bool:
        """Whether `to` can receive on `channel`."""
        ...
