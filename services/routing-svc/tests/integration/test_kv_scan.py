"""`KvScan`: the latest value of every matching key, read to the end by count, on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from nats.js.api import KeyValueConfig
from routing_svc.adapters.kv_scan import KvScan, Latest

BUCKET = "SCANNED"


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    """A JetStream context on a fresh server."""
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def scan_all(js: Any, pattern: str = ">", *, values: bool = True) -> list[Latest]:
    """Every live key the scan gives, in the order given."""
    found: list[Latest] = []
    async with KvScan(js, BUCKET, pattern, values=values) as scan:
        while (entry := await scan.next(10.0)) is not None:
            found.append(entry)
    return found


async def test_the_latest_live_value_of_each_matching_key_and_nothing_else(js: Any) -> None:
    """Older revisions, deleted and purged keys and keys outside the pattern are left out;
    each key comes once with its latest value and revision."""
    kv = await js.create_key_value(KeyValueConfig(bucket=BUCKET, history=5))
    await kv.put("a.1", b"old")
    latest = await kv.put("a.1", b"new")
    await kv.put("a.2", b"gone")
    await kv.delete("a.2")
    await kv.put("a.3", b"purged")
    await kv.purge("a.3")
    await kv.put("b.1", b"other pattern")
    await kv.put("a.4", b"kept")
    found = await scan_all(js, "a.*")
    assert [(e.key, e.value) for e in found] == [("a.1", b"new"), ("a.4", b"kept")]
    assert found[0].revision == latest
    assert {e.key for e in await scan_all(js)} == {"a.1", "a.4", "b.1"}


async def test_headers_only_gives_the_keys_without_their_values(js: Any) -> None:
    """`values=False` reads only headers: the keys and revisions, empty values."""
    kv = await js.create_key_value(KeyValueConfig(bucket=BUCKET))
    revision = await kv.put("x.1", b"a value")
    assert await scan_all(js, values=False) == [Latest("x.1", b"", revision)]


async def test_a_scan_with_nothing_to_read_ends_at_once(js: Any) -> None:
    """An empty bucket, or a pattern no key matches, answers None at the first `next` (no
    waiting for a timeout: `next` would raise one)."""
    kv = await js.create_key_value(KeyValueConfig(bucket=BUCKET))
    async with KvScan(js, BUCKET) as scan:
        assert (scan.total, await scan.next(10.0)) == (0, None)
    await kv.put("a.1", b"v")
    async with KvScan(js, BUCKET, "zzz.*") as scan:
        assert (scan.total, await scan.next(10.0)) == (0, None)


async def test_every_key_of_a_large_bucket_is_read_once(js: Any) -> None:
    """2,000 keys, half of them written twice: the scan gives each key once, its latest value."""
    kv = await js.create_key_value(KeyValueConfig(bucket=BUCKET, history=2))
    for n in range(2000):
        await kv.put(f"k.{n}", b"first")
    for n in range(0, 2000, 2):
        await kv.put(f"k.{n}", b"second")
    found = await scan_all(js)
    assert len(found) == 2000
    values = {e.key: e.value for e in found}
    assert values == {f"k.{n}": b"second" if n % 2 == 0 else b"first" for n in range(2000)}


async def test_a_key_stored_just_before_the_scan_is_always_in_it(js: Any) -> None:
    """Sixty rounds of put-then-scan: each scan ends only after every key acknowledged before
    it (the case nats-py's watcher could end early on)."""
    kv = await js.create_key_value(KeyValueConfig(bucket=BUCKET))
    for n in range(1, 61):
        await kv.put(f"k.{n:02d}", b"v")
        assert len(await scan_all(js, values=False)) == n
