"""Message ids that name their account's shard, and the message log keys made from them.

A message id is `msg_` + 10 characters of millisecond time + 6 characters of its account's tag
+ 10 random characters (Crockford base32, 26 characters after the prefix like every id): still
opaque and time-sortable. The tag is the first 30 bits of sha256(account id). The message log
keeps a record under `<tag>.<message id>`, so all of an account's records share one subject
prefix in the bucket's stream and a deleted account's log is purged with one subject filter
(`$KV.ROUTING_MESSAGES.<tag>.*`), without reading the log. Two accounts may share a tag (30
bits: a few pairs among 100,000 accounts): the purge then removes record by record, checking
each record's account.

Records written before ids carried a tag are keyed by the id alone (`legacy_key`); the store
reads those there until the log's TTL has expired them.
"""

from __future__ import annotations

import hashlib
import re

_ALPHABET = (
    "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case (as parley_shared.ids)
)
PREFIX = "msg_"
TAG_CHARS = 6
_TIME_CHARS = 10
_RANDOM_CHARS = 10
_TAG_AT = len(PREFIX) + _TIME_CHARS
_ID = re.compile(rf"^{PREFIX}[{_ALPHABET}]{{26}}$")


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def account_tag(account_id: str) -> str:
    """The 6-character tag of an account (first 30 bits of sha256 of its id)."""
    value = int.from_bytes(hashlib.sha256(account_id.encode()).digest()[:4], "big") >> 2
    return _b32(value, TAG_CHARS)


RANDOM_BITS = 50


def new_message_id(account_id: str, now_ms: int, random_bits: int) -> str:
    """A new message id of `account_id`: `now_ms` (milliseconds since the epoch), the account's
    tag, and `random_bits` (50 random bits: the caller's, so the domain stays free of a clock
    and of entropy, as every module of `domain/`)."""
    rnd = random_bits & ((1 << RANDOM_BITS) - 1)
    return f"{PREFIX}{_b32(now_ms, _TIME_CHARS)}{account_tag(account_id)}{_b32(rnd, _RANDOM_CHARS)}"


def tag_of(message_id: str) -> str | None:
    """The tag part of a well-formed message id (for an id made before tags, its characters
    are random: `log_key` of it is then a key no record is stored under)."""
    if not _ID.match(message_id):
        return None
    return message_id[_TAG_AT : _TAG_AT + TAG_CHARS]


def log_key(message_id: str) -> str:
    """The message log key of a message: `<tag>.<message id>` (the id alone if malformed)."""
    tag = tag_of(message_id)
    return message_id if tag is None else f"{tag}.{message_id}"


def legacy_key(message_id: str) -> str:
    """Where a record made before ids carried a tag is kept: its id."""
    return message_id


def account_prefix(account_id: str) -> str:
    """The key filter of every record of the accounts sharing `account_id`'s tag."""
    return f"{account_tag(account_id)}.*"
