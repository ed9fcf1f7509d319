"""Priority in webhook-svc: with a promotional backlog on STATUS, an OTP event behind it is
delivered before most of the backlog (promotional batches yield to their own retry lane), and
every promotional event is still delivered."""

from __future__ import annotations

from typing import Any

from parley_devtools.account_events import status_hook
from parley_devtools.receiver import Receiver
from parley_devtools.waiting import eventually
from webhook_testkit import Account, publish_events, status_event

BACKLOG = 1000


async def test_an_otp_event_is_not_delivered_behind_a_promotional_backlog(
    js: Any, master: Any, receiver: Receiver, start_service: Any
) -> None:
    """1,000 promotional events then one OTP event wait on STATUS; a worker holding at most
    100 messages delivers the OTP event before half of the promotional ones (by arrival order
    at the receiver), and then all of them."""
    promo = Account(master, status_webhook=status_hook(receiver.url("/promo")))
    promo.traffic_type = "promotional"
    otp = Account(master, status_webhook=status_hook(receiver.url("/otp")))
    for account in (promo, otp):
        await account.publish(js)
    receiver.delays["/promo"] = 0.02  # a receiver that takes its time: ~800 events/s
    flood = [status_event(promo.account_id) for _ in range(BACKLOG)]
    code = status_event(otp.account_id)
    await publish_events(js, [*flood, code])
    await start_service(
        max_in_flight=100, promotional_max_in_flight=100, priority_backlog=50, fetch_batch=50
    )
    await eventually(lambda: bool(receiver.on("/otp")), 20, "the OTP event delivered")
    order = [r.path for r in receiver.requests]
    before = order[: order.index("/otp")].count("/promo")
    assert before < BACKLOG // 2, f"{before} promotional deliveries came first"
    await eventually(
        lambda: len(set(receiver.event_ids("/promo"))) == BACKLOG, 30, "every promotional event"
    )
