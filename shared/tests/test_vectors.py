"""The integrator test vectors in docs/test-vectors/ are current and independently reproducible."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from parley_shared import envelope, signing


def _load_generator() -> ModuleType:
    path = Path(__file__).with_name("vectors.py")
    spec = importlib.util.spec_from_file_location("parley_shared_test_vectors", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _load_generator()


def _cases(path: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cases"]
    return cases


ENVELOPE_CASES = _cases(GENERATOR.ENVELOPE_FILE)
WEBHOOK_CASES = _cases(GENERATOR.WEBHOOK_FILE)


def test_files_are_current() -> None:
    """The committed JSON files are byte for byte what `vectors.py` generates now."""
    generated = GENERATOR.generated()
    assert set(generated) == {GENERATOR.ENVELOPE_FILE, GENERATOR.WEBHOOK_FILE}
    for path, text in generated.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run vectors.py"


def test_files_cover_the_brief() -> None:
    """The vectors hold both algorithms, single and batch bodies, and one- and two-secret cases."""
    assert {c["alg"] for c in ENVELOPE_CASES} == {"A128GCM", "A256GCM"}
    bodies = {type(json.loads(c["plaintext"])) for c in ENVELOPE_CASES}
    assert bodies == {dict, list}
    assert {len(c["secrets"]) for c in WEBHOOK_CASES} == {1, 2}


@pytest.mark.parametrize("case", ENVELOPE_CASES, ids=lambda c: c["name"])
def test_envelope_case_reproduced_independently(case: dict[str, Any]) -> None:
    """PBKDF2 and AES-GCM called directly give each case's key and envelope, and it opens back."""
    salt = base64.b64decode(case["salt"])
    iv = base64.b64decode(case["iv"])
    length = {"A128GCM": 16, "A256GCM": 32}[case["alg"]]
    key = hashlib.pbkdf2_hmac("sha256", case["passphrase"].encode("utf-8"), salt, 600_000, length)
    assert key.hex() == case["derived_key_hex"]
    assert case["alg"] == {"aes-128": "A128GCM", "aes-256": "A256GCM"}[case["algorithm"]]
    aad = (case["alg"] + "." + case["kid"]).encode("utf-8")
    assert aad.decode() == case["aad"]
    ct = AESGCM(key).encrypt(iv, case["plaintext"].encode("utf-8"), aad)
    assert case["envelope"] == {
        "v": 1,
        "alg": case["alg"],
        "kid": case["kid"],
        "salt": case["salt"],
        "iv": case["iv"],
        "ct": base64.b64encode(ct).decode(),
    }
    version = envelope.KeyVersion(case["kid"], case["algorithm"], case["salt"], case["passphrase"])
    assert envelope.open_envelope(case["envelope"], [version]) == case["plaintext"].encode()


@pytest.mark.parametrize("case", WEBHOOK_CASES, ids=lambda c: c["name"])
def test_webhook_case_reproduced_independently(case: dict[str, Any]) -> None:
    """HMAC-SHA256 computed directly gives each case's signatures and header, and both verify."""
    signed = f"{case['msg_id']}.{case['timestamp']}.".encode() + case["body"].encode("utf-8")
    expected = [
        "v1,"
        + base64.b64encode(
            hmac.new(
                base64.b64decode(secret.removeprefix("whsec_")), signed, hashlib.sha256
            ).digest()
        ).decode()
        for secret in case["secrets"]
    ]
    assert case["signatures"] == expected
    assert case["headers"] == {
        "webhook-id": case["msg_id"],
        "webhook-timestamp": str(case["timestamp"]),
        "webhook-signature": " ".join(expected),
    }
    for secret in case["secrets"]:
        assert signing.verify(
            [secret],
            case["msg_id"],
            case["headers"]["webhook-timestamp"],
            case["body"].encode(),
            case["headers"]["webhook-signature"],
            now=case["timestamp"],
        )


def test_encrypted_body_case_is_the_envelope_case() -> None:
    """The encrypted webhook body is, as sent, the envelope of the matching envelope case."""
    by_name = {c["name"]: c for c in ENVELOPE_CASES}
    (case,) = [c for c in WEBHOOK_CASES if c["name"] == "encrypted-body"]
    assert json.loads(case["body"]) == by_name["a256gcm-single-event"]["envelope"]


def test_check_mode_reports_stale_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`vectors.py --check` fails on a stale or missing file, and a plain run rewrites it."""
    monkeypatch.setattr(GENERATOR, "ENVELOPE_FILE", tmp_path / "envelope.json")
    monkeypatch.setattr(GENERATOR, "WEBHOOK_FILE", tmp_path / "webhook-signature.json")
    assert GENERATOR.main(["--check"]) == 1
    assert GENERATOR.main([]) == 0
    assert GENERATOR.main(["--check"]) == 0
    (tmp_path / "envelope.json").write_text("{}\n", encoding="utf-8")
    assert GENERATOR.main(["--check"]) == 1
