"""Waiting for an account's config: capped per account, per process and in time."""

from __future__ import annotations

from webhook_svc.domain.parking import Parking, Verdict


def test_an_account_beyond_its_cap_is_refused_while_others_still_park() -> None:
    """The event past an account's cap is ACCOUNT_FULL; another account still parks."""
    lot: Parking[str] = Parking(per_account=2, total=10, max_s=60)
    assert [lot.park("acc_a", f"e{i}", 0.0) for i in range(3)] == [
        Verdict.PARKED,
        Verdict.PARKED,
        Verdict.ACCOUNT_FULL,
    ]
    assert lot.park("acc_b", "x", 0.0) is Verdict.PARKED
    assert (len(lot), lot.waiting("acc_a"), lot.waiting("acc_b")) == (3, 2, 1)


def test_the_process_cap_gives_events_back_rather_than_dead_lettering() -> None:
    """Past the process-wide cap, an account under its own cap gets ALL_FULL (not its fault)."""
    lot: Parking[str] = Parking(per_account=5, total=2, max_s=60)
    lot.park("acc_a", "1", 0.0)
    lot.park("acc_b", "2", 0.0)
    assert lot.park("acc_c", "3", 0.0) is Verdict.ALL_FULL


def test_events_expire_oldest_first_after_max_s() -> None:
    """Only events that waited max_s leave, per account, oldest first; the rest keep waiting."""
    lot: Parking[str] = Parking(per_account=5, total=10, max_s=10)
    lot.park("acc_a", "a1", 0.0)
    lot.park("acc_a", "a2", 5.0)
    lot.park("acc_b", "b1", 1.0)
    assert lot.expired(9.9) == {}
    assert lot.expired(11.0) == {"acc_a": ["a1"], "acc_b": ["b1"]}
    assert (len(lot), lot.waiting("acc_a"), lot.waiting("acc_b")) == (1, 1, 0)
    assert lot.park("acc_b", "b2", 11.0) is Verdict.PARKED


def test_release_hands_back_an_accounts_events_in_order() -> None:
    """When the config arrives, the account's events come back in arrival order."""
    lot: Parking[str] = Parking(per_account=5, total=10, max_s=10)
    for item in ("1", "2", "3"):
        lot.park("acc_a", item, 0.0)
    lot.park("acc_b", "x", 0.0)
    assert lot.release("acc_a") == ["1", "2", "3"]
    assert lot.release("acc_a") == []
    assert len(lot) == 1
    assert lot.drain() == ["x"]
    assert len(lot) == 0
