"""How batches and dead letters travel on the bus (WEBHOOK_RETRY, WEBHOOK_DEAD_LETTERS).

A record is one JSON line of metadata, a newline, then the body bytes as they are (JSON never
holds a raw newline, so the first one ends the metadata): the body is never re-encoded, and
listing dead letters reads only the first line of each.
"""

from __future__ import annotations

from typing import Any

import orjson

from webhook_svc.domain.records import DeadLetter, Delivery

SEPARATOR = b"\n"
PUBLIC_FIELDS = ("id", "kind", "event_ids", "attempts", "last_error", "failed_at")


def encode_delivery(delivery: Delivery) -> bytes:
    """A batch as it travels on WEBHOOK_RETRY."""
    meta = {
        "batch_id": delivery.batch_id,
        "account_id": delivery.account_id,
        "kind": delivery.kind,
        "event_ids": delivery.event_ids,
        "attempt": delivery.attempt,
        "headers": delivery.headers,
        "replay_of": delivery.replay_of,
    }
    if delivery.raw:
        meta["raw"] = True
    return orjson.dumps(meta) + SEPARATOR + delivery.body


def decode_delivery(data: bytes) -> Delivery:
    """A batch read back; ValueError when it is not one."""
    meta, body = _split(data)
    event_ids, headers = meta.get("event_ids"), meta.get("headers") or {}
    replay_of = meta.get("replay_of")
    if not isinstance(event_ids, list):
        raise ValueError("not a delivery record: event_ids is not a list")  # noqa: TRY004 - bad input data
    if not isinstance(headers, dict) or not isinstance(replay_of, str | None):
        raise ValueError("not a delivery record: a field of the wrong type")  # noqa: TRY004 - bad input data
    try:
        return Delivery(
            batch_id=str(meta["batch_id"]),
            account_id=str(meta["account_id"]),
            kind=str(meta["kind"]),
            event_ids=[str(i) for i in event_ids],
            body=body,
            attempt=int(meta.get("attempt", 1)),
            headers={str(k): str(v) for k, v in headers.items()},
            replay_of=replay_of,
            raw=meta.get("raw") is True,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a delivery record: {exc}") from exc


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """A dead letter as it is kept on WEBHOOK_DEAD_LETTERS."""
    d = letter.delivery
    meta = {
        **letter.public(),
        "account_id": d.account_id,
        "batch_id": d.batch_id,
        "headers": d.headers,
    }
    return orjson.dumps(meta) + SEPARATOR + d.body


def decode_dead_letter(data: bytes) -> DeadLetter:
    """A dead letter read back; ValueError when it is not one."""
    meta, _ = _split(data)
    delivery = decode_delivery(data)
    try:
        return DeadLetter(
            id=str(meta["id"]),
            delivery=delivery,
            attempts=int(meta["attempts"]),
            last_error=str(meta["last_error"]),
            failed_at=str(meta["failed_at"]),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a dead letter: {exc}") from exc


def public_dead_letter(data: bytes) -> dict[str, Any]:
    """The API view of a stored dead letter, reading only its metadata line (no body copy)."""
    end = data.find(SEPARATOR)
    if end < 0:
        raise ValueError("record has no metadata line")
    meta = _meta(memoryview(data)[:end])
    return {key: meta.get(key) for key in PUBLIC_FIELDS}


def _split(data: bytes) -> tuple[dict[str, Any], bytes]:
    head, sep, body = bytes(data).partition(SEPARATOR)
    if not sep:
        raise ValueError("record has no metadata line")
    return _meta(head), body


def _meta(head: bytes | memoryview) -> dict[str, Any]:
    try:
        meta = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise ValueError("record metadata is not JSON") from exc
    if not isinstance(meta, dict):
        raise ValueError("record metadata is not an object")  # noqa: TRY004 - bad input data
    return meta
