"""Wires webhook-svc: settings -> NATS, streams, views, stores, senders, handlers, consumers.

Roles: `worker` (the STATUS, INBOUND and WEBHOOK_RETRY consumers and the deliveries),
`api` (the request/reply API: FastStream subscribers on a broker of their own,
`parley_runtime.broker`). `create_app(settings, roles)` builds the aiohttp app serving
/healthz, /readyz and /metrics; its startup hook connects, its cleanup hook stops pulling,
gives back what was not delivered, and disconnects. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import Any

import structlog
from aiohttp import web
from faststream.nats import NatsBroker
from parley_runtime import metrics_http, tracing
from parley_runtime.broker import service_broker
from parley_runtime.broker import start as start_broker
from parley_runtime.nats import connect as nats_connect
from parley_runtime.tasks import cancel_and_wait
from parley_shared import subjects
from parley_shared.sealing import MasterKey
from parley_shared.streams import ensure_streams

from webhook_svc.adapters.codec import BodySeal, decode_delivery
from webhook_svc.adapters.directory import Directory
from webhook_svc.adapters.disabled import DisabledWebhooks
from webhook_svc.adapters.http_api import build_app
from webhook_svc.adapters.http_sender import HttpSender
from webhook_svc.adapters.nats_sender import NatsSender
from webhook_svc.adapters.poison import PoisonStore
from webhook_svc.adapters.pull import PullSource, pull_settings
from webhook_svc.adapters.purge import AccountPurge
from webhook_svc.adapters.rpc import Api
from webhook_svc.adapters.senders import TargetSender
from webhook_svc.adapters.stores import AttemptLog, DeadLetterStore, RetryQueue
from webhook_svc.dispatch import Dispatcher
from webhook_svc.domain.records import Delivery
from webhook_svc.domain.webhooks import STATUS, USER_INITIATED
from webhook_svc.intake import Intake
from webhook_svc.settings import Settings
from webhook_svc.settle import Settler

log = structlog.get_logger("webhook_svc.bootstrap")

ROLES = ("worker", "api")


def master_key(settings: Settings) -> MasterKey:
    """The master key (and the previous one during a rotation) from the settings."""
    previous = (
        [settings.master_key_previous.get_secret_value()] if settings.master_key_previous else []
    )
    return MasterKey.from_b64(settings.master_key.get_secret_value(), previous=previous)


class Service:
    """One webhook-svc process: what it runs depends on its roles."""

    def __init__(self, settings: Settings, roles: Collection[str] = ROLES) -> None:
        """Check the settings and the master key; connect nothing yet."""
        self.settings = settings
        self.roles = frozenset(roles)
        self.master_key = master_key(settings)
        self.nc: Any = None
        self.view = Directory(self.master_key)
        self.disabled = DisabledWebhooks()
        self.sources: list[PullSource] = []
        self.intake: Intake | None = None
        self.dispatcher: Dispatcher | None = None
        self.api: Api | None = None
        self.broker: NatsBroker | None = None
        self.sender: TargetSender | None = None
        self.purge: AccountPurge | None = None
        self._seal: BodySeal | None = None
        self._state = {"streams": False, "consuming": False, "api": False}
        self._starter: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    def ready(self) -> tuple[bool, dict[str, bool]]:
        """Whether /readyz answers 200, with each check."""
        checks = {"nats": bool(self.nc is not None and self.nc.is_connected), **self._state}
        if "worker" in self.roles:
            checks["accounts_loaded"] = self.view.caught_up
        else:
            checks.pop("consuming")
        if "api" not in self.roles:
            checks.pop("api")
        return all(checks.values()), checks

    async def start(self) -> None:
        """Connect, ensure the streams, start the roles (consumers once the views are loaded)."""
        self.nc = await nats_connect(
            self.settings.nats_url,
            "webhook-svc",
            on_reconnect=self._on_reconnect,
            closing=self._closing,
        )
        js = self.nc.jetstream()
        await ensure_streams(
            js, self.settings.stream_replicas, self.settings.stream_retention, owner="webhook-svc"
        )
        self._state["streams"] = True
        seal = BodySeal(self.master_key)
        retries = RetryQueue(js, seal=seal)
        dead_letters = DeadLetterStore(js, seal)
        attempt_log = AttemptLog(self.nc)
        if "api" in self.roles:
            self.api = Api(self.nc, dead_letters, attempt_log, retries)
            self.broker = service_broker(
                self.settings.nats_url, "webhook-svc", closing=self._closing
            )
            self.api.register(self.broker)
            await start_broker(self.broker)
            self._state["api"] = True
        if "worker" in self.roles:
            poison = PoisonStore(js, seal, self._protection_of)
            self._build_worker(retries, dead_letters, attempt_log, poison, seal)
            await self.view.start(js)
            await self.disabled.start(js)
            self.purge = AccountPurge(self.nc, self.settings.ack_wait_seconds)
            await self.purge.start()
            self._starter = asyncio.get_running_loop().create_task(self._start_consuming())
        log.info("webhook_svc_started", roles=sorted(self.roles), port=self.settings.http_port)

    def _protection_of(self, account_id: str) -> str:
        """An account's data protection as the view holds it (`unknown` when it does not)."""
        entry = self.view.get(account_id)
        return entry.protection if entry is not None else "unknown"

    def _build_worker(
        self,
        retries: RetryQueue,
        dead_letters: DeadLetterStore,
        attempt_log: AttemptLog,
        poison: PoisonStore,
        seal: BodySeal,
    ) -> None:
        s = self.settings
        self.sender = TargetSender(
            HttpSender(
                allow_private=s.allow_private_targets,
                connect_timeout_seconds=s.connect_timeout_seconds,
                total_timeout_seconds=s.total_timeout_seconds,
                pool_size=s.http_pool_size,
            ),
            NatsSender(
                allow_private=s.allow_private_targets,
                timeout_s=s.connect_timeout_seconds,
                idle_s=s.nats_idle_seconds,
                max_size=s.nats_pool_size,
            ),
        )
        settler = Settler(
            retries=retries,
            dead_letters=dead_letters,
            attempt_log=attempt_log,
            disabled=self.disabled,
            schedule=s.retry_delays,
            defer_seconds=s.defer_seconds,
        )
        self.dispatcher = Dispatcher(
            self.view,
            self.disabled,
            self.sender,
            settler,
            concurrency=s.endpoint_concurrency,
            max_pending=s.endpoint_max_pending,
            slow_s=s.endpoint_slow_seconds,
        )
        status = self._source(subjects.STREAM_STATUS, subjects.DURABLE_WEBHOOK_STATUS, poison)
        inbound = self._source(subjects.STREAM_INBOUND, subjects.DURABLE_WEBHOOK_INBOUND, poison)
        lanes = [
            self._source(
                subjects.STREAM_WEBHOOK_RETRY,
                durable,
                poison,
                filter_subject=subject,
                inflight=s.promotional_max_in_flight if lane == subjects.PROMOTIONAL else None,
            )
            for lane, (subject, durable) in subjects.WEBHOOK_RETRY_LANES.items()
        ]
        self._seal = seal
        self.intake = Intake(
            self.view,
            self.dispatcher,
            settler,
            {STATUS: status, USER_INITIATED: inbound},
            linger_s=s.batch_linger_ms / 1000,
            eager=s.batch_eager,
            park_limit=max(1, s.max_in_flight // 2),
            park_per_account=s.park_max_per_account,
            park_max_seconds=s.park_max_seconds,
            backlog=s.priority_backlog,
        )
        self.view.listener = self._account_changed
        self.sources = [status, inbound, *lanes]

    def _account_changed(self, account_id: str) -> None:
        """A config (or tombstone) of the account was applied: release the events waiting for
        it, and close NATS target connections made for an older config."""
        if self.intake is not None:
            self.intake.resume(account_id)
        if self.sender is not None:
            entry = self.view.get(account_id)
            self.sender.nats.account_changed(account_id, None if entry is None else entry.version)

    def _source(
        self,
        stream: str,
        durable: str,
        poison: PoisonStore,
        *,
        filter_subject: str | None = None,
        inflight: int | None = None,
    ) -> PullSource:
        s = self.settings
        filters = {
            subjects.STREAM_STATUS: subjects.STATUS_ALL,
            subjects.STREAM_INBOUND: subjects.INBOUND_ALL,
        }
        kinds = {subjects.STREAM_STATUS: STATUS, subjects.STREAM_INBOUND: USER_INITIATED}
        kind = kinds.get(stream)

        async def handle(source: PullSource, msg: Any) -> None:
            if self.intake is None:
                raise RuntimeError("worker not built")
            trace = tracing.traceparent_of(msg.headers)  # None unless tracing is on
            if kind is None:
                delivery = _delivery(msg.data, self._seal)
                if delivery is not None and trace is not None:
                    delivery.traces = (trace,)
                await self.intake.on_retry(source, msg.subject, delivery, msg.reply)
            else:
                await self.intake.on_event(
                    kind, source, msg.subject, msg.data, msg.reply, trace=trace
                )

        return PullSource(
            self.nc,
            stream=stream,
            durable=durable,
            filter_subject=filter_subject or filters[stream],
            handler=handle,
            poison=poison,
            settings=pull_settings(
                max_in_flight=inflight or s.max_in_flight,
                batch=s.fetch_batch,
                ack_wait_seconds=s.ack_wait_seconds,
                max_ack_pending=s.max_ack_pending,
                max_deliver=s.max_deliver,
                redelivery_delay_seconds=s.redelivery_delay_seconds,
                redelivery_delay_max_seconds=s.redelivery_delay_max_seconds,
            ),
        )

    async def _start_consuming(self) -> None:
        await self.view.wait_caught_up()
        await self.disabled.wait_caught_up()
        for source in self.sources:
            await source.start()
        if self.intake is not None:
            self.intake.start()
        self._state["consuming"] = True
        log.info("webhook_worker_consuming", accounts_loaded=True)

    async def _on_reconnect(self) -> None:
        for source in self.sources:
            source.reset()
        if self.purge is not None:
            self.purge.reset()

    async def stop(self) -> None:
        """Stop pulling, give back undelivered events, let attempts finish, disconnect."""
        await cancel_and_wait(self._starter)
        if self.purge is not None:
            await self.purge.stop()
        for source in self.sources:
            await source.stop()
        await self._give_back_unsent()
        if self.intake is not None:
            await self.intake.close()
        if self.dispatcher is not None:
            await self.dispatcher.close(self.settings.shutdown_grace_seconds)
        for source in self.sources:
            await source.close()
        if self.broker is not None:
            self._closing.set()
            with contextlib.suppress(Exception):
                await self.broker.stop()
        await self.view.stop()
        await self.disabled.stop()
        if self.sender is not None:
            await self.sender.close()
        if self.nc is not None:
            self._closing.set()
            with contextlib.suppress(Exception):
                await self.nc.drain()

    async def _give_back_unsent(self) -> None:
        if self.intake is None:
            return
        for batch in self.intake.open_batches():
            source = self.intake.source_of(batch.key.kind)
            await source.nak(batch.tokens)
        for source, reply in self.intake.parked():
            await source.nak([reply])


SERVICE_KEY = web.AppKey("service", Service)


def _delivery(data: bytes, seal: BodySeal | None) -> Delivery | None:
    """A WEBHOOK_RETRY record (its body opened), or None when it cannot be read."""
    try:
        return decode_delivery(data, seal)
    except ValueError:
        return None


def create_app(settings: Settings, roles: Collection[str] = ROLES) -> web.Application:
    """The webhook-svc application for these roles; connections open on startup."""
    service = Service(settings, roles)
    app = build_app(service.ready)
    metrics_http.serve_apart(app, settings.http_host, settings.metrics_port, "webhook-svc")

    async def startup(_: web.Application) -> None:
        await service.start()

    async def cleanup(_: web.Application) -> None:
        await service.stop()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app[SERVICE_KEY] = service
    return app
