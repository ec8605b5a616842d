#!/usr/bin/env python3
"""Benchmark: issuing one DAC from a PAI in-process (key generation + certificate + signature), and the
chain check the generator runs. Prints CPU time per operation; asserts nothing.

    python tests/bench/bench_certs.py [--count 2000]
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from matter_factory_data.crypto import attestation, issuing  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000)
    n = ap.parse_args().count
    paa_key = issuing.generate_p256_key()
    paa = issuing.issue_certificate("paa", "PAA", paa_key.public_key(), paa_key, vid=0xFFF1)
    pai_key = issuing.generate_p256_key()
    pai = issuing.issue_certificate("pai", "PAI", pai_key.public_key(), paa_key, paa, vid=0xFFF1)

    t = time.process_time()
    keys = [issuing.generate_p256_key() for _ in range(n)]
    keygen = (time.process_time() - t) / n
    t = time.process_time()
    dacs = [issuing.issue_certificate("dac", "DAC", k.public_key(), pai_key, pai, vid=0xFFF1, pid=0x8000)
            for k in keys]
    issue = (time.process_time() - t) / n
    ders = [issuing.der(d) for d in dacs]
    pai_parsed = attestation.load_cert(issuing.der(pai), "pai")
    t = time.process_time()
    for d, k in zip(ders[:500], keys):
        attestation.check_chain(attestation.load_cert(d, "dac"), pai_parsed, None, k.private_numbers().private_value,
                                0xFFF1, 0x8000)
    check = (time.process_time() - t) / min(n, 500)
    print(f"P-256 key generation        {keygen * 1e6:8.1f} us CPU")
    print(f"DAC certificate + signature {issue * 1e6:8.1f} us CPU")
    print(f"one DAC issued (both)       {(keygen + issue) * 1e6:8.1f} us CPU  (target < 1000 us)")
    print(f"chain check (parse+verify)  {check * 1e6:8.1f} us CPU")


if __name__ == "__main__":
    main()
