"""The keys of a NATS KV bucket, read without nats-py's racy `KeyValue.keys()`.

nats-py's `keys()` starts an ordered watcher and takes "the consumer has 0 pending and my
callback has seen 0 messages" to mean "the bucket is empty". A key the server has already
pushed to the watcher, but whose callback has not run yet, meets both: `keys()` then raises
`NoKeysError` for a bucket that holds a key written (and acknowledged) before the call. Tests
that ask "which keys are stored now" read the bucket's stream instead: its per-subject state
(every key with a message), then each key's last entry (a delete or purge marker is no value).
"""

from __future__ import annotations

from typing import Any

from nats.js.errors import KeyNotFoundError


async def live_keys(js: Any, bucket: str) -> list[str]:
    """The keys of `bucket` that hold a value now, sorted (deleted and purged keys left out)."""
    prefix = f"$KV.{bucket}."
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=prefix + ">")
    kv = await js.key_value(bucket)
    keys: list[str] = []
    for subject in sorted(info.state.subjects or {}):
        key = subject[len(prefix) :]
        try:
            await kv.get(key)
        except KeyNotFoundError:  # KeyDeletedError too: a delete or purge marker
            continue
        keys.append(key)
    return keys
