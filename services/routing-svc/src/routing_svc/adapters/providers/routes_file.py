"""The routes file (`ROUTING_ROUTES_FILE`, CONTRACT section 9): every route and its provider.

    {"routes": [
      {"name": "sms-smsc1", "channel": "sms", "capacity_per_s": 200, "provider": "smpp",
       "smpp": {"host": "10.0.0.5", "port": 2775, "system_id": "parley",
                "password_env": "SMSC1_PASSWORD"}},
      {"name": "rcs-airtel", "channel": "rcs", "capacity_per_s": 200, "agent_provider": "airtel"}]}

A route's `provider` is `sandbox` (the default), `smpp`, `whatsapp_cloud` or `rbm`, with an
object of the same name holding the connection (none for the sandbox). Secrets are never in
the file: a field ending in `_env` names the environment variable that holds the secret. Every
RCS route names the agent provider it reaches (`agent_provider`), no other route does; names
are unique. Without a file the sandbox's default routes apply (CONTRACT section 5).

A broken file, or a missing variable, stops routing-svc at start with one `RoutesFileError`
naming each offending route and field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from routing_svc.adapters.providers.config import (
    ProviderSettings,
    RbmSettings,
    RouteConfig,
    SmppSettings,
    WhatsAppCloudSettings,
)
from routing_svc.domain.channels import Channel, ProviderKind, Route
from routing_svc.domain.routes import AgentProvider, default_routes


class RoutesFileError(ValueError):
    """Raised when the routes file cannot be read or is not a valid routes file.

    It exists so that a bad `ROUTING_ROUTES_FILE` stops the service at start with one message
    naming every offending entry, instead of surfacing later as an unroutable message.
    """


RouteName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
"""A route name is a NATS subject token, a metrics label and a URL path segment: no dots."""
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_\[\]-]+$")]
HttpsBase = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=512)]
Token = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]

CHANNEL_OF: dict[str, Channel] = {"smpp": "sms", "whatsapp_cloud": "whatsapp", "rbm": "rcs"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmppEntry(_Strict):
    """The `smpp` object as written."""

    host: Host
    port: Annotated[int, Field(ge=1, le=65535)]
    system_id: Annotated[str, Field(min_length=1, max_length=15)]
    password_env: EnvName
    system_type: Annotated[str, Field(max_length=12)] = ""
    binds: Annotated[int, Field(ge=1, le=32)] = 1
    window: Annotated[int, Field(ge=1, le=1000)] = 10
    enquire_link_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


class WhatsAppCloudEntry(_Strict):
    """The `whatsapp_cloud` object as written."""

    base_url: HttpsBase = "https://graph.facebook.com"
    api_version: Annotated[str, Field(pattern=r"^v\d{1,3}\.\d{1,3}$")] = "v21.0"
    phone_number_id: Annotated[str, Field(pattern=r"^\d{1,32}$")]
    display_number: Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]
    token_env: EnvName
    app_secret_env: EnvName
    verify_token_env: EnvName


class RbmEntry(_Strict):
    """The `rbm` object as written."""

    base_url: HttpsBase = "https://rcsbusinessmessaging.googleapis.com"
    agent_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")]
    service_account_file_env: EnvName
    client_token_env: EnvName


class RouteEntry(_Strict):
    """One route of the routes file, as written."""

    name: RouteName
    channel: Channel
    capacity_per_s: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    agent_provider: AgentProvider | None = None
    provider: ProviderKind = "sandbox"
    smpp: SmppEntry | None = None
    whatsapp_cloud: WhatsAppCloudEntry | None = None
    rbm: RbmEntry | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RouteEntry:
        if self.channel == "rcs" and self.agent_provider is None:
            raise ValueError("an rcs route needs agent_provider")
        if self.channel != "rcs" and self.agent_provider is not None:
            raise ValueError("agent_provider is only for rcs routes")
        for kind in CHANNEL_OF:
            given = getattr(self, kind) is not None
            if kind == self.provider and not given:
                raise ValueError(f"provider {kind!r} needs its {kind!r} object")
            if kind != self.provider and given:
                raise ValueError(f"{kind!r} is only for routes whose provider is {kind!r}")
        wanted = CHANNEL_OF.get(self.provider)
        if wanted is not None and self.channel != wanted:
            raise ValueError(f"provider {self.provider!r} carries only {wanted!r} routes")
        return self

    def to_route(self) -> Route:
        return Route(
            self.name, self.channel, self.capacity_per_s, self.agent_provider, self.provider
        )


class RoutesFile(_Strict):
    """The routes file, as written."""

    routes: Annotated[list[RouteEntry], Field(min_length=1)]


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


def _fail(source: str, problems: list[str]) -> RoutesFileError:
    details = "\n  - ".join(problems)
    return RoutesFileError(f"{source} is not a valid routes file:\n  - {details}")


def _validated(raw: Any, source: str) -> RoutesFile:
    try:
        parsed = RoutesFile.model_validate(raw)
    except ValidationError as err:
        raise _fail(source, _describe(err, raw)) from None
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
        raise _fail(source, problems)
    return parsed


class _Secrets:
    """Reads `*_env` variables, collecting every one that is missing or empty."""

    def __init__(self, env: Mapping[str, str], label: str, kind: str) -> None:
        self._env, self._label, self._kind = env, label, kind
        self.problems: list[str] = []

    def __call__(self, field: str, variable: str) -> str:
        value = self._env.get(variable, "")
        if not value:
            self.problems.append(
                f"{self._label}.{self._kind}.{field}: environment variable {variable} is not set"
            )
        return value


def _service_account(path: str, label: str, problems: list[str]) -> dict[str, Any]:
    where = f"{label}.rbm.service_account_file_env"
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except OSError as err:
        problems.append(f"{where}: cannot read the service account file: {err.strerror or err}")
        return {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        problems.append(f"{where}: the service account file is not JSON")
        return {}
    missing = [key for key in ("client_email", "private_key", "token_uri") if key not in data]
    if not isinstance(data, dict) or missing:
        problems.append(f"{where}: the service account file lacks {', '.join(missing) or 'keys'}")
        return {}
    return data


def _settings(
    entry: RouteEntry, label: str, env: Mapping[str, str], problems: list[str]
) -> ProviderSettings | None:
    secret = _Secrets(env, label, entry.provider)
    settings: ProviderSettings | None = None
    if entry.smpp is not None:
        s = entry.smpp
        settings = SmppSettings(
            s.host,
            s.port,
            s.system_id,
            secret("password_env", s.password_env),
            s.system_type,
            s.binds,
            s.window,
            s.enquire_link_s,
        )
    elif entry.whatsapp_cloud is not None:
        w = entry.whatsapp_cloud
        settings = WhatsAppCloudSettings(
            w.base_url.rstrip("/"),
            w.api_version,
            w.phone_number_id,
            w.display_number,
            secret("token_env", w.token_env),
            secret("app_secret_env", w.app_secret_env),
            secret("verify_token_env", w.verify_token_env),
        )
    elif entry.rbm is not None:
        r = entry.rbm
        path = secret("service_account_file_env", r.service_account_file_env)
        account = _service_account(path, label, secret.problems)
        settings = RbmSettings(
            r.base_url.rstrip("/"),
            r.agent_id,
            account,
            secret("client_token_env", r.client_token_env),
        )
    problems.extend(secret.problems)
    return settings


def parse_route_configs(
    raw: Any, env: Mapping[str, str], source: str = "routes file"
) -> list[RouteConfig]:
    """Validate decoded routes-file JSON and read its secrets from `env`; raise
    `RoutesFileError` naming each bad entry and each missing variable."""
    parsed = _validated(raw, source)
    problems: list[str] = []
    configs = []
    for index, entry in enumerate(parsed.routes):
        label = f"routes[{index}] ({entry.name!r})"
        configs.append(RouteConfig(entry.to_route(), _settings(entry, label, env, problems)))
    if problems:
        raise _fail(source, problems)
    return configs


def parse_routes(raw: Any, source: str = "routes file") -> list[Route]:
    """The routes of decoded routes-file JSON (no secrets read)."""
    return [entry.to_route() for entry in _validated(raw, source).routes]


def _read(path: str) -> Any:
    try:
        text = Path(path).read_text("utf-8")
    except OSError as err:
        raise RoutesFileError(f"cannot read routes file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise RoutesFileError(f"routes file {path} is not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RoutesFileError(
            f"routes file {path} is not JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None


def load_route_configs(path: str | None, env: Mapping[str, str]) -> list[RouteConfig]:
    """Every route of the file at `path` with its connection; None or "" gives the sandbox's
    default routes."""
    if not path:
        return [RouteConfig(route) for route in default_routes()]
    return parse_route_configs(_read(path), env, source=f"routes file {path}")


def load_routes(path: str | None) -> list[Route]:
    """The routes of the file at `path`; None or "" gives the defaults (no secrets read)."""
    if not path:
        return default_routes()
    return parse_routes(_read(path), source=f"routes file {path}")
