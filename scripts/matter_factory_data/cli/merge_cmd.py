"""``matter-factory-data merge``: merge Intel HEX files (firmware + factory data)."""

from __future__ import annotations

from .common import ArgumentParser

DESCRIPTION = """\
Merge Intel HEX files into one, as a flashable image. Start addresses of the inputs are dropped.
By default any shared address is an error (even with identical bytes); --overlap replace lets later
files win.
"""

EPILOG = """\
example:
  %(prog)s -o merged.hex build/zephyr/zephyr.hex build/zephyr/factory_data.hex
"""


def main(argv: list[str], prog: str) -> int:
    import io

    from intelhex import AddressOverlapError, IntelHex

    from ..errors import InvalidInput
    from ..fileio import WriteSet, read_bytes

    p = ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-o", "--output", required=True, help="merged Intel HEX file")
    p.add_argument("inputs", nargs="+", help="Intel HEX files, merged in this order")
    p.add_argument("--overlap", choices=["error", "replace"], default="error",
                   help="what a shared address does: error (default) or replace (later files win)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = p.parse_args(argv)
    WriteSet(overwrite=args.overwrite).add(args.output, b"").check()  # before any work
    merged = IntelHex()
    owners: list[tuple[str, IntelHex]] = []
    for path in args.inputs:
        ih = IntelHex()
        data = read_bytes(path, "input")
        try:
            ih.loadhex(io.StringIO(data.decode("ascii")))
        except Exception as e:  # intelhex raises its own hierarchy, ValueError and UnicodeDecodeError
            raise InvalidInput(path, f"is not a valid Intel HEX file ({e})") from None
        ih.start_addr = None
        try:
            merged.merge(ih, overlap=args.overlap)
        except AddressOverlapError:
            taken = set(merged.addresses())
            addr = next(a for a in ih.addresses() if a in taken)
            other = next((name for name, o in owners if addr in o.addresses()), "an earlier input")
            raise InvalidInput(path, f"overlaps {other} at address 0x{addr:x} (use --overlap replace to let it win)") from None
        owners.append((path, ih))
    buf = io.StringIO()
    merged.write_hex_file(buf, write_start_addr=False)
    WriteSet(overwrite=args.overwrite).add(args.output, buf.getvalue().encode("ascii"), secret=True).commit()
    return 0
