"""The account view derives payload keys off the event loop as configs arrive."""

from __future__ import annotations

import asyncio
from typing import Any

from parley_shared.sealing import MasterKey, generate_master_key
from routing_accounts import AccountPublisher
from routing_svc.adapters.directory import Directory


class _Capture:
    """Stands in for JetStream: keeps what the publisher would have sent."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def publish(self, _subject: str, payload: bytes, **_: Any) -> None:
        self.payloads.append(payload)


async def test_payload_keys_are_derived_before_the_first_request() -> None:
    """An encrypting account's key is derived on a worker thread once its config is applied,
    so no request has to run PBKDF2 on the event loop."""
    master = MasterKey.from_b64(generate_master_key())
    capture = _Capture()
    account = await AccountPublisher(capture, master).create(["sms"], encrypted=True)
    directory = Directory(master)
    assert await directory.apply(capture.payloads[-1])
    view = directory.get(account.account_id)
    assert view is not None
    (key,) = [entry.value for entry in view.secrets.payload_keys]
    deadline = asyncio.get_running_loop().time() + 10
    while "key" not in vars(key):  # cached_property fills the instance's dict
        assert asyncio.get_running_loop().time() < deadline, "the key was not derived"
        await asyncio.sleep(0.02)
    assert key.key == account.key().key
