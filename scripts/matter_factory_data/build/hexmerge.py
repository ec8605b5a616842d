"""Merging Intel HEX files (the firmware and its factory data), refusing overlaps unless asked."""

from __future__ import annotations

import io

from intelhex import AddressOverlapError, IntelHex

from ..errors import InvalidInput


def merge_hex(inputs: list[tuple[str, bytes]], overlap: str = "error") -> bytes:
    """The Intel HEX text of ``inputs`` (name, HEX bytes) merged in order. ``overlap``: ``error`` refuses a
    shared address naming both files, ``replace`` lets later files win. No start address is written."""
    merged = IntelHex()
    owners: list[tuple[str, IntelHex]] = []
    for name, data in inputs:
        ih = IntelHex()
        try:
            ih.loadhex(io.StringIO(data.decode("ascii")))
        except Exception as e:  # intelhex raises its own hierarchy, ValueError and UnicodeDecodeError
            raise InvalidInput(name, f"is not a valid Intel HEX file ({e})") from None
        ih.start_addr = None
        try:
            merged.merge(ih, overlap=overlap)
        except AddressOverlapError:
            taken = set(merged.addresses())
            addr = next(a for a in ih.addresses() if a in taken)
            other = next((n for n, o in owners if addr in o.addresses()), "an earlier input")
            raise InvalidInput(name, f"overlaps {other} at address 0x{addr:x} (use --overlap replace to let it "
                                     f"win)") from None
        owners.append((name, ih))
    buf = io.StringIO()
    merged.write_hex_file(buf, write_start_addr=False)
    return buf.getvalue().encode("ascii")
