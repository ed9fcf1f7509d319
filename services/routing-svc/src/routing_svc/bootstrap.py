"""Wires routing-svc: settings -> NATS, streams, buckets, account view, provider, workers, APIs.

Nothing connects at import time; `create_app(settings)` builds the service and its aiohttp
lifecycle hooks connect and disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from aiohttp import web
from faststream.nats import NatsBroker
from parley_runtime import metrics_http, tracing
from parley_runtime.broker import service_broker
from parley_runtime.broker import start as start_broker
from parley_runtime.nats import connect as nats_connect
from parley_shared import subjects
from parley_shared.sealing import MasterKey
from parley_shared.streams import ensure_streams

from routing_svc.access import Gate
from routing_svc.adapters import kv, traced
from routing_svc.adapters.bus import Bus, JetStreamProviderSink
from routing_svc.adapters.capacity import CapacityLeases
from routing_svc.adapters.client_refs import ClientRefIndex
from routing_svc.adapters.consent_store import ConsentStore
from routing_svc.adapters.directory import Directory
from routing_svc.adapters.handovers import KvHandovers, KvUserParts
from routing_svc.adapters.http_api import Services, build_app
from routing_svc.adapters.jetstream import JetStreamPublisher
from routing_svc.adapters.last_sender import LastSenders
from routing_svc.adapters.link_store import KvLinkStore
from routing_svc.adapters.message_store import MessageStore
from routing_svc.adapters.nats_api import NatsApi
from routing_svc.adapters.ops_api import OpsApi
from routing_svc.adapters.profiles import ProfileCache
from routing_svc.adapters.providers import rbm, registry, whatsapp_cloud
from routing_svc.adapters.providers.config import RouteConfig
from routing_svc.adapters.providers.registry import ProviderSet
from routing_svc.adapters.providers.routes_file import load_route_configs
from routing_svc.adapters.providers.sandbox_http import SANDBOX_ROUTES
from routing_svc.adapters.providers.smpp import provider as smpp_provider
from routing_svc.adapters.providers.smpp.provider import SmppProvider
from routing_svc.adapters.pull import PullConsumer
from routing_svc.adapters.purge import JetStreamAccountData
from routing_svc.adapters.sender_book import SenderBook
from routing_svc.adapters.template_book import TemplateBook
from routing_svc.clicks import ShortLinks
from routing_svc.domain.balancing import Balancer
from routing_svc.domain.rate_limit import RateLimits
from routing_svc.domain.vault import Vault
from routing_svc.erasure import Erasure
from routing_svc.inbound import Inbound
from routing_svc.metrics import ROUTE_UP, SMPP_BINDS_UP, SMPP_WINDOW
from routing_svc.outcomes import ImmediateReports, Outcomes
from routing_svc.router import Router
from routing_svc.settings import Settings
from routing_svc.submissions import Submissions
from routing_svc.transitions import Transitions

log = structlog.get_logger("routing_svc.bootstrap")


def master_key(settings: Settings) -> MasterKey:
    """The master key (and the previous one during a rotation) from the settings."""
    previous = (
        [settings.master_key_previous.get_secret_value()] if settings.master_key_previous else []
    )
    return MasterKey.from_b64(settings.master_key.get_secret_value(), previous=previous)


@dataclass
class Runtime:
    """What a running routing-svc holds, for shutdown and readiness."""

    nc: Any = None
    directory: Directory | None = None
    templates: TemplateBook | None = None
    senders: SenderBook | None = None
    providers: ProviderSet | None = None
    consumers: list[PullConsumer] = field(default_factory=list)
    nats_api: NatsApi | None = None
    ops_api: OpsApi | None = None
    broker: NatsBroker | None = None
    publisher: JetStreamPublisher | None = None
    started: bool = False
    closing: asyncio.Event = field(default_factory=asyncio.Event)


RUNTIME = web.AppKey("runtime", Runtime)
PURGE_IN_FLIGHT = 4
"""Deleted accounts purged at once per process (`erasure`)."""

FACTORIES: dict[str, registry.Factory] = {
    "smpp": smpp_provider.build,
    "whatsapp_cloud": whatsapp_cloud.build,
    "rbm": rbm.build,
}
"""Builders of the real networks' providers, by the routes file's `provider` kind."""


def route_configs(settings: Settings) -> list[RouteConfig]:
    """The routes file (or the sandbox's defaults), its secrets read from the environment;
    a bad entry raises `RoutesFileError` naming route and field."""
    path = str(settings.routes_file) if settings.routes_file else None
    return load_route_configs(path, os.environ)


def _consumers(
    settings: Settings,
    nc: Any,
    js: Any,
    handlers: dict[str, Callable[[Any], Awaitable[None]]],
) -> list[PullConsumer]:
    common: dict[str, Any] = {
        "batch": settings.submit_batch,
        "max_in_flight": settings.max_in_flight,
        "ack_wait_seconds": settings.ack_wait_seconds,
        "max_deliver": settings.max_deliver,
    }
    lanes = tuple(
        (stream, durable, subject, "submit" if lane == subjects.TRANSACTIONAL else f"submit_{lane}")
        for lane, (stream, subject, durable) in subjects.SUBMIT_LANES.items()
    )
    wiring = (
        *lanes,
        (
            subjects.STREAM_ROUTING_REPORTS,
            subjects.DURABLE_ROUTING_REPORTS,
            subjects.REPORT_ALL,
            "report",
        ),
        (
            subjects.STREAM_ROUTING_TIMERS,
            subjects.DURABLE_ROUTING_TIMERS,
            subjects.TIMER_FIRED_ALL,
            "timer",
        ),
        (
            subjects.STREAM_ROUTING_REPORTS,
            subjects.DURABLE_ROUTING_RECEIPTS,
            subjects.RECEIPT_ALL,
            "receipt",
        ),
        (
            subjects.STREAM_ROUTING_REPORTS,
            subjects.DURABLE_ROUTING_USER_MESSAGES,
            subjects.USER_MESSAGE_ALL,
            "user",
        ),
        (
            subjects.STREAM_ACCOUNTS,
            subjects.DURABLE_ROUTING_PURGE,
            subjects.ACCOUNT_CONFIG_ALL,
            "purge",
        ),
    )
    slow = {
        "purge": PURGE_IN_FLIGHT,  # a purge is several API calls: a few at a time
        # a promotional flood waits in its stream, not in this process's loop
        "submit_promotional": settings.promotional_max_in_flight,
    }
    return [
        PullConsumer(
            nc,
            js,
            stream=stream,
            durable=durable,
            filter_subject=subject,
            handler=handlers[name],
            **(common | ({"max_in_flight": slow[name]} if name in slow else {})),
        )
        for stream, durable, subject, name in wiring
    ]


def _route_gauges(providers: ProviderSet) -> None:
    """Each route's gauges read from its provider when scraped."""
    for route in providers.routes():
        ROUTE_UP.labels(route.name).set_function(partial(providers.route_up, route.name))
        provider = providers.for_route(route.name)
        if isinstance(provider, SmppProvider):
            SMPP_BINDS_UP.labels(route.name).set_function(partial(provider.binds_up, route.name))
            SMPP_WINDOW.labels(route.name).set_function(partial(provider.window_in_use, route.name))


async def _views(
    rt: Runtime, js: Any, master: MasterKey
) -> tuple[Directory, TemplateBook, SenderBook]:
    """Start following ACCOUNTS, TEMPLATES and SENDERS (each view rebuilt, then kept current)."""
    rt.directory = directory = Directory(master)
    await directory.start(js)
    rt.templates = templates = TemplateBook()
    await templates.start(js)
    rt.senders = senders = SenderBook()
    await senders.start(js)
    return directory, templates, senders


async def start(
    settings: Settings,
    master: MasterKey,
    services: Services,
    rt: Runtime,
    configs: list[RouteConfig],
) -> None:
    """Connect and start every part; the HTTP routes answer 503 until this has run."""
    rt.nc = nc = await nats_connect(settings.nats_url, "routing-svc", closing=rt.closing)
    js = nc.jetstream()
    await ensure_streams(
        js, settings.stream_replicas, settings.stream_retention, owner="routing-svc"
    )
    specs = kv.bucket_specs(
        settings.message_log_ttl_seconds,
        settings.last_sender_ttl_seconds,
        settings.short_link_ttl_seconds,
        settings.handover_ttl_seconds,
    )
    buckets = {
        spec.name: await kv.ensure_bucket(js, spec, settings.stream_replicas) for spec in specs
    }
    directory, templates, senders = await _views(rt, js, master)
    rt.publisher = publisher = traced.publisher(nc)
    await publisher.start()
    bus, vault = Bus(nc, publisher), Vault(master, settings.protected_event_ttl_seconds)
    store = MessageStore(buckets[kv.MESSAGES], kv.KvWriter(publisher, kv.MESSAGES))
    consents = ConsentStore(buckets[kv.CONSENT])
    last = LastSenders(buckets[kv.LAST_SENDER], master.number_hashes)
    handovers = KvHandovers(buckets[kv.HANDOVERS], kv.KvWriter(publisher, kv.HANDOVERS))
    providers = await registry.build(configs, nc, FACTORIES, replicas=settings.stream_replicas)
    immediate = ImmediateReports(JetStreamProviderSink(bus, vault))
    await providers.start(immediate)
    rt.providers = providers
    _route_gauges(providers)
    transitions = Transitions(store, bus, vault, settings.timer_grace_seconds)
    router = Router(
        transitions=transitions,
        vault=vault,
        providers=traced.providers(providers),
        balancer=Balancer(),
        capacity=CapacityLeases(buckets[kv.CAPACITY]),
        handovers=handovers,
        profiles=ProfileCache(providers, settings.profile_cache_seconds),
        last_senders=last,
        linger_s=settings.state_linger_seconds,
        immediate=immediate,
    )
    gate = Gate(directory, settings.trusted_networks)
    links = ShortLinks(
        KvLinkStore(buckets[kv.SHORT_LINKS]),
        settings.short_base,
        store=store,
        vault=vault,
        bus=bus,
    )
    client_refs = ClientRefIndex(js, kv.KvWriter(publisher, kv.CLIENT_REFS))
    submissions = Submissions(
        client_refs=client_refs,
        store=store,
        bus=bus,
        vault=vault,
        consents=consents,
        default_senders=settings.default_senders,
        default_dr_ttl_s=settings.default_dr_ttl_seconds,
        templates=templates,
        links=links,
        limits=RateLimits(settings.account_send_rate_per_second, settings.account_send_burst),
        promotional_accepting=settings.promotional_accepting,
        senders=senders,
    )
    inbound = Inbound(
        directory,
        consents,
        last,
        bus,
        vault,
        heard=handovers,
        parts=KvUserParts(buckets[kv.HANDOVERS], vault),
    )
    services.links = links
    services.gate, services.submissions = gate, submissions
    services.inbound = inbound
    services.sandbox = providers.sandbox
    services.providers = providers
    if settings.role in ("all", "worker"):
        outcomes = Outcomes(transitions, handovers)
        erasure = Erasure(directory, JetStreamAccountData(nc, js, store))
        handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            "submit": router.handle,
            "submit_otp": router.handle,
            "submit_promotional": router.handle,
            "report": outcomes.on_report,
            "timer": outcomes.on_timer,
            "receipt": outcomes.on_receipt,
            "user": inbound.heard,
            "purge": erasure.on_config,
        }
        handlers = traced.handlers(handlers, handovers, store)
        rt.consumers = _consumers(settings, nc, js, handlers)
        for consumer in rt.consumers:
            await consumer.start()
    if settings.role in ("all", "api"):
        rt.nats_api = NatsApi(nc, gate, submissions, settings.max_nats_in_flight)
        await rt.nats_api.start()
    rt.ops_api = OpsApi(providers, store, client_refs, role=settings.role)
    await rt.ops_api.start()
    rt.broker = service_broker(settings.nats_url, "routing-svc", closing=rt.closing)
    rt.ops_api.register(rt.broker)
    await start_broker(rt.broker)
    rt.started = True
    log.info("routing_svc_started", port=settings.http_port, providers=providers.kinds())


