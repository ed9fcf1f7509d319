"""Reading SMPP frames off an asyncio stream, and the bind's answer.

A frame is read whole by its `command_length` (4 octets, big-endian, the length of the PDU
itself included); a length outside 16..`MAX_PDU_LENGTH` cannot be skipped over safely, so the
connection is given up (`FramingError`).
"""

from __future__ import annotations

import asyncio
import struct

from routing_svc.adapters.providers.smpp.outcomes import BindRefused, ConnectionLost, FramingError
from routing_svc.adapters.providers.smpp.pdu import (
    BIND_TRANSCEIVER_RESP,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_ROK,
    ESME_RSYSERR,
    GENERIC_NACK,
    HEADER,
    HEADER_LENGTH,
    MAX_PDU_LENGTH,
    header_only,
)

_LENGTH = struct.Struct(">I")


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """Exactly one PDU, by its command_length (FramingError for an impossible length)."""
    head = await reader.readexactly(4)
    (length,) = _LENGTH.unpack(head)
    if not HEADER_LENGTH <= length <= MAX_PDU_LENGTH:
        raise FramingError(f"command_length {length}")
    return head + await reader.readexactly(length - 4)


async def bind_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read until `bind_transceiver_resp` (answering an early `enquire_link`); BindRefused
    when its status is not 0 or the SMSC answers `generic_nack`."""
    while True:
        try:
            frame = await read_frame(reader)
        except asyncio.IncompleteReadError:
            raise ConnectionLost("closed_during_bind") from None
        _, command_id, status, sequence = HEADER.unpack_from(frame)
        if command_id == ENQUIRE_LINK:
            writer.write(header_only(ENQUIRE_LINK_RESP, sequence))
        elif command_id == BIND_TRANSCEIVER_RESP:
            if status != ESME_ROK:
                raise BindRefused(status)
            return
        elif command_id == GENERIC_NACK:
            raise BindRefused(status or ESME_RSYSERR)
