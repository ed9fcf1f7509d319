"""Generate the integrator test vectors in docs/test-vectors/ (deterministic: fixed inputs).

    .venv/bin/python shared/tests/vectors.py           # (re)write the JSON files
    .venv/bin/python shared/tests/vectors.py --check   # exit 1 if the files on disk are stale

`test_vectors.py` checks that the committed files equal what this produces and that an
independent implementation reproduces every expected value.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from parley_shared import envelope, signing

OUT_DIR = Path(__file__).resolve().parents[2] / "docs" / "test-vectors"
ENVELOPE_FILE = OUT_DIR / "envelope.json"
WEBHOOK_FILE = OUT_DIR / "webhook-signature.json"

ACCOUNT = "acc_0kz3m8q1vd7h2c9x4n6b5t0r2w"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _compact(value: Any) -> str:
    """The body bytes as sent: compact JSON, UTF-8, no escaping of non-ASCII text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _status_event(event_id: str, message_id: str, status: str, ms: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": f"parley.message.{status}",
        "source": f"parley/accounts/{ACCOUNT}",
        "subject": message_id,
        "time": f"2026-11-26T10:00:00.{ms:03d}Z",
        "datacontenttype": "application/json",
        "data": {
            "message_id": message_id,
            "account_id": ACCOUNT,
            "client_ref": "order-77",
            "channel": "sms",
            "route": "sms-1",
            "sender": "PARLEY",
            "recipient": "+919876543210",
            "status": status,
            "reason": None,
            "attempt": 1,
            "fallback_from": None,
            "fallback_to": None,
            "final": status == "delivered",
            "metadata": {"team": "otp"},
        },
    }


def _inbound_event() -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "evt_0kz3m8q9aa1b2c3d4e5f6g7h8j",
        "type": "parley.inbound.message",
        "source": f"parley/accounts/{ACCOUNT}",
        "subject": "inb_0kz3m8q9aa9z8y7x6w5v4t3s2r",
        "time": "2026-11-26T10:00:01.500Z",
        "datacontenttype": "application/json",
        "data": {
            "inbound_id": "inb_0kz3m8q9aa9z8y7x6w5v4t3s2r",
            "account_id": ACCOUNT,
            "channel": "whatsapp",
            "from": "+919876543210",
            "to": "PARLEY",
            "text": "Namaste 🙏 नमस्ते — ça va?",
            "in_reply_to": None,
            "received_at": "2026-11-26T10:00:01.498Z",
            "metadata": None,
        },
    }


EVT_SENT = "evt_0kz3m8q4bb1c2d3e4f5g6h7j8k"
EVT_DELIVERED = "evt_0kz3m8q5cc1d2e3f4g5h6j7k8m"
MSG = "msg_0kz3m8q2xx1y2z3a4b5c6d7e8f"

SINGLE = _compact(_status_event(EVT_DELIVERED, MSG, "delivered", 123))
BATCH = _compact(
    [_status_event(EVT_SENT, MSG, "sent", 5), _status_event(EVT_DELIVERED, MSG, "delivered", 123)]
)
BATCH_UNICODE = _compact([_inbound_event()])

# (name, description, algorithm, kid, passphrase, salt, iv, plaintext)
ENVELOPE_CASES: list[tuple[str, str, envelope.Algorithm, str, str, bytes, bytes, str]] = [
    (
        "a128gcm-single-event",
        "aes-128, one status event as the body",
        "aes-128",
        "v1",
        "correct horse battery staple",
        bytes(range(16)),
        bytes(range(12)),
        SINGLE,
    ),
    (
        "a256gcm-single-event",
        "aes-256, the same status event",
        "aes-256",
        "v2",
        "correct horse battery staple",
        bytes(range(16, 32)),
        bytes(range(100, 112)),
        SINGLE,
    ),
    (
        "a128gcm-batch",
        "aes-128, a batch: a JSON array of two status events",
        "aes-128",
        "2026-11.a",
        "Tr0ub4dor&3 is not a passphrase",
        bytes.fromhex("a1a2a3a4a5a6a7a8a9aaabacadaeafb0"),
        bytes.fromhex("0f0e0d0c0b0a090807060504"),
        BATCH,
    ),
    (
        "a256gcm-batch-unicode",
        "aes-256, a batch with non-ASCII text, and a non-ASCII passphrase (both UTF-8)",
        "aes-256",
        "rotated_v-3",
        "pässwörd ünïcode ✓ 2026",
        bytes.fromhex("00ff00ff00ff00ff11ee11ee11ee11ee"),
        bytes.fromhex("cafebabedeadbeef01234567"),
        BATCH_UNICODE,
    ),
]

SECRET_OLD = "whsec_" + _b64(bytes(range(24)))
SECRET_NEW = "whsec_" + _b64(bytes(range(200, 224)))
TIMESTAMP = 1795687200  # 2026-11-26T10:00:00Z


