"""The services a platform runs: what each registers in the `parley.services` entry points.

A service registers a plain dict (entry-point name = `name`; no import of devtools needed)::

    SERVICE = {"name": "account-svc", "order": 10, "port_env": "ACCOUNT_HTTP_PORT",
               "default_port": 8080, "prepare": ["account-svc", "bootstrap"],  # or None
               "command": ["account-svc", "serve"], "urls": {"console": "/console"}}

Every launcher reads the same specs, so a service added to the workspace runs under `make run`,
`make chaos`, `make bench` and the end-to-end tests without being named in any of them. For
tests and partial runs, `PARLEY_SERVICES_EXTRA` (path of a JSON file with one spec or a list)
adds specs and `PARLEY_SERVICES_ONLY` (comma-separated names) picks some.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from parley_devtools.embedded import free_port, port_is_free
from parley_devtools.processes import LaunchError, say

ENTRY_POINT_GROUP = "parley.services"


class ServiceSpecError(LaunchError):
    """A service spec (entry point or `PARLEY_SERVICES_EXTRA`) is malformed or clashes."""


def _argv(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and value and all(isinstance(a, str) and a for a in value):
        return tuple(value)
    return None


def _int(value: object, low: int = -(2**63), high: int = 2**63) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _urls(value: object) -> bool:
    items = value.items() if isinstance(value, dict) else [(None, None)]
    return all(isinstance(k, str) and isinstance(v, str) and v.startswith("/") for k, v in items)


_NAME, _ENV_VAR = re.compile(r"[a-z0-9][a-z0-9._-]*"), re.compile(r"[A-Z_][A-Z0-9_]*")
_REQUIRED = ("name", "order", "port_env", "default_port", "command")
_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "name": (lambda v: isinstance(v, str) and bool(_NAME.fullmatch(v)), "like 'account-svc'"),
    "order": (_int, "an integer"),
    "port_env": (lambda v: isinstance(v, str) and bool(_ENV_VAR.fullmatch(v)), "an env var name"),
    "default_port": (lambda v: _int(v, 1, 65535), "a TCP port number"),
    "command": (lambda v: _argv(v) is not None, "a non-empty list of strings"),
    "prepare": (lambda v: v is None or _argv(v) is not None, "null or a list of strings"),
    "urls": (lambda v: v is None or _urls(v), "a dict of label -> '/path'"),
}


@dataclass(frozen=True)
class ServiceSpec:
    """One service as it registers itself: how to prepare, start and reach it."""

    name: str
    order: int
    port_env: str
    default_port: int
    command: tuple[str, ...]
    prepare: tuple[str, ...] | None = None
    urls: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: object, source: str) -> ServiceSpec:
        """Validate a registered dict; a `ServiceSpecError` names the field at fault."""
        where = f"service spec from {source}"
        if not isinstance(raw, dict):
            raise ServiceSpecError(f"{where}: must be a dict, got {type(raw).__name__}")
        unknown, missing = sorted(set(raw) - set(_RULES)), sorted(set(_REQUIRED) - set(raw))
        if unknown or missing:
            raise ServiceSpecError(f"{where}: unknown keys {unknown}, missing keys {missing}")
        for key, (ok, wanted) in _RULES.items():
            if key in raw and not ok(raw[key]):
                raise ServiceSpecError(f"{where}: {key!r} must be {wanted}, got {raw[key]!r}")
        return cls(
            name=raw["name"],
            order=raw["order"],
            port_env=raw["port_env"],
            default_port=raw["default_port"],
            command=_argv(raw["command"]) or (),
            prepare=_argv(raw.get("prepare")),
            urls=dict(raw.get("urls") or {}),
        )


def _wanted(env: Mapping[str, str], names: Iterable[str] | None) -> set[str] | None:
    """The names asked for (empty: every one), or None when no service is wanted at all."""
    if names is not None:
        return set(names) or None
    return {n.strip() for n in env.get("PARLEY_SERVICES_ONLY", "").split(",") if n.strip()}


def discover_services(
    env: Mapping[str, str], names: Iterable[str] | None = None
) -> list[ServiceSpec]:
    """Registered specs plus `PARLEY_SERVICES_EXTRA`, filtered by `names` (or else by
    `PARLEY_SERVICES_ONLY`; no names at all: no service), sorted by `order`."""
    only = _wanted(env, names)
    if only is None:
        return []
    specs: list[ServiceSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if only and ep.name not in only:
            continue
        source = f"entry point {ep.name} = {ep.value}"
        try:
            raw = ep.load()
        except Exception as exc:
            raise ServiceSpecError(f"{source} failed to load: {exc!r}") from exc
        spec = ServiceSpec.from_dict(raw, source)
        if spec.name != ep.name:
            raise ServiceSpecError(f"{source}: its name {spec.name!r} must be {ep.name!r}")
        specs.append(spec)
    if extra := env.get("PARLEY_SERVICES_EXTRA"):
        try:
            loaded = json.loads(Path(extra).read_text())
        except (OSError, ValueError) as exc:
            raise ServiceSpecError(f"PARLEY_SERVICES_EXTRA={extra}: {exc}") from exc
        for raw in loaded if isinstance(loaded, list) else [loaded]:
            spec = ServiceSpec.from_dict(raw, extra)
            if not only or spec.name in only:
                specs.append(spec)
    names = [s.name for s in specs]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ServiceSpecError(f"services registered twice: {', '.join(dupes)}")
    if unknown := sorted(only - set(names)):
        raise ServiceSpecError(f"PARLEY_SERVICES_ONLY names unknown services: {', '.join(unknown)}")
    return sorted(specs, key=lambda s: (s.order, s.name))


def port_number(raw: str, what: str) -> int:
    """`raw` as a TCP port number, or a LaunchError naming `what`."""
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise LaunchError(f"{what} must be a TCP port number, got {raw!r}")
    return int(raw)


def pick_port(wanted: int, what: str) -> int:
    """`wanted` if it is free, else a free port (and say so)."""
    if port_is_free(wanted):
        return wanted
    port = free_port()
    say(f"parley-run: port {wanted} for {what} is taken; using {port} instead")
    return port


def service_port(spec: ServiceSpec, env: Mapping[str, str]) -> int:
    """The user's port for the service, else its default, else a free port if that is taken."""
    if raw := env.get(spec.port_env):
        return port_number(raw, spec.port_env)
    return pick_port(spec.default_port, f"{spec.name} ({spec.port_env})")
