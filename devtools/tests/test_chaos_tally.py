"""The chaos summary row: what it counts as lost, and that it names the messages left without
a final event (the clue a failed run leaves behind)."""

from __future__ import annotations

from parley_devtools.chaos.tally import StatusView, row_for
from parley_devtools.receiver import Receiver


def test_a_message_without_a_final_event_is_lost_and_named() -> None:
    """Three accepted, two with a final: one lost, named in the notes; events all received."""
    view = StatusView()
    view.finals["msg_a"].add("delivered")
    view.finals["msg_b"].add("failed")
    view.subscribed.update({"evt_1", "evt_2"})
    receiver = Receiver()
    receiver.counts.update({"evt_1": 1, "evt_2": 2})
    row = row_for("a. test", {"msg_a", "msg_b", "msg_c"}, view, receiver, [])
    assert (row.accepted, row.final, row.delivered, row.duplicates, row.lost) == (3, 2, 2, 1, 1)
    assert "without a final event: msg_c" in row.notes


def test_a_clean_row_names_nobody() -> None:
    """Every message final and every event received: nothing lost, no such note."""
    view = StatusView()
    view.finals["msg_a"].add("delivered")
    row = row_for("a. test", {"msg_a"}, view, Receiver(), [])
    assert row.lost == 0
    assert not any(note.startswith("without a final") for note in row.notes)
