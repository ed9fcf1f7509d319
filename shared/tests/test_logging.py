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