async def stop(rt: Runtime) -> None:
    """Stop taking work, let work in hand finish briefly, disconnect."""
    rt.closing.set()
    if rt.nats_api is not None:
        await rt.nats_api.stop()
    if rt.broker is not None:
        with contextlib.suppress(Exception):
            await rt.broker.stop()
    if rt.ops_api is not None:
        await rt.ops_api.stop()
    for consumer in rt.consumers:
        await consumer.stop()
    if rt.providers is not None:
        await rt.providers.stop()
    if rt.directory is not None:
        with contextlib.suppress(Exception):
            await rt.directory.stop()
    if rt.templates is not None:
        with contextlib.suppress(Exception):
            await rt.templates.stop()
    if rt.senders is not None:
        with contextlib.suppress(Exception):
            await rt.senders.stop()
    if rt.publisher is not None:
        await rt.publisher.stop()
    if rt.nc is not None:
        with contextlib.suppress(Exception):
            await rt.nc.drain()


def create_app(settings: Settings) -> web.Application:
    """The routing-svc application; connections open on startup, close on cleanup."""
    master = master_key(settings)
    configs = route_configs(settings)
    services = Services()
    rt = Runtime()

    async def ready() -> tuple[bool, dict[str, Any]]:
        nats_ok = bool(rt.nc is not None and rt.nc.is_connected)
        view_ok = bool(rt.directory is not None and rt.directory.ready.is_set())
        templates_ok = bool(rt.templates is not None and rt.templates.ready.is_set())
        senders_ok = bool(rt.senders is not None and rt.senders.ready.is_set())
        ok = nats_ok and view_ok and templates_ok and senders_ok and rt.started
        detail = {
            "nats": nats_ok,
            "accounts": view_ok,
            "templates": templates_ok,
            "senders": senders_ok,
        }
        return ok, {**detail, "workers": rt.started}

    sandboxed = any(config.route.provider == "sandbox" for config in configs)
    extra = SANDBOX_ROUTES if sandboxed else ()
    app = build_app(services, ready, extra, settings.max_body_bytes, settings.max_http_in_flight)
    if tracing.enabled():
        app.middlewares.insert(0, tracing.http_middleware())
    metrics_http.serve_apart(app, settings.http_host, settings.metrics_port, "routing-svc")
    app[RUNTIME] = rt

    async def startup(_: web.Application) -> None:
        await start(settings, master, services, rt, configs)

    async def cleanup(_: web.Application) -> None:
        await stop(rt)

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    return app
