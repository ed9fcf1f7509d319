"""The routes file's providers (CONTRACT section 9): each route's connection, secrets from the
environment, and a clear error naming route and field for anything wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from routing_svc.adapters.providers.config import (
    RbmSettings,
    SmppSettings,
    WhatsAppCloudSettings,
)
from routing_svc.adapters.providers.routes_file import RoutesFileError, load_route_configs

SMPP = {
    "name": "sms-smsc1",
    "channel": "sms",
    "capacity_per_s": 200,
    "provider": "smpp",
    "smpp": {
        "host": "127.0.0.1",
        "port": 2775,
        "system_id": "parley",
        "password_env": "SMSC1_PASSWORD",
        "system_type": "",
        "binds": 1,
        "window": 10,
        "enquire_link_s": 30,
    },
}
WHATSAPP = {
    "name": "wa-cloud-1",
    "channel": "whatsapp",
    "capacity_per_s": 80,
    "provider": "whatsapp_cloud",
    "whatsapp_cloud": {
        "base_url": "https://graph.facebook.com",
        "api_version": "v21.0",
        "phone_number_id": "106540352242922",
        "display_number": "+919800000001",
        "token_env": "WA1_TOKEN",
        "app_secret_env": "WA1_APP_SECRET",
        "verify_token_env": "WA1_VERIFY_TOKEN",
    },
}
RBM = {
    "name": "rcs-rbm-airtel",
    "channel": "rcs",
    "capacity_per_s": 50,
    "provider": "rbm",
    "agent_provider": "airtel",
    "rbm": {
        "base_url": "https://rcsbusinessmessaging.googleapis.com",
        "agent_id": "parley_agent",
        "service_account_file_env": "RBM1_SA_FILE",
        "client_token_env": "RBM1_CLIENT_TOKEN",
    },
}


def write(tmp_path: Path, routes: list[dict[str, Any]]) -> str:
    """A routes file holding `routes`."""
    path = tmp_path / "routes.json"
    path.write_text(json.dumps({"routes": routes}), "utf-8")
    return str(path)


def service_account(tmp_path: Path) -> str:
    """A service account key file (the fields RBM needs)."""
    path = tmp_path / "sa.json"
    key = {"client_email": "a@b.iam", "private_key": "-----BEGIN", "token_uri": "https://t/"}
    path.write_text(json.dumps(key), "utf-8")
    return str(path)


def env(tmp_path: Path) -> dict[str, str]:
    """Every secret the three example routes name."""
    return {
        "SMSC1_PASSWORD": "s3cret",
        "WA1_TOKEN": "tok",
        "WA1_APP_SECRET": "app",
        "WA1_VERIFY_TOKEN": "ver",
        "RBM1_SA_FILE": service_account(tmp_path),
        "RBM1_CLIENT_TOKEN": "client",
    }


def test_the_contracts_example_mixes_three_providers(tmp_path: Path) -> None:
    """Section 9's example file loads: each route with its provider and its secrets read."""
    configs = load_route_configs(write(tmp_path, [SMPP, WHATSAPP, RBM]), env(tmp_path))
    assert [(c.route.name, c.route.provider) for c in configs] == [
        ("sms-smsc1", "smpp"),
        ("wa-cloud-1", "whatsapp_cloud"),
        ("rcs-rbm-airtel", "rbm"),
    ]
    smpp, wa, rbm = (c.settings for c in configs)
    assert isinstance(smpp, SmppSettings)
    assert (smpp.host, smpp.port, smpp.password, smpp.window) == ("127.0.0.1", 2775, "s3cret", 10)
    assert isinstance(wa, WhatsAppCloudSettings)
    assert (wa.token, wa.app_secret, wa.verify_token) == ("tok", "app", "ver")
    assert isinstance(rbm, RbmSettings)
    assert rbm.service_account["client_email"] == "a@b.iam"
    assert rbm.client_token == "client"


def test_secrets_never_show_in_a_settings_repr(tmp_path: Path) -> None:
    """A settings object printed into a log line shows no secret."""
    configs = load_route_configs(write(tmp_path, [SMPP, WHATSAPP, RBM]), env(tmp_path))
    printed = " ".join(repr(c) for c in configs)
    for secret in ("s3cret", "tok", "app", "ver", "client", "BEGIN"):
        assert f"'{secret}'" not in printed


