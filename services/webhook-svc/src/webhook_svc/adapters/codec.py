"""How batches and dead letters travel on the bus (WEBHOOK_RETRY, WEBHOOK_DEAD_LETTERS).

A record is one JSON line of metadata, a newline, then the body bytes as they are (JSON never
holds a raw newline, so the first one ends the metadata): the body is never re-encoded, and
listing dead letters reads only the first line of each.

The body of an account whose data protection is not `store` is kept sealed (`BodySeal`:
`MasterKey.seal_record` under the account's subkey of the day, field `webhook.body`; the
metadata line says `"sealed": true`). The metadata holds ids, counts and the webhook's own
metadata pairs, never a number or a text.
"""

from __future__ import annotations

from typing import Any

import orjson
from parley_shared.sealing import MasterKey, SealError
from parley_shared.timefmt import now_ts

from webhook_svc.domain.records import DeadLetter, Delivery

SEPARATOR = b"\n"
PUBLIC_FIELDS = ("id", "kind", "event_ids", "attempts", "last_error", "failed_at")
BODY_FIELD = "webhook.body"


class BodySeal:
    """Seals and opens the bodies of a protected account's batches and dead letters."""

    def __init__(self, master: MasterKey) -> None:
        """Use this master key (and its previous ones to open)."""
        self._master = master

    def seal(self, account_id: str, body: bytes) -> bytes:
        """`body` sealed under the account's record subkey of today."""
        day = now_ts()[:10].replace("-", "")
        return self._master.seal_record(body.decode(), account_id, BODY_FIELD, day).encode()

    def open(self, account_id: str, sealed: bytes) -> bytes:
        """A body sealed by `seal`; ValueError (SealError) when it does not open."""
        return self._master.unseal_record(sealed.decode("ascii"), account_id, BODY_FIELD).encode()


def _stored_body(delivery: Delivery, seal: BodySeal | None) -> tuple[bytes, bool]:
    if delivery.protection == "store" or seal is None:
        return delivery.body, False
    return seal.seal(delivery.account_id, delivery.body), True


def encode_delivery(delivery: Delivery, seal: BodySeal | None = None) -> bytes:
    """A batch as it travels on WEBHOOK_RETRY (its body sealed unless the account's data
    protection is `store`, when `seal` is given)."""
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
    body, sealed = _stored_body(delivery, seal)
    if delivery.protection != "store":
        meta["protection"] = delivery.protection
    if delivery.traffic_class != "transactional":
        meta["class"] = delivery.traffic_class
    if sealed:
        meta["sealed"] = True
    return orjson.dumps(meta) + SEPARATOR + body


def decode_delivery(data: bytes, seal: BodySeal | None = None) -> Delivery:
    """A batch read back (its body opened); ValueError when it is not one or does not open."""
    meta, body = _split(data)
    if meta.get("sealed") is True:
        if seal is None:
            raise ValueError("a sealed record and no key to open it")
        try:
            body = seal.open(str(meta.get("account_id")), body)
        except (SealError, UnicodeDecodeError) as exc:
            raise ValueError("a sealed record that does not open") from exc
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
            protection=str(meta.get("protection") or "store"),
            traffic_class=str(meta.get("class") or "transactional"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a delivery record: {exc}") from exc


def encode_dead_letter(letter: DeadLetter, seal: BodySeal | None = None) -> bytes:
    """A dead letter as it is kept on WEBHOOK_DEAD_LETTERS (body sealed as in
    `encode_delivery`)."""
    d = letter.delivery
    meta: dict[str, Any] = {
        **letter.public(),
        "account_id": d.account_id,
        "batch_id": d.batch_id,
        "headers": d.headers,
    }
    if d.raw:
        meta["raw"] = True
    body, sealed = _stored_body(d, seal)
    if d.protection != "store":
        meta["protection"] = d.protection
    if sealed:
        meta["sealed"] = True
    return orjson.dumps(meta) + SEPARATOR + body


def decode_dead_letter(data: bytes, seal: BodySeal | None = None) -> DeadLetter:
    """A dead letter read back; ValueError when it is not one."""
    meta, _ = _split(data)
    delivery = decode_delivery(data, seal)
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
