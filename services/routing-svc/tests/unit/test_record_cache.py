"""`RecordCache`: the message store's in-flight records, the older ones as bytes the garbage
collector does not track."""

from __future__ import annotations

import gc

from routing_svc.adapters.record_cache import RecordCache
from routing_svc.domain import records
from routing_svc.domain.lifecycle import Attempt, Message
from routing_svc.domain.policy import Hop


def message(n: int, account: str = "acc_1") -> Message:
    """A message in flight, with a hop, an attempt and content."""
    hop = Hop("sms", "PARLEY", "default", None, ("p1",), 3600, ("failed",))
    return Message(
        id=f"msg_{n}",
        account_id=account,
        enterprise_id="ent_1",
        protection="store",
        to_masked="+4477****123",
        created_at="2026-12-07T11:00:00.000Z",
        hops=[hop],
        attempts=[Attempt(1, "sms", "2026-12-07T11:00:00.000Z", route="sms-1", parts=2)],
        to="+447700900123",
        content={"type": "text", "text": f"message {n}"},
        metadata={"k": [1, 2]},
        applied={"1": [["sent", 1]]},
        traffic_class="promotional",
    )


def test_a_recent_record_is_the_same_object() -> None:
    """Within the hot part a record comes back as the object put, at its revision."""
    cache = RecordCache(set(), size=10, hot=3)
    msg = message(1)
    cache.put(msg, 7)
    assert cache.get("msg_1") == (msg, 7)
    assert cache.get("msg_1")[0] is msg  # type: ignore[index]
    assert cache.get("msg_2") is None


def test_an_older_record_goes_cold_and_comes_back_equal() -> None:
    """Past `hot` newer records, a record is held as its stored bytes and decodes to an equal
    message (every field) when used, hot again."""
    cache = RecordCache(set(), size=10, hot=3)
    first = message(1)
    cache.put(first, 5)
    for n in range(2, 5):
        cache.put(message(n), n)
    assert len(cache) == 4
    back = cache.get("msg_1")
    assert back is not None
    assert back[0] is not first
    assert back == (first, 5)
    assert records.dumps(back[0]) == records.dumps(first)
    assert cache.get("msg_1")[0] is back[0]  # type: ignore[index]  # hot once used


def test_cold_records_are_not_tracked_by_the_garbage_collector() -> None:
    """However many records are cold, the objects the collector scans are the hot ones'."""
    cache = RecordCache(set(), size=5_000, hot=100)
    for n in range(3_000):
        cache.put(message(n), n)
    gc.collect()  # untracks tuples of untracked values
    cold = list(cache._cold.values())
    assert len(cold) == 2_900
    assert not any(gc.is_tracked(entry) for entry in cold)
    assert len(cache._hot) == 100


def test_the_least_recently_used_record_is_dropped_at_size() -> None:
    """At `size` records the least recently used goes, cold or hot; using a record keeps it."""
    cache = RecordCache(set(), size=4, hot=2)
    for n in range(1, 5):
        cache.put(message(n), n)
    assert cache.get("msg_1") is not None  # cold -> hot: now the most recent
    cache.put(message(5), 5)
    assert "msg_2" not in cache
    assert all(f"msg_{n}" in cache for n in (1, 3, 4, 5))
    small = RecordCache(set(), size=1, hot=3)  # only a hot part to drop from
    small.put(message(1), 1)
    small.put(message(2), 2)
    assert "msg_1" not in small
    assert "msg_2" in small


def test_a_pinned_record_is_never_dropped() -> None:
    """A record whose change is held and not yet written stays, cold or hot, past `size`."""
    pinned = {"msg_1"}
    cache = RecordCache(pinned, size=3, hot=1)
    cache.put(message(1), 1)
    for n in range(2, 10):
        cache.put(message(n), n)
    assert cache.get("msg_1") == (message(1), 1)
    assert len(cache) == 3
    pinned.clear()
    for n in range(10, 13):
        cache.put(message(n), n)
    assert "msg_1" not in cache


def test_put_replaces_a_cold_record_and_pop_forgets_either() -> None:
    """A newer put of a cold record wins over its bytes; `pop` forgets hot and cold alike."""
    cache = RecordCache(set(), size=10, hot=1)
    cache.put(message(1), 1)
    cache.put(message(2), 2)  # msg_1 cold
    newer = message(1)
    newer.attempts[0].status = "sent"
    cache.put(newer, 2)
    assert cache.get("msg_1") == (newer, 2)
    assert len(cache) == 2
    cache.pop("msg_1")
    cache.pop("msg_2")
    cache.pop("msg_3")
    assert len(cache) == 0


def test_an_accounts_records_are_dropped_from_both_parts() -> None:
    """`drop_account` removes that account's records only, hot and cold, and names them."""
    cache = RecordCache(set(), size=10, hot=2)
    for n in range(6):
        cache.put(message(n, "acc_a" if n % 2 else "acc_b"), n)
    dropped = cache.drop_account("acc_a")
    assert sorted(dropped) == ["msg_1", "msg_3", "msg_5"]
    assert len(cache) == 3
    assert all(cache.get(f"msg_{n}") is not None for n in (0, 2, 4))
