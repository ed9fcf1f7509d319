"""Access-account config: security, consent, webhooks, apps and webhook URLs (CONTRACT 2, 7, 8)."""

from __future__ import annotations

from typing import Any

import pytest
from account_svc.domain.account_config import (
    ENCRYPTION_BLOCKS,
    ConfigValidationError,
    validate_account_config,
)
from account_testkit import DROP, Path, variant

OUTGOING: dict[str, Any] = {
    "label": "OTP alerts",
    "enterprise_id": "ent_1",
    "business_group_id": "bg_1",
    "communication_type": "outgoing",
    "traffic_type": "otp",
    "channels": ["sms"],
    "webhooks": {
        "status": {"url": "https://hooks.example.com/parley", "events": ["delivery_status"]}
    },
}
CONVERSATIONAL: dict[str, Any] = {
    **OUTGOING,
    "communication_type": "conversational",
    "traffic_type": None,
    "webhooks": {
        "status": {"url": "https://hooks.example.com/parley", "events": ["typing", "read"]},
        "user_initiated": {"url": "https://hooks.example.com/inbound"},
    },
}
ENCRYPTION = {
    "enabled": True,
    "algorithm": "aes-256",
    "passphrase": "correct horse battery",
    "version_code": "v1",
}
IPS = ["10.1.2.3", "10.0.0.1/8", "::1", "2001:db8::/32"]
PE = ("security", "payload_encryption")
ST = ("webhooks", "status")
UI = ("webhooks", "user_initiated")
URL = (*ST, "url")
PAIRS = (*ST, "metadata", "pairs")


