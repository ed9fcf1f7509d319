"""The routes a provider serves: the sandbox defaults (CONTRACT section 5) and the routes file.

`ROUTING_ROUTES_FILE` names a JSON file that replaces the defaults as a whole:

    {"routes": [{"name": "wa-1", "channel": "whatsapp", "capacity_per_s": 100},
                {"name": "rcs-airtel", "channel": "rcs", "capacity_per_s": 200,
                 "agent_provider": "airtel"}]}

Every RCS route names the agent provider it reaches (`agent_provider`), no other route does;
names are unique. A broken file fails at start with a `RoutesFileError` naming each bad entry.
`routes_for` picks, in a stable order, the routes a message may take.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from routing_svc.providers.base import Channel, Route

AgentProvider = Literal["reliance-jio", "vodafone-idea", "airtel"]

DEFAULT_ROUTES: tuple[Route, ...] = (
    Route("sms-1", "sms", 500.0),
    Route("rcs-reliance-jio", "rcs", 200.0, agent_provider="reliance-jio"),
    Route("rcs-vodafone-idea", "rcs", 200.0, agent_provider="vodafone-idea"),
    Route("rcs-airtel", "rcs", 200.0, agent_provider="airtel"),
    Route("wa-1", "whatsapp", 100.0),
    Route("wa-2", "whatsapp", 200.0),
    Route("wa-3", "whatsapp", 300.0),
    Route("tc-1", "truecaller", 100.0),
    Route("tc-2", "truecaller", 100.0),
)


class RoutesFileError(ValueError):
    """Raised when the routes file cannot be read or is not a valid routes file.

    It exists so that a bad `ROUTING_ROUTES_FILE` stops the service at start with one message
    naming every offending entry, instead of surfacing later as an unroutable message.
    """


RouteName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class RouteEntry(BaseModel):
    """One route of the routes file, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RouteName
    channel: Channel
    capacity_per_s: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    agent_provider: AgentProvider | None = None

    @model_validator(mode="after")
    def _agent_provider_only_on_rcs(self) -> RouteEntry:
        if self.channel == "rcs" and self.agent_provider is None:
            raise ValueError("an rcs route needs agent_provider")
        if self.channel != "rcs" and self.agent_provider is not None:
            raise ValueError("agent_provider is only for rcs routes")
        return self

    def to_route(self) -> Route:
        return Route(self.name, self.channel, self.capacity_per_s, self.agent_provider)


class RoutesFile(BaseModel):
    """The routes file, as written."""

    model_config = ConfigDict(extra="forbid")

    routes: Annotated[list[RouteEntry], Field(min_length=1)]


def default_routes() -> list[Route]:
    """The sandbox's default routes (CONTRACT section 5), in their documented order."""
    return list(DEFAULT_ROUTES)


def _entry_label(raw: Any, index: int) -> str:
    """`routes[2] ('wa-9')` for an error message: the position, and the name when readable."""
    label = f"routes[{index}]"
    try:
        name = raw["routes"][index]["name"]
    except (KeyError, IndexError, TypeError):
        return label
    return f"{label} ({name!r})" if isinstance(name, str) else label


def _describe(err: ValidationError, raw: Any) -> list[str]:
    lines: list[str] = []
    for item in err.errors(include_url=False):
        loc = list(item["loc"])
        if len(loc) >= 2 and loc[0] == "routes" and isinstance(loc[1], int):
            where = _entry_label(raw, loc[1])
            rest = ".".join(str(part) for part in loc[2:])
            where = f"{where}.{rest}" if rest else where
        else:
            where = ".".join(str(part) for part in loc) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    return lines


def parse_routes(raw: Any, source: str = "routes file") -> list[Route]:
    """Validate already-decoded routes-file JSON; raise `RoutesFileError` naming each bad entry."""
    try:
        parsed = RoutesFile.model_validate(raw)
    except ValidationError as err:
        details = "\n  - ".join(_describe(err, raw))
        raise RoutesFileError(f"{source} is not a valid routes file:\n  - {details}") from None
    seen: dict[str, int] = {}
    problems: list[str] = []
    for index, entry in enumerate(parsed.routes):
        if entry.name in seen:
            problems.append(
                f"routes[{index}] ({entry.name!r}): name already used by routes[{seen[entry.name]}]"
            )
        else:
            seen[entry.name] = index
    if problems:
        details = "\n  - ".join(problems)
        raise RoutesFileError(f"{source} is not a valid routes file:\n  - {details}")
    return [entry.to_route() for entry in parsed.routes]


def load_routes(path: str | None) -> list[Route]:
    """The routes of the file at `path` (`ROUTING_ROUTES_FILE`); None or "" gives the defaults."""
    if not path:
        return default_routes()
    try:
        text = Path(path).read_text("utf-8")
    except OSError as err:
        raise RoutesFileError(f"cannot read routes file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise RoutesFileError(f"routes file {path} is not UTF-8") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise RoutesFileError(
            f"routes file {path} is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    return parse_routes(raw, source=f"routes file {path}")


def routes_for(
    routes: Sequence[Route], channel: Channel, agent_providers: Iterable[str] | None = None
) -> list[Route]:
    """The routes a message on `channel` may take, in a stable order; [] when there is none.

    RCS with `agent_providers` (the account's `channel_settings.rcs.agent_providers`): the RCS
    routes of those providers, in the account's order (then in `routes` order for a provider
    with several). Otherwise every route of the channel, in `routes` order.
    """
    if channel == "rcs" and agent_providers is not None:
        return [
            route
            for provider in dict.fromkeys(agent_providers)
            for route in routes
            if route.channel == "rcs" and route.agent_provider == provider
        ]
    return [route for route in routes if route.channel == channel]
