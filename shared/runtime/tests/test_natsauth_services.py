"""Each service's NATS user has least privilege: what another service owns is refused."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from natsauth_kit import world
from parley_devtools.nats_auth import AuthNatsServer
from parley_runtime.nats import credentials
from parley_runtime.natsauth import jwt
from parley_shared import subjects

REFUSED = [
    ("webhook-svc", "pub", subjects.account_config("acc_a")),
    ("webhook-svc", "pub", subjects.template_config("tpl_1")),
    ("routing-svc", "pub", subjects.account_config("acc_a")),
    ("account-svc", "pub", subjects.submit("acc_a")),
    ("account-svc", "pub", subjects.status("acc_a")),
    ("account-svc", "pub", "$JS.API.CONSUMER.MSG.NEXT.SUBMIT.routing-svc-submit"),
    ("account-svc", "pub", "$JS.API.CONSUMER.CREATE.SUBMIT"),
    ("account-svc", "pub", "$JS.API.CONSUMER.MSG.NEXT.STATUS.acc_a"),
    ("account-svc", "pub", "$JS.API.STREAM.UPDATE.SUBMIT"),
    ("account-svc", "pub", "$JS.API.STREAM.DELETE.SUBMIT"),
    ("webhook-svc", "pub", "$JS.API.STREAM.UPDATE.ACCOUNTS"),
    ("webhook-svc", "pub", "$JS.API.CONSUMER.MSG.NEXT.SUBMIT.routing-svc-submit"),
    ("webhook-svc", "pub", subjects.WEBHOOK_DELIVERIES_QUERY),
    ("account-svc", "sub", subjects.API_MESSAGES_SEND_ALL),
    ("webhook-svc", "sub", subjects.API_MESSAGES_SEND_ALL),
    ("webhook-svc", "sub", subjects.API_MESSAGES_SEND),
    ("routing-svc", "sub", "_INBOX.account-svc.>"),
    ("account-svc", "sub", "_INBOX.>"),
    ("routing-svc", "sub", subjects.WEBHOOK_DEAD_LETTERS_REPLAY),
]


@pytest.mark.parametrize(("service", "verb", "subject"), REFUSED)
async def test_a_service_cannot_touch_what_it_does_not_own(
    nats_auth: AuthNatsServer, service: str, verb: str, subject: str
) -> None:
    """The operation is a permission violation and the ACCOUNTS/SUBMIT streams do not change."""
    async with world(nats_auth) as w:
        js = w.admin.jetstream()
        before = [(await js.stream_info(s)).state.messages for s in ("ACCOUNTS", "SUBMIT")]
        nc = await w.service(service)
        if verb == "pub":
            await nc.publish(subject, b"{}", reply=nc.new_inbox())
        else:
            await nc.subscribe(subject)
        await nc.flush()
        assert "permissions violation" in (await nc.errors.wait_violation()).lower()
        after = [(await js.stream_info(s)).state.messages for s in ("ACCOUNTS", "SUBMIT")]
        assert after == before


async def test_each_service_does_its_own_work(nats_auth: AuthNatsServer) -> None:
    """The owner of a subject publishes it (JetStream stores it) without any violation."""
    async with world(nats_auth) as w:
        own = [
            ("account-svc", subjects.account_config("acc_a")),
            ("routing-svc", subjects.submit("acc_a")),
            ("routing-svc", subjects.status("acc_a")),
            ("webhook-svc", subjects.webhook_attempt_log("acc_a")),
        ]
        for service, subject in own:
            nc = await w.service(service)
            ack = await nc.jetstream().publish(subject, b"{}")
            assert ack.seq >= 1
            assert not nc.errors.seen


def test_service_credentials_come_from_the_environment() -> None:
    """NATS_CREDS, else NATS_USER/NATS_PASSWORD; both at once is refused."""
    assert credentials({"NATS_CREDS": "/x.creds"}) == {"user_credentials": "/x.creds"}
    assert credentials({"NATS_USER": "u", "NATS_PASSWORD": "p"}) == {"user": "u", "password": "p"}
    assert credentials({}) == {}
    with pytest.raises(ValueError, match="not both"):
        credentials({"NATS_CREDS": "/x", "NATS_USER": "u"})


def test_a_jwt_with_a_tampered_claim_or_signature_does_not_verify() -> None:
    """decode() checks the ed25519 signature against the issuer's public nkey."""
    key = jwt.Key.new(jwt.ACCOUNT)
    token = jwt.encode({"sub": "x", "nats": {"type": "generic"}}, key)
    assert jwt.decode(token)["sub"] == "x"
    head, body, sig = token.split(".")
    forged = jwt._b64(orjson.dumps({**jwt.decode(token), "sub": "y"}))
    with pytest.raises(jwt.JwtError):
        jwt.decode(f"{head}.{forged}.{sig}")
    with pytest.raises(jwt.JwtError):
        jwt.decode(f"{head}.{body}.{jwt._b64(bytes(64))}")