def errors_of(body: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """The errors `body` gets; fails the test if it validates."""
    kwargs.setdefault("allow_private_targets", False)
    with pytest.raises(ConfigValidationError) as caught:
        validate_account_config(body, **kwargs)
    return caught.value.errors


def _enc(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in {**ENCRYPTION, **fields}.items() if value is not DROP}


@pytest.mark.parametrize(
    ("base", "changes", "loc"),
    [
        pytest.param(OUTGOING, [(PE, _enc(algorithm=DROP))], [*PE, "algorithm"], id="alg-missing"),
        pytest.param(OUTGOING, [(PE, _enc(algorithm="aes-512"))], [*PE, "algorithm"], id="alg"),
        pytest.param(OUTGOING, [(PE, _enc(passphrase=DROP))], [*PE, "passphrase"], id="pass-none"),
        pytest.param(
            OUTGOING, [(PE, _enc(passphrase="x" * 11))], [*PE, "passphrase"], id="pass-11"
        ),
        pytest.param(OUTGOING, [(PE, _enc(passphrase="x" * 257))], [*PE, "passphrase"], id="p-257"),
        pytest.param(
            OUTGOING, [(PE, _enc(version_code=DROP))], [*PE, "version_code"], id="vc-none"
        ),
        pytest.param(OUTGOING, [(PE, _enc(version_code="v 1"))], [*PE, "version_code"], id="vc"),
        pytest.param(
            OUTGOING, [(PE, _enc(version_code="v" * 33))], [*PE, "version_code"], id="v33"
        ),
        pytest.param(OUTGOING, [(PE, _enc(key="k"))], [*PE, "key"], id="encryption-unknown-field"),
        pytest.param(
            OUTGOING,
            [((*ST, "encryption"), _enc(passphrase=DROP))],
            [*ST, "encryption", "passphrase"],
            id="status-webhook-passphrase-missing",
        ),
        pytest.param(
            CONVERSATIONAL,
            [((*UI, "encryption"), _enc(version_code=DROP))],
            [*UI, "encryption", "version_code"],
            id="user-initiated-version-code-missing",
        ),
        pytest.param(
            OUTGOING,
            [(("security", "ip_restriction"), {"mode": "allowlist", "allowlist": ["300.1.1.1"]})],
            ["security", "ip_restriction", "allowlist", 0],
            id="ip-not-an-address",
        ),
        pytest.param(
            OUTGOING,
            [
                (
                    ("security", "ip_restriction"),
                    {"mode": "allowlist", "allowlist": ["::1", "10/33"]},
                )
            ],
            ["security", "ip_restriction", "allowlist", 1],
            id="ip-bad-cidr",
        ),
        pytest.param(
            OUTGOING,
            [
                (
                    ("security", "ip_restriction"),
                    {"mode": "allowlist", "allowlist": ["fe80::1%" + "a" * 1000]},
                )
            ],
            ["security", "ip_restriction", "allowlist", 0],
            id="ip-overlong-scope-id",
        ),
        pytest.param(
            OUTGOING,
            [(("security", "ip_restriction"), {"mode": "allowlist"})],
            ["security", "ip_restriction", "allowlist"],
            id="ip-allowlist-missing",
        ),
        pytest.param(
            OUTGOING,
            [(("security", "data_protection"), "forget")],
            ["security", "data_protection"],
            id="data-protection",
        ),
        pytest.param(OUTGOING, [(("security", "salt"), "x")], ["security", "salt"], id="sec-field"),
        pytest.param(
            OUTGOING, [(("consent", "lookup_opt_in"), "yes")], ["consent", "lookup_opt_in"], id="c"
        ),
        pytest.param(
            OUTGOING, [(("consent", "dnd"), True)], ["consent", "dnd"], id="consent-field"
        ),
        pytest.param(OUTGOING, [(URL, DROP)], list(URL), id="url-missing"),
        pytest.param(OUTGOING, [(URL, "http://hooks.example.com/x")], list(URL), id="url-http"),
        pytest.param(OUTGOING, [(URL, "ftp://hooks.example.com/x")], list(URL), id="url-ftp"),
        pytest.param(OUTGOING, [(URL, "hooks.example.com/x")], list(URL), id="url-no-scheme"),
        pytest.param(OUTGOING, [(URL, "https:///x")], list(URL), id="url-no-host"),
        pytest.param(OUTGOING, [(URL, "https://hooks.example.com/a b")], list(URL), id="url-space"),
        pytest.param(
            OUTGOING, [(URL, "https://h.example.com/" + "a" * 2030)], list(URL), id="url-2049"
        ),
        pytest.param(OUTGOING, [(URL, "https://h.example.com:99999/")], list(URL), id="url-port"),
        pytest.param(OUTGOING, [(URL, "nats://nats.example.com:4222")], list(URL), id="nats-subj"),
        pytest.param(OUTGOING, [(URL, "nats://nats.example.com/a.*")], list(URL), id="nats-wild"),
        pytest.param(OUTGOING, [(URL, "nats://nats.example.com/a..b")], list(URL), id="nats-token"),
        pytest.param(OUTGOING, [(URL, "nats://n.example.com/a?durable=x")], list(URL), id="nq"),
        pytest.param(OUTGOING, [(URL, "nats://n.example.com/a?jetstream=1")], list(URL), id="njs"),
        pytest.param(OUTGOING, [(URL, "nats://user@n.example.com/a")], list(URL), id="nats-user"),
        pytest.param(OUTGOING, [(URL, 42)], list(URL), id="url-not-a-string"),
        pytest.param(OUTGOING, [((*ST, "events"), [])], [*ST, "events"], id="events-empty"),
        pytest.param(OUTGOING, [((*ST, "events"), ["delivered"])], [*ST, "events", 0], id="event"),
        pytest.param(
            OUTGOING, [((*ST, "events"), ["sent", "sent"])], [*ST, "events", 1], id="event-repeat"
        ),
        pytest.param(
            OUTGOING,
            [((*ST, "events"), ["sent", "typing"])],
            [*ST, "events", 1],
            id="typing-on-outgoing",
        ),
        pytest.param(
            OUTGOING, [((*ST, "payload_format"), "xml")], [*ST, "payload_format"], id="format"
        ),
        pytest.param(OUTGOING, [((*ST, "retries"), 4)], [*ST, "retries"], id="retries-4"),
        pytest.param(OUTGOING, [((*ST, "retries"), -1)], [*ST, "retries"], id="retries-negative"),
        pytest.param(OUTGOING, [((*ST, "retries"), "three")], [*ST, "retries"], id="retries-text"),
        pytest.param(OUTGOING, [((*ST, "retries"), True)], [*ST, "retries"], id="retries-bool"),
        pytest.param(
            OUTGOING,
            [((*ST, "batch"), {"enabled": True, "max_events": 0})],
            [*ST, "batch", "max_events"],
            id="batch-0",
        ),
        pytest.param(
            OUTGOING,
            [((*ST, "batch"), {"enabled": True, "max_events": 51})],
            [*ST, "batch", "max_events"],
            id="batch-51",
        ),
        pytest.param(
            OUTGOING,
            [((*ST, "payload_format"), "webengage"), ((*ST, "batch"), {"enabled": True})],
            [*ST, "batch", "enabled"],
            id="webengage-cannot-batch",
        ),
        pytest.param(
            OUTGOING,
            [((*ST, "intermediate_delivery_notification"), "on")],
            [*ST, "intermediate_delivery_notification"],
            id="intermediate-not-bool",
        ),
        pytest.param(OUTGOING, [((*PAIRS, "bad key"), "v")], [*PAIRS, "bad key"], id="meta-key"),
        pytest.param(OUTGOING, [((*PAIRS, "k" * 65), "v")], [*PAIRS, "k" * 65], id="meta-key-65"),
        pytest.param(OUTGOING, [((*PAIRS, "team"), "v" * 257)], [*PAIRS, "team"], id="meta-257"),
        pytest.param(OUTGOING, [((*PAIRS, "team"), 7)], [*PAIRS, "team"], id="meta-value-number"),
        pytest.param(OUTGOING, [((*PAIRS, "team"), "a\r\nb")], [*PAIRS, "team"], id="meta-crlf"),
        pytest.param(
            OUTGOING,
            [(PAIRS, {f"k{i}": "v" for i in range(21)})],
            list(PAIRS),
            id="meta-21-pairs",
        ),
        pytest.param(OUTGOING, [((*ST, "colour"), "red")], [*ST, "colour"], id="status-field"),
        pytest.param(OUTGOING, [(UI, {"url": "https://h.example.com/in"})], list(UI), id="ui-out"),
        pytest.param(CONVERSATIONAL, [((*UI, "events"), ["sent"])], [*UI, "events"], id="ui-ev"),
        pytest.param(CONVERSATIONAL, [((*UI, "batch"), {})], [*UI, "batch"], id="ui-batch"),
        pytest.param(
            CONVERSATIONAL,
            [((*UI, "intermediate_delivery_notification"), True)],
            [*UI, "intermediate_delivery_notification"],
            id="ui-intermediate",
        ),
        pytest.param(CONVERSATIONAL, [((*UI, "url"), DROP)], [*UI, "url"], id="ui-url-missing"),
        pytest.param(
            CONVERSATIONAL,
            [((*UI, "payload_format"), "moengage")],
            [*UI, "payload_format"],
            id="ui-moengage-has-no-inbound-shape",
        ),
        pytest.param(
            CONVERSATIONAL,
            [((*UI, "payload_format"), "webengage")],
            [*UI, "payload_format"],
            id="ui-webengage-has-no-inbound-shape",
        ),
        pytest.param(
            CONVERSATIONAL, [((*UI, "payload_format"), "xml")], [*UI, "payload_format"], id="ui-fmt"
        ),
        pytest.param(OUTGOING, [(("webhooks", "inbound"), None)], ["webhooks", "inbound"], id="wh"),
        pytest.param(OUTGOING, [(("apps", "chatbot"), True)], ["apps", "chatbot"], id="apps-field"),
        pytest.param(
            OUTGOING, [(("apps", "url_shortener"), 1)], ["apps", "url_shortener"], id="apps-bool"
        ),
    ],
)
def test_broken_rule_names_its_field(
    base: dict[str, Any], changes: list[tuple[Path, Any]], loc: list[Any]
) -> None:
    """Each broken security, consent, webhook or apps rule is exactly one error at its field."""
    assert [err["loc"] for err in errors_of(variant(base, *changes))] == [loc]


@pytest.mark.parametrize(
    ("base", "changes", "path", "expected"),
    [
        pytest.param(
            OUTGOING,
            [(PE, {**ENCRYPTION, "salt": "c2FsdA==", "passphrase_set": True})],
            PE,
            ENCRYPTION,
            id="salt-and-passphrase-set-dropped",
        ),
        pytest.param(
            OUTGOING,
            [(PE, {"enabled": False, "algorithm": "aes-128"})],
            PE,
            {"enabled": False},
            id="disabled-block-keeps-nothing",
        ),
        pytest.param(
            OUTGOING,
            [(("security", "ip_restriction"), {"mode": "allowlist", "allowlist": IPS})],
            ("security", "ip_restriction", "allowlist"),
            IPS,
            id="ip-addresses-and-cidr",
        ),
        pytest.param(
            OUTGOING,
            [(URL, "nats://user:pa55@nats.example.com:4222/hooks.otp?jetstream=true")],
            URL,
            "nats://user:pa55@nats.example.com:4222/hooks.otp?jetstream=true",
            id="nats-url",
        ),
        pytest.param(
            OUTGOING,
            [(URL, "nats://user:***@nats.example.com:4222/hooks")],
            URL,
            "nats://user:***@nats.example.com:4222/hooks",
            id="redacted-nats-url-round-trips",
        ),
        pytest.param(
            OUTGOING,
            [((*ST, "batch"), {"enabled": True})],
            (*ST, "batch"),
            {"enabled": True, "max_events": 50},
            id="batch-default-50",
        ),
        pytest.param(
            OUTGOING,
            [((*ST, "batch"), {"enabled": False, "max_events": 10})],
            (*ST, "batch"),
            {"enabled": False, "max_events": 10},
            id="batch-disabled-keeps-size",
        ),
        pytest.param(OUTGOING, [((*ST, "retries"), 0)], (*ST, "retries"), 0, id="retries-0"),
        pytest.param(
            CONVERSATIONAL,
            [((*UI, "payload_format"), "clevertap")],
            (*UI, "payload_format"),
            "clevertap",
            id="ui-clevertap",
        ),
        pytest.param(
            CONVERSATIONAL,
            [((*ST, "payload_format"), "moengage")],
            (*ST, "payload_format"),
            "moengage",
            id="status-moengage-still-allowed",
        ),
        pytest.param(
            CONVERSATIONAL, [], (*ST, "events"), ["typing", "read"], id="typing-conversational"
        ),
        pytest.param(
            OUTGOING,
            [(("webhooks", "status"), None)],
            ("webhooks",),
            {"status": None, "user_initiated": None},
            id="no-status-webhook",
        ),
    ],
)
def test_accepted_variant(
    base: dict[str, Any], changes: list[tuple[Path, Any]], path: Path, expected: Any
) -> None:
    """Bodies the rules allow validate, and the normalized value at `path` is as expected."""
    out: Any = validate_account_config(variant(base, *changes), allow_private_targets=False)
    for step in path:
        out = out[step]
    assert out == expected


def test_http_url_only_with_private_targets() -> None:
    """An http:// webhook URL is accepted only when private targets are allowed."""
    body = variant(OUTGOING, (URL, "http://127.0.0.1:9000/hook"))
    assert [e["loc"] for e in errors_of(body)] == [list(URL)]
    out = validate_account_config(body, allow_private_targets=True)
    assert out["webhooks"]["status"]["url"] == "http://127.0.0.1:9000/hook"


def test_webhook_defaults() -> None:
    """Status and user_initiated webhooks get every default; user_initiated has no events."""
    out = validate_account_config(CONVERSATIONAL, allow_private_targets=False)
    metadata = {"enabled": False, "pairs": {}}
    assert out["traffic_type"] is None
    assert out["webhooks"] == {
        "status": {
            "url": "https://hooks.example.com/parley",
            "events": ["typing", "read"],
            "payload_format": "native",
            "intermediate_delivery_notification": False,
            "metadata": metadata,
            "retries": 3,
            "batch": {"enabled": False, "max_events": 1},
            "encryption": {"enabled": False},
        },
        "user_initiated": {
            "url": "https://hooks.example.com/inbound",
            "payload_format": "native",
            "retries": 3,
            "metadata": metadata,
            "encryption": {"enabled": False},
        },
    }


@pytest.mark.parametrize("path", ENCRYPTION_BLOCKS, ids=".".join)
def test_existing_passphrase_may_be_omitted(path: tuple[str, ...]) -> None:
    """A block whose path is in existing_passphrases may omit its passphrase; others may not."""
    body = variant(CONVERSATIONAL, (path, _enc(passphrase=DROP)))
    assert [e["loc"] for e in errors_of(body)] == [[*path, "passphrase"]]
    others = frozenset(p for p in ENCRYPTION_BLOCKS if p != path)
    assert [e["loc"] for e in errors_of(body, existing_passphrases=others)] == [
        [*path, "passphrase"]
    ]
    out: Any = validate_account_config(
        body, allow_private_targets=False, existing_passphrases=frozenset({path})
    )
    for step in path:
        out = out[step]
    assert out == {"enabled": True, "algorithm": "aes-256", "version_code": "v1"}


def test_existing_passphrase_can_be_replaced() -> None:
    """A passphrase given where one exists is validated and kept in the output."""
    body = variant(OUTGOING, (PE, _enc(passphrase="a new passphrase")))
    out = validate_account_config(
        body, allow_private_targets=False, existing_passphrases=frozenset({PE})
    )
    assert out["security"]["payload_encryption"]["passphrase"] == "a new passphrase"
    short = variant(OUTGOING, (PE, _enc(passphrase="short")))
    assert [e["loc"] for e in errors_of(short, existing_passphrases=frozenset({PE}))] == [
        [*PE, "passphrase"]
    ]


def test_errors_never_echo_secrets() -> None:
    """Error messages name the field but never repeat a passphrase or URL password."""
    body = variant(
        OUTGOING,
        (PE, _enc(passphrase="tooshort!!")),
        (URL, "nats://user:hunter2hunter2@nats.example.com/a.*"),
    )
    with pytest.raises(ConfigValidationError) as caught:
        validate_account_config(body, allow_private_targets=False)
    text = repr(caught.value.errors) + str(caught.value)
    assert "tooshort!!" not in text
    assert "hunter2" not in text


def test_inbound_format_error_says_which_formats_work() -> None:
    """The refusal of a format for user_initiated names the formats that can carry inbound."""
    [err] = errors_of(variant(CONVERSATIONAL, ((*UI, "payload_format"), "webengage")))
    assert err["type"] == "not_allowed"
    assert "native or clevertap" in err["msg"]


def test_user_initiated_on_outgoing_is_one_error_whatever_its_format() -> None:
    """On an outgoing account only the webhook itself is named, not also its format."""
    body = variant(
        OUTGOING, (UI, {"url": "https://h.example.com/in", "payload_format": "moengage"})
    )
    assert [e["loc"] for e in errors_of(body)] == [list(UI)]
