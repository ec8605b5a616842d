"""Merging Intel HEX files (the firmware and its factory data), refusing overlaps unless asked."""

from __future__ import annotations

import io

from intelhex import AddressOverlapError, IntelHex

from ..errors import InvalidInput


def merge_hex(inputs: list[tuple[str, bytes]], overlap: str = "error") -> bytes:
    """The Intel HEX text of ``inputs`` (name, HEX bytes) merged in order. ``overlap``: ``error`` refuses a
    shared address naming both files, ``replace`` lets later files win. No start address is written."""
    buf = io.StringIO()
    merge(inputs, overlap).write_hex_file(buf, write_start_addr=False)
    return buf.getvalue().encode("ascii")


def flat_binary(merged: IntelHex) -> bytes:
    """The merged image as one binary from its lowest address to its highest, gaps filled with 0xFF (erased
    flash), as a flasher that takes a .bin writes it."""
    merged.padding = 0xFF
    return merged.tobinstr()


def merge(inputs: list[tuple[str, bytes]], overlap: str = "error", at: dict | None = None) -> IntelHex:
    """``merge_hex``'s image; an input named in ``at`` is a raw binary placed at that address."""
    merged = IntelHex()
    owners: list[tuple[str, IntelHex]] = []
    at = at or {}
    for name, data in inputs:
        ih = IntelHex()
        if name in at:
            ih.frombytes(data, offset=at[name])
        else:
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
    return merged
