"""A stand-in for the Matter SDK's ``chip-cert validate-att-cert``, which esp-matter-mfg-tool's test suite calls
to check every chain it generates: ``chip-cert validate-att-cert -d DAC -i PAI -a PAA`` exits 0 when the chain
holds (matter_factory_data's chain checker: profiles, links, signatures, VID/PID), 1 with the reasons when not."""

from __future__ import annotations

import argparse
import sys

from matter_factory_data.crypto import attestation, keys
from matter_factory_data.errors import FactoryDataError


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chip-cert")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate-att-cert")
    v.add_argument("-d", "--dac", required=True)
    v.add_argument("-i", "--pai", required=True)
    v.add_argument("-a", "--paa", required=True)
    args = p.parse_args(argv)
    try:
        dac, pai, paa = (attestation.load_cert(keys.load_certificate_der(path, what), what)
                         for path, what in ((args.dac, "DAC"), (args.pai, "PAI"), (args.paa, "PAA")))
        vid, pid = attestation.matter_ids(dac, lenient=True)
        result = attestation.check_chain(dac, pai, paa, None, vid, pid)
    except FactoryDataError as e:
        print(f"chip-cert: {e}", file=sys.stderr)
        return 1
    if result.errors:
        print("chip-cert: " + "; ".join(result.errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
