"""`live_keys`: which keys of a KV bucket hold a value now, on a real nats-server."""

from __future__ import annotations

import nats
from parley_devtools.buckets import live_keys


async def test_live_keys_are_the_stored_ones_without_deleted_or_purged(nats_url: str) -> None:
    """An empty bucket has none; a put key is there at once (no waiting on a watcher); a deleted
    or purged key is not, and a key written again after its delete is."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="LIVE_KEYS")
        assert await live_keys(js, "LIVE_KEYS") == []
        for key in ("b.2", "a.1", "c.3", "d.4"):
            await kv.put(key, b"v")
        assert await live_keys(js, "LIVE_KEYS") == ["a.1", "b.2", "c.3", "d.4"]
        await kv.delete("b.2")
        await kv.purge("c.3")
        await kv.put("a.1", b"again")
        assert await live_keys(js, "LIVE_KEYS") == ["a.1", "d.4"]
        await kv.put("b.2", b"back")
        assert await live_keys(js, "LIVE_KEYS") == ["a.1", "b.2", "d.4"]
    finally:
        await nc.close()


async def test_the_keys_are_read_right_after_each_write(nats_url: str) -> None:
    """Forty rounds of write-then-read: each read sees every key written before it (the case
    nats-py's watcher-based `keys()` can miss)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket="LIVE_KEYS_RACE")
        for n in range(1, 41):
            await kv.put(f"k.{n:02d}", b"v")
            assert len(await live_keys(js, "LIVE_KEYS_RACE")) == n
    finally:
        await nc.close()
