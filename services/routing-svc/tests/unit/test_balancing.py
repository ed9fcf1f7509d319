"""Route choice: exact round robin, capacity-based proportions and cap, shared per-route slots."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytest
from routing_svc.domain.balancing import Balancer, CapacityBased, NoRoutes, RoundRobin
from routing_svc.domain.channels import Route

WA = [
    Route("wa-1", "whatsapp", 100),
    Route("wa-2", "whatsapp", 200),
    Route("wa-3", "whatsapp", 300),
]
CAPACITY = {route.name: route.capacity_per_s for route in WA}
SHARES = {"wa-1": 1 / 6, "wa-2": 2 / 6, "wa-3": 3 / 6}


def max_per_window(times: Iterable[float], width: float = 1.0) -> int:
    """The most of `times` that fall in any half-open window [t, t + width)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def assert_within_capacity(sends: list[tuple[str, float]]) -> None:
    """No route has more sends than its capacity in any one-second window."""
    for name, capacity in CAPACITY.items():
        times = [at for route, at in sends if route == name]
        assert max_per_window(times) <= capacity, name


def assert_shares(names: list[str]) -> None:
    """Each route's share of `names` is within 10 points of its capacity share."""
    counts = Counter(names)
    for name, share in SHARES.items():
        assert abs(counts[name] / len(names) - share) <= 0.10, (name, counts)


def test_round_robin_cycles_exactly_in_order() -> None:
    """Round robin over three routes gives 1st, 2nd, 3rd, 1st, ... for 30 picks."""
    selector = RoundRobin(WA)
    picks = [selector.choose().name for _ in range(30)]
    assert picks == ["wa-1", "wa-2", "wa-3"] * 10


def test_round_robin_reserve_continues_the_same_cycle() -> None:
    """`try_reserve` and `reserve` of a round robin advance the same exact cycle as `choose`."""
    selector = RoundRobin(WA)
    picks = [selector.choose(), selector.try_reserve(0.0), selector.reserve(0.0)[0]]
    picks.append(selector.choose())
    assert [route.name if route else None for route in picks] == ["wa-1", "wa-2", "wa-3", "wa-1"]


def test_round_robin_never_overruns_a_route() -> None:
    """Round robin waits for its route's slot: 100 reservations on one 10/s route span 9.9 s."""
    selector = RoundRobin([Route("tc-1", "truecaller", 10)])
    times = [selector.reserve(0.0)[1] for _ in range(100)]
    assert max_per_window(times) <= 10
    assert times[-1] >= 9.9
    assert selector.try_reserve(0.0) is None  # its next slot is in the future


def test_selectors_refuse_empty_route_lists() -> None:
    """A selector over no routes is refused with NoRoutes, not an IndexError later."""
    with pytest.raises(NoRoutes):
        RoundRobin([])
    with pytest.raises(NoRoutes):
        CapacityBased([])


def test_capacity_based_refuses_a_route_without_capacity() -> None:
    """A route whose capacity is not positive cannot be balanced on capacity."""
    with pytest.raises(ValueError, match="capacity"):
        CapacityBased([Route("wa-0", "whatsapp", 0)])


def test_capacity_based_light_traffic_is_proportional() -> None:
    """Under light traffic (one pick per second) the split still follows capacity, 1:2:3."""
    selector = CapacityBased(WA)
    names = []
    for second in range(600):
        route = selector.try_reserve(float(second))
        assert route is not None
        names.append(route.name)
    assert_shares(names)
    assert Counter(names) == {"wa-1": 100, "wa-2": 200, "wa-3": 300}


def test_capacity_based_saturated_is_proportional_and_capped() -> None:
    """Taking every free slot for 2 s splits 1:2:3 and never exceeds a capacity in any second."""
    selector = CapacityBased(WA)
    sends: list[tuple[str, float]] = []
    for step in range(20_000):  # 0.1 ms steps
        now = step * 1e-4
        while (route := selector.try_reserve(now)) is not None:
            sends.append((route.name, now))
    assert_within_capacity(sends)
    assert_shares([name for name, _ in sends])
    assert len(sends) >= 0.95 * 600 * 2  # it does use the capacity, not just stay under it