def envelope_vectors() -> dict[str, Any]:
    """The envelope test vectors (CONTRACT section 6)."""
    cases = []
    for name, description, algorithm, kid, passphrase, salt, iv, plaintext in ENVELOPE_CASES:
        key = envelope.KeyVersion(kid, algorithm, _b64(salt), passphrase)
        cases.append(
            {
                "name": name,
                "description": description,
                "algorithm": algorithm,
                "alg": key.alg,
                "kid": kid,
                "passphrase": passphrase,
                "salt": _b64(salt),
                "iv": _b64(iv),
                "aad": envelope.aad_for(key.alg, kid).decode(),
                "derived_key_hex": key.key.hex(),
                "plaintext": plaintext,
                "envelope": envelope.seal(plaintext.encode(), key, iv=iv),
            }
        )
    return {
        "description": (
            "Parley payload envelope (AES-GCM). key = PBKDF2-HMAC-SHA256(UTF-8 passphrase, "
            "base64-decoded salt, 600000 iterations, 16 bytes for A128GCM / 32 for A256GCM); "
            "aad = UTF-8 of alg + '.' + kid; ct = base64(ciphertext || 16-byte tag). "
            "plaintext is the exact body; its bytes are the UTF-8 encoding of the string."
        ),
        "pbkdf2_iterations": envelope.PBKDF2_ITERATIONS,
        "cases": cases,
    }


def _webhook_case(
    name: str, description: str, *, secrets: list[str], msg_id: str, timestamp: int, body: str
) -> dict[str, Any]:
    raw = body.encode()
    return {
        "name": name,
        "description": description,
        "secrets": secrets,
        "msg_id": msg_id,
        "timestamp": timestamp,
        "body": body,
        "signatures": [signing.sign(s, msg_id, timestamp, raw) for s in secrets],
        "headers": signing.webhook_headers(secrets, msg_id, raw, timestamp=timestamp),
    }


def webhook_vectors() -> dict[str, Any]:
    """The Standard Webhooks signature test vectors (CONTRACT section 7)."""
    _, _, algorithm, kid, passphrase, salt, iv, plaintext = ENVELOPE_CASES[1]
    key = envelope.KeyVersion(kid, algorithm, _b64(salt), passphrase)
    sealed = envelope.seal_bytes(plaintext.encode(), key, iv=iv).decode()
    return {
        "description": (
            "Standard Webhooks signatures. key = base64-decode of the secret after 'whsec_'; "
            "signature = 'v1,' + base64(HMAC-SHA256(key, msg_id + '.' + timestamp + '.' + body)); "
            "webhook-signature joins the signature of every secret with one space. body is the "
            "exact body; its bytes are the UTF-8 encoding of the string."
        ),
        "cases": [
            _webhook_case(
                "standard-webhooks-example",
                "the example published at standardwebhooks.com",
                secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
                timestamp=1614265330,
                body='{"test": 2432232314}',
            ),
            _webhook_case(
                "single-secret-event",
                "one secret, one status event; webhook-id is the event id",
                secrets=[SECRET_OLD],
                msg_id=EVT_DELIVERED,
                timestamp=TIMESTAMP,
                body=SINGLE,
            ),
            _webhook_case(
                "rotation-two-secrets-batch",
                "during a 24 h secret rotation both secrets sign; a batch, webhook-id a batch id",
                secrets=[SECRET_OLD, SECRET_NEW],
                msg_id="bat_0kz3m8q6dd1e2f3g4h5j6k7m8n",
                timestamp=TIMESTAMP + 7,
                body=BATCH,
            ),
            _webhook_case(
                "encrypted-body",
                "an encrypting account: the body is the envelope of case a256gcm-single-event "
                "of envelope.json, signed as sent",
                secrets=[SECRET_NEW],
                msg_id=EVT_DELIVERED,
                timestamp=TIMESTAMP,
                body=sealed,
            ),
            _webhook_case(
                "unicode-batch",
                "a body with non-ASCII text: the HMAC runs over its UTF-8 bytes",
                secrets=[SECRET_NEW],
                msg_id="bat_0kz3m8q7ee1f2g3h4j5k6m7n8p",
                timestamp=TIMESTAMP + 60,
                body=BATCH_UNICODE,
            ),
        ],
    }


def render(document: dict[str, Any]) -> str:
    """The file text of a vectors document: 2-space indented UTF-8 JSON and a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    """Every vectors file and the text it must hold."""
    return {ENVELOPE_FILE: render(envelope_vectors()), WEBHOOK_FILE: render(webhook_vectors())}


def main(argv: list[str]) -> int:
    """Write the files, or with `--check` report whether they are up to date."""
    check = "--check" in argv
    stale = []
    for path, text in generated().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        sys.stderr.write(f"{'stale' if check else 'wrote'}: {path}\n")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
