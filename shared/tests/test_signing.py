"""Standard Webhooks signing and verification (CONTRACT section 7)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from parley_shared.signing import (
    InvalidWebhookSecret,
    sign,
    signature_header,
    verify,
    webhook_headers,
)

# The example published by Standard Webhooks.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()


def _independent(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(
        key, msg_id.encode() + b"." + str(timestamp).encode() + b"." + body, hashlib.sha256
    )
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_published_example() -> None:
    """The Standard Webhooks published example signs to its published signature."""
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_secret_without_prefix() -> None:
    """A secret given without `whsec_` signs the same as with it."""
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_matches_independent_hmac() -> None:
    """Signatures agree with an HMAC-SHA256 computed here directly, which the example pins too."""
    for secret in (SECRET, OTHER_SECRET):
        for body in (BODY, b"[]", "ünïcode ✓".encode()):
            assert sign(secret, "evt_1", 1700000000, body) == _independent(
                secret, "evt_1", 1700000000, body
            )
    assert _independent(SECRET, MSG_ID, TIMESTAMP, BODY) == EXPECTED


def test_verify_published_example() -> None:
    """The published example verifies at its own time and within tolerance of it."""
    assert verify([SECRET], MSG_ID, str(TIMESTAMP), BODY, EXPECTED, now=TIMESTAMP)
    assert verify([SECRET], MSG_ID, str(TIMESTAMP), BODY, EXPECTED, now=TIMESTAMP + 300)
    assert verify([SECRET], MSG_ID, str(TIMESTAMP), BODY, EXPECTED, now=TIMESTAMP - 300)


def test_two_secret_header() -> None:
    """During rotation the header holds both signatures, and either secret alone verifies it."""
    header = signature_header([SECRET, OTHER_SECRET], MSG_ID, TIMESTAMP, BODY)
    assert header == f"{EXPECTED} {_independent(OTHER_SECRET, MSG_ID, TIMESTAMP, BODY)}"
    for secrets in ([SECRET], [OTHER_SECRET], [OTHER_SECRET, SECRET]):
        assert verify(secrets, MSG_ID, str(TIMESTAMP), BODY, header, now=TIMESTAMP)
    third = "whsec_" + base64.b64encode(b"\x09" * 24).decode()
    assert not verify([third], MSG_ID, str(TIMESTAMP), BODY, header, now=TIMESTAMP)


def test_signature_header_needs_a_secret() -> None:
    """Signing with no secret at all is refused rather than sending an empty header."""
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], MSG_ID, TIMESTAMP, BODY)


def test_tolerance() -> None:
    """A timestamp more than the tolerance away from now, either way, does not verify."""
    args = ([SECRET], MSG_ID, str(TIMESTAMP), BODY, EXPECTED)
    assert not verify(*args, now=TIMESTAMP + 301)
    assert not verify(*args, now=TIMESTAMP - 301)
    assert verify(*args, tolerance_s=600, now=TIMESTAMP + 599)
    assert not verify(*args)  # the example is from 2021


def test_tampered_inputs_fail() -> None:
    """A changed body, id, timestamp or signature makes verification return False."""
    ts = str(TIMESTAMP)
    assert not verify([SECRET], MSG_ID, ts, b'{"test": 2432232315}', EXPECTED, now=TIMESTAMP)
    assert not verify([SECRET], "msg_other", ts, BODY, EXPECTED, now=TIMESTAMP)
    other_ts = str(TIMESTAMP + 1)
    assert not verify([SECRET], MSG_ID, other_ts, BODY, EXPECTED, now=TIMESTAMP)
    assert not verify([SECRET], MSG_ID, ts, BODY, EXPECTED.replace("g0h", "g0i"), now=TIMESTAMP)


@pytest.mark.parametrize(
    ("timestamp", "header"),
    [
        ("", EXPECTED),
        ("abc", EXPECTED),
        ("-1614265330", EXPECTED),
        ("1614265330.0", EXPECTED),
        ("9" * 400, EXPECTED),
        (str(TIMESTAMP), ""),
        (str(TIMESTAMP), EXPECTED.replace("v1,", "v2,")),
        (str(TIMESTAMP), EXPECTED[3:]),
        (str(TIMESTAMP), "v1,é"),
    ],
)
def test_garbage_headers_return_false(timestamp: str, header: str) -> None:
    """Malformed timestamps and signature headers return False instead of raising."""
    assert verify([SECRET], MSG_ID, timestamp, BODY, header, now=TIMESTAMP) is False


def test_unknown_versions_are_skipped() -> None:
    """Other signature versions in the header are ignored and a v1 among them still verifies."""
    header = f"v1a,abcdef {EXPECTED}"
    assert verify([SECRET], MSG_ID, str(TIMESTAMP), BODY, header, now=TIMESTAMP)


def test_webhook_headers() -> None:
    """The delivery headers carry the id, the timestamp and the signature of every secret."""
    headers = webhook_headers([SECRET, OTHER_SECRET], MSG_ID, BODY, timestamp=TIMESTAMP)
    assert headers == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": signature_header([SECRET, OTHER_SECRET], MSG_ID, TIMESTAMP, BODY),
    }
    fresh = webhook_headers([SECRET], MSG_ID, BODY)
    assert verify([SECRET], MSG_ID, fresh["webhook-timestamp"], BODY, fresh["webhook-signature"])


def test_invalid_secret() -> None:
    """A secret that is not base64 is a configuration error and raises."""
    with pytest.raises(InvalidWebhookSecret):
        sign("whsec_not base64!", MSG_ID, TIMESTAMP, BODY)