def test_sandbox_is_the_default_provider(tmp_path: Path) -> None:
    """A route without `provider` is a sandbox route, with no connection."""
    path = write(tmp_path, [{"name": "sms-1", "channel": "sms", "capacity_per_s": 5}])
    [config] = load_route_configs(path, {})
    assert config.route.provider == "sandbox"
    assert config.settings is None


def test_missing_secrets_name_route_and_field(tmp_path: Path) -> None:
    """Every missing variable is named, with its route and field, in one error."""
    path = write(tmp_path, [SMPP, WHATSAPP])
    with pytest.raises(RoutesFileError) as caught:
        load_route_configs(path, {"WA1_TOKEN": "tok"})
    message = str(caught.value)
    assert (
        "routes[0] ('sms-smsc1').smpp.password_env: environment variable SMSC1_PASSWORD is not set"
        in message
    )
    assert "routes[1] ('wa-cloud-1').whatsapp_cloud.app_secret_env" in message
    assert "routes[1] ('wa-cloud-1').whatsapp_cloud.verify_token_env" in message
    assert "token_env: " not in message.replace("verify_token_env", "")


def test_an_unreadable_service_account_file_names_the_field(tmp_path: Path) -> None:
    """An RBM key file that is missing or not JSON stops the load naming the route and field."""
    secrets = env(tmp_path) | {"RBM1_SA_FILE": str(tmp_path / "absent.json")}
    with pytest.raises(RoutesFileError, match=r"\('rcs-rbm-airtel'\)\.rbm\.service_account_file"):
        load_route_configs(write(tmp_path, [RBM]), secrets)
    (tmp_path / "bad.json").write_text("{not json", "utf-8")
    secrets["RBM1_SA_FILE"] = str(tmp_path / "bad.json")
    with pytest.raises(RoutesFileError, match="not JSON"):
        load_route_configs(write(tmp_path, [RBM]), secrets)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            {**SMPP, "smpp": None},
            "provider 'smpp' needs its 'smpp' object",
            id="provider-without-object",
        ),
        pytest.param(
            {**SMPP, "channel": "whatsapp"},
            "provider 'smpp' carries only 'sms' routes",
            id="smpp-on-whatsapp",
        ),
        pytest.param(
            {"name": "s", "channel": "sms", "capacity_per_s": 1, "smpp": SMPP["smpp"]},
            "'smpp' is only for routes whose provider is 'smpp'",
            id="object-without-provider",
        ),
        pytest.param(
            {**SMPP, "smpp": {**SMPP["smpp"], "password": "inline"}},  # type: ignore[dict-item]
            "('sms-smsc1').smpp.password: Extra inputs are not permitted",
            id="inline-secret",
        ),
        pytest.param(
            {**SMPP, "smpp": {**SMPP["smpp"], "window": 0}},  # type: ignore[dict-item]
            "('sms-smsc1').smpp.window: Input should be greater than or equal to 1",
            id="zero-window",
        ),
        pytest.param(
            {**WHATSAPP, "whatsapp_cloud": {**WHATSAPP["whatsapp_cloud"], "display_number": "9"}},  # type: ignore[dict-item]
            "('wa-cloud-1').whatsapp_cloud.display_number",
            id="display-number-not-e164",
        ),
        pytest.param(
            {**SMPP, "name": "sms.1"},
            "('sms.1').name: String should match pattern",
            id="dotted-route-name",
        ),
        pytest.param(
            {**SMPP, "provider": "kannel"},
            "('sms-smsc1').provider: Input should be",
            id="unknown-provider",
        ),
    ],
)
def test_bad_provider_entries_name_route_and_field(
    tmp_path: Path, entry: dict[str, Any], expected: str
) -> None:
    """Each kind of bad provider entry stops the load naming its route and field."""
    with pytest.raises(RoutesFileError) as caught:
        load_route_configs(write(tmp_path, [entry]), env(tmp_path))
    assert expected in str(caught.value)