def test_reserve_in_sequence_schedules_under_capacity() -> None:
    """600 back-to-back reservations at one instant get slots 1:2:3, never over capacity."""
    selector = CapacityBased(WA)
    sends = [(route.name, at) for route, at in (selector.reserve(0.0) for _ in range(600))]
    assert_within_capacity(sends)
    assert_shares([name for name, _ in sends])
    assert max(at for _, at in sends) >= 0.9  # 600 sends at 600/s take about a second


def test_reservations_of_two_accounts_share_route_capacity() -> None:
    """300 reservations from two accounts together keep every route within its capacity."""
    balancer = Balancer()
    sends = [
        (route.name, at)
        for route, at in (
            balancer.selector_for(f"acc_{i % 2}", "whatsapp", "capacity_based", WA).reserve(0.0)
            for i in range(300)
        )
    ]
    assert len(balancer) == 2
    assert_within_capacity(sends)
    assert_shares([name for name, _ in sends])
    assert max(at for _, at in sends) >= 0.45  # the later ones wait for their slots


def test_reserve_when_all_routes_are_saturated_is_later() -> None:
    """With two 20/s routes, 10 reservations at once end about 0.2 s later, 5 per route."""
    slow = [Route("wa-a", "whatsapp", 20), Route("wa-b", "whatsapp", 20)]
    selector = CapacityBased(slow)
    picked = [selector.reserve(0.0) for _ in range(10)]
    assert Counter(route.name for route, _ in picked) == {"wa-a": 5, "wa-b": 5}
    assert 0.19 <= max(at for _, at in picked) < 0.25
    assert selector.try_reserve(0.0) is None  # both routes have slots reserved ahead


def test_balancer_keeps_round_robin_exact_per_account_and_channel() -> None:
    """Interleaved accounts each keep their own exact cycle across calls to `selector_for`."""
    balancer = Balancer()
    picks: dict[str, list[str]] = {"acc_a": [], "acc_b": []}
    for account in ["acc_a", "acc_b", "acc_a", "acc_a", "acc_b", "acc_a"]:
        selector = balancer.selector_for(account, "whatsapp", "round_robin", WA)
        picks[account].append(selector.reserve(0.0)[0].name)
    assert picks == {"acc_a": ["wa-1", "wa-2", "wa-3", "wa-1"], "acc_b": ["wa-1", "wa-2"]}


def test_balancer_strategy_none_is_round_robin_and_keys_include_routes() -> None:
    """No strategy means round robin, and another route list is another selector."""
    balancer = Balancer()
    rcs = balancer.selector_for("acc_a", "rcs", None, WA[:2])
    assert isinstance(rcs, RoundRobin)
    assert balancer.selector_for("acc_a", "rcs", None, WA[:2]) is rcs
    assert balancer.selector_for("acc_a", "rcs", None, WA[1:]) is not rcs
    assert isinstance(
        balancer.selector_for("acc_a", "whatsapp", "capacity_based", WA), CapacityBased
    )


def test_balancer_capacity_is_per_route_across_accounts_and_strategies() -> None:
    """Once one account took a route's slot, another account's selector finds it busy, round
    robin included."""
    balancer = Balancer()
    only = [Route("tc-1", "truecaller", 100)]
    first = balancer.selector_for("acc_a", "truecaller", "capacity_based", only)
    second = balancer.selector_for("acc_b", "truecaller", "capacity_based", only)
    third = balancer.selector_for("acc_c", "truecaller", "round_robin", only)
    assert first.try_reserve(0.0) is not None
    assert second.try_reserve(0.0) is None
    assert third.try_reserve(0.0) is None


def test_balancer_forgets_accounts_and_bounds_its_size() -> None:
    """`forget` drops an account's selectors; beyond max_selectors the least recent is dropped."""
    balancer = Balancer(max_selectors=2)
    first = balancer.selector_for("acc_a", "whatsapp", "round_robin", WA)
    balancer.selector_for("acc_b", "whatsapp", "round_robin", WA)
    balancer.selector_for("acc_a", "whatsapp", "round_robin", WA)  # acc_a is now the most recent
    balancer.selector_for("acc_c", "whatsapp", "round_robin", WA)  # evicts acc_b
    assert len(balancer) == 2
    assert balancer.selector_for("acc_a", "whatsapp", "round_robin", WA) is first
    assert balancer.forget("acc_a") == 1
    assert balancer.selector_for("acc_a", "whatsapp", "round_robin", WA) is not first
