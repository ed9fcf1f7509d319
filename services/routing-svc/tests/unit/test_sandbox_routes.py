"""Sandbox routes: the contract's defaults, the routes file and its errors, and `routes_for`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from routing_svc.adapters.providers.routes_file import RoutesFileError, load_routes
from routing_svc.domain.channels import Route
from routing_svc.domain.routes import DEFAULT_ROUTES, default_routes, routes_for


def write(tmp_path: Path, content: Any) -> str:
    """Write a routes file (JSON of `content`, or `content` itself when it is a str)."""
    path = tmp_path / "routes.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return str(path)


def test_default_routes_are_the_contracts() -> None:
    """The defaults are CONTRACT section 5's routes, channels, capacities and agent providers."""
    assert [(r.name, r.channel, r.capacity_per_s, r.agent_provider) for r in default_routes()] == [
        ("sms-1", "sms", 500, None),
        ("rcs-reliance-jio", "rcs", 200, "reliance-jio"),
        ("rcs-vodafone-idea", "rcs", 200, "vodafone-idea"),
        ("rcs-airtel", "rcs", 200, "airtel"),
        ("wa-1", "whatsapp", 100, None),
        ("wa-2", "whatsapp", 200, None),
        ("wa-3", "whatsapp", 300, None),
        ("tc-1", "truecaller", 100, None),
        ("tc-2", "truecaller", 100, None),
    ]


@pytest.mark.parametrize("path", [None, ""])
def test_no_routes_file_means_the_defaults(path: str | None) -> None:
    """Without ROUTING_ROUTES_FILE (unset or empty) the defaults apply."""
    assert load_routes(path) == list(DEFAULT_ROUTES)


def test_routes_file_replaces_the_defaults(tmp_path: Path) -> None:
    """A valid file gives exactly its routes, in its order."""
    path = write(
        tmp_path,
        {
            "routes": [
                {"name": "wa-x", "channel": "whatsapp", "capacity_per_s": 50},
                {
                    "name": "rcs-j",
                    "channel": "rcs",
                    "capacity_per_s": 7.5,
                    "agent_provider": "airtel",
                },
            ]
        },
    )
    assert load_routes(path) == [
        Route("wa-x", "whatsapp", 50.0),
        Route("rcs-j", "rcs", 7.5, agent_provider="airtel"),
    ]


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        pytest.param(
            [
                {"name": "ok", "channel": "sms", "capacity_per_s": 1},
                {"name": "wa-9", "channel": "whatsapp", "capacity_per_s": 0},
            ],
            "routes[1] ('wa-9').capacity_per_s: Input should be greater than 0",
            id="zero-capacity",
        ),
        pytest.param(
            [{"name": "rcs-x", "channel": "rcs", "capacity_per_s": 5}],
            "routes[0] ('rcs-x'): Value error, an rcs route needs agent_provider",
            id="rcs-without-provider",
        ),
        pytest.param(
            [
                {
                    "name": "wa-1",
                    "channel": "whatsapp",
                    "capacity_per_s": 5,
                    "agent_provider": "airtel",
                }
            ],
            "routes[0] ('wa-1'): Value error, agent_provider is only for rcs routes",
            id="provider-off-rcs",
        ),
        pytest.param(
            [{"name": "f-1", "channel": "fax", "capacity_per_s": 5}],
            "routes[0] ('f-1').channel:",
            id="unknown-channel",
        ),
        pytest.param(
            [{"name": "s-1", "channel": "sms", "capacity_per_s": 5, "speed": 3}],
            "routes[0] ('s-1').speed: Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            [{"channel": "sms", "capacity_per_s": 5}],
            "routes[0].name: Field required",
            id="missing-name",
        ),
        pytest.param(
            [
                {"name": "s-1", "channel": "sms", "capacity_per_s": 5},
                {"name": "s-1", "channel": "sms", "capacity_per_s": 9},
            ],
            "routes[1] ('s-1'): name already used by routes[0]",
            id="duplicate-name",
        ),
        pytest.param([], "routes: List should have at least 1 item", id="empty"),
    ],
)
def test_invalid_routes_file_names_the_entry(
    tmp_path: Path, routes: list[dict[str, Any]], expected: str
) -> None:
    """Each kind of bad entry fails at load with a message naming its position, name and field."""
    path = write(tmp_path, {"routes": routes})
    with pytest.raises(RoutesFileError) as caught:
        load_routes(path)
    assert expected in str(caught.value)
    assert path in str(caught.value)


def test_unreadable_or_misshapen_routes_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing file, non-JSON, a top-level list and a missing `routes` each say what is wrong."""
    with pytest.raises(RoutesFileError, match="cannot read routes file"):
        load_routes(str(tmp_path / "absent.json"))
    with pytest.raises(RoutesFileError, match=r"is not JSON: .* line 1"):
        load_routes(write(tmp_path, "{routes:"))
    with pytest.raises(RoutesFileError, match=r"- \(top level\): Input should be a valid dict"):
        load_routes(write(tmp_path, [{"name": "sms-1"}]))
    with pytest.raises(RoutesFileError, match=r"- routes: Field required"):
        load_routes(write(tmp_path, {"rutes": []}))


def test_rcs_routes_follow_the_accounts_agent_providers_in_its_order() -> None:
    """RCS routes are those of the account's agent providers, in the account's order."""
    picked = routes_for(default_routes(), "rcs", ["airtel", "reliance-jio"])
    assert [route.name for route in picked] == ["rcs-airtel", "rcs-reliance-jio"]


def test_routes_for_other_channels_keep_the_configured_order() -> None:
    """Other channels (and RCS without providers) take every route of the channel, in order."""
    routes = default_routes()
    assert [r.name for r in routes_for(routes, "whatsapp")] == ["wa-1", "wa-2", "wa-3"]
    assert [r.name for r in routes_for(routes, "sms")] == ["sms-1"]
    assert [r.name for r in routes_for(routes, "truecaller")] == ["tc-1", "tc-2"]
    assert len(routes_for(routes, "rcs")) == 3
    assert routes_for([Route("sms-1", "sms", 5)], "whatsapp") == []