async def test_the_decider_admits_only_a_current_key_of_an_active_account() -> None:
    """Integrators by id + current key of an active account, the operator by its password;
    a malformed user name is refused without a lookup (it would become a subject token)."""
    from parley_runtime.natsauth.authority import make_setup
    from parley_runtime.natsauth.callout import parley_decider

    setup = make_setup("/tmp/unused", operator_password="op-pw")
    looked_up: list[str] = []
    accounts = {"acc_a": ("active", "h:k1"), "acc_gone": ("deleted", None)}

    async def lookup(account_id: str) -> tuple[str, str | None] | None:
        looked_up.append(account_id)
        return accounts.get(account_id)

    decide = parley_decider(setup.authority, lookup, lambda key, digest: f"h:{key}" == digest)
    grant = await decide("acc_a", "k1")
    assert grant is not None
    assert grant.account == setup.authority.tenant_account("acc_a").public
    assert grant.permissions["sub"]["allow"][0] == "parley.msg.v1.status.acc_a"
    assert (await decide("operator", "op-pw")) is not None
    for user, password in (
        ("acc_a", "k2"),
        ("acc_gone", "k1"),
        ("acc_none", "k1"),
        ("operator", "nope"),
        ("acc_a.>", "k1"),
        ("acc_*", "k1"),
        ("acc_a", ""),
        ("routing-svc", "k1"),
    ):
        assert await decide(user, password) is None, user
    assert "acc_a.>" not in looked_up
    assert "acc_*" not in looked_up


async def test_a_right_key_waits_for_its_accounts_nats_side() -> None:
    """With `ready`, a right key is admitted once its account's NATS side is made for it
    (asked again until then), refused when that does not happen in time; a wrong key is
    refused without asking."""
    from parley_runtime.natsauth.authority import make_setup
    from parley_runtime.natsauth.callout import parley_decider

    setup = make_setup("/tmp/unused", operator_password="op-pw")
    made: dict[str, str] = {}
    asked: list[tuple[str, str]] = []

    async def lookup(account_id: str) -> tuple[str, str | None] | None:
        return ("active", f"h:{account_id}-key")

    async def ready(account_id: str, key_hash: str) -> bool:
        asked.append((account_id, key_hash))
        return made.get(account_id) == key_hash

    decide = parley_decider(
        setup.authority,
        lookup,
        lambda key, digest: f"h:{key}" == digest,
        ready=ready,
        ready_within=0.5,
    )
    pending = asyncio.create_task(decide("acc_new", "acc_new-key"))
    await asyncio.sleep(0.1)
    assert not pending.done()  # waiting: the NATS side is not made
    made["acc_new"] = "h:acc_new-key"
    grant = await pending
    assert grant is not None
    assert grant.account == setup.authority.tenant_account("acc_new").public
    assert len(asked) >= 2

    made["acc_old"] = "h:acc_old-previous-key"  # made for the key it had before
    assert await decide("acc_old", "acc_old-key") is None
    asked.clear()
    assert await decide("acc_new", "wrong") is None
    assert asked == []
