"""The shared logging setup redacts secrets, bodies and phone numbers."""

from __future__ import annotations

import io
import json

from parley_shared.logging import REDACTED, configure_logging, get_logger


def test_secret_keys_and_numbers_are_redacted() -> None:
    """Values under secret-named keys, key-shaped strings and phone numbers never print."""
    stream = io.StringIO()
    configure_logging("test", "DEBUG", json_output=True, stream=stream)
    get_logger("t").info(
        "sent",
        password="hunter2-hunter2",
        api_key="pk_abcdefghijklmnop",
        to="+919876543210",
        text="Your code is 4821",
        note="key pk_zyxwvutsrqponmlk for +14155550100",
        account_id="acc_1",
    )
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["password"] == REDACTED
    assert line["api_key"] == REDACTED
    assert line["to"] == REDACTED
    assert line["text"] == REDACTED
    assert "pk_zyxwvutsrqponmlk" not in line["note"]
    assert "+14155550100" not in line["note"]
    assert line["account_id"] == "acc_1"
    assert line["service"] == "test"


def test_library_log_lines_and_tracebacks_are_scrubbed() -> None:
    """A stdlib logger's line (as aiohttp or asyncpg write them), traceback included, shows no
    key- or number-shaped string."""
    import logging

    stream = io.StringIO()
    configure_logging("test", "INFO", json_output=True, stream=stream)
    error = ValueError("bad request line for /v1/consent/+919876543210 pk_abcdefghijklmnop")
    logging.getLogger("aiohttp.server").error(
        "Error handling request +14155550100", exc_info=(ValueError, error, None)
    )
    out = stream.getvalue()
    assert "Error handling request" in out
    assert "ValueError" in out
    for leaked in ("+919876543210", "+14155550100", "pk_abcdefghijklmnop"):
        assert leaked not in out


def test_ids_with_digit_runs_stay_whole() -> None:
    """Prefixed ids and trace ids holding long digit runs are not mangled as phone numbers,
    while a number standing on its own in the same line still is."""
    stream = io.StringIO()
    configure_logging("test", "DEBUG", json_output=True, stream=stream)
    ids = {
        "webhook_id": "evt_e5fdc90c2565b5a846d",
        "message_id": "msg_1234567890123456",
        "inbound_id": "inb_98765432109876ab",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "batch": "b_20261206123456789",
    }
    get_logger("t").info("delivered", note="user +919876543210 (9876543210)", **ids)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    for key, value in ids.items():
        assert line[key] == value
    assert "9876543210" not in line["note"]
