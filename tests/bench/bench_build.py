#!/usr/bin/env python3
"""Benchmark: the CMake integration in the fake firmware project (tests/integration/fake_app).

Prints: the no-op rebuild time and whether the generator ran; the regenerate step (the generator command
exactly as the build runs it, after a .config change) next to one single-device run of the tool.
Asserts nothing.

    python tests/bench/bench_build.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
DEV = os.path.join(FIX, "matter-credentials", "development-attestation")
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "CHIP_ROOT")}


def write_config(path: str, product_id: int) -> None:
    """A complete .config as a Zephyr build with this module writes it (kconfiglib, all symbols)."""
    import kconfiglib

    os.environ["srctree"] = ROOT
    k = kconfiglib.Kconfig(os.path.join(ROOT, "kconfig", "Kconfig"), warn_to_stderr=False)
    for name, value in (("MATTER_FACTORY_DATA", "y"), ("MATTER_FACTORY_DATA_CERT_SOURCE_USER", "y"),
                        ("MATTER_FACTORY_DATA_USER_CERTS_DAC_CERT", f"{DEV}/Matter-Development-DAC-FFF1-8000-Cert.der"),
                        ("MATTER_FACTORY_DATA_USER_CERTS_DAC_KEY", f"{DEV}/Matter-Development-DAC-FFF1-8000-Key.der"),
                        ("MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT", f"{DEV}/Matter-Development-PAI-FFF1-noPID-Cert.der"),
                        ("CHIP_DEVICE_SERIAL_NUMBER", f"SN{product_id}")):
        k.syms[name].set_value(value)
    k.write_config(path)


def timed(cmd, **kw) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return (time.perf_counter() - t) * 1000, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, ".config")
        write_config(cfg, 1)
        build = os.path.join(d, "build")
        timed(["cmake", "-S", os.path.join(ROOT, "tests", "integration", "fake_app"), "-B", build, "-G", "Ninja",
               f"-DMFD_ROOT={ROOT}", f"-DAPP_CONFIG={cfg}", "-DFW_BASE=0x0", "-DFD_OFFSET=0xfb000",
               "-DFD_SIZE=0x1000", "-DMODE=explicit", f"-DMATTER_FACTORY_DATA_PYTHON={sys.executable}"])
        first, _ = timed(["cmake", "--build", build])
        hexfile = os.path.join(build, "zephyr", "factory_data.hex")
        stamp = os.stat(hexfile).st_mtime_ns
        noop = []
        for _ in range(runs):
            ms, p = timed(["cmake", "--build", build])
            noop.append(ms)
            assert "Generating Matter factory data" not in p.stdout
        ran = os.stat(hexfile).st_mtime_ns != stamp
        print(f"first build (configure done)     {first:8.1f} ms")
        print(f"no-op rebuild                    {statistics.median(noop):8.1f} ms median of {runs}; "
              f"generator ran: {'yes' if ran else 'no'} (0 ms in the generator)")
        # the generator command exactly as the build runs it
        _, p = timed(["ninja", "-C", build, "-t", "commands", "matter_factory_data"])
        gen_cmd = next(line for line in p.stdout.splitlines() if " --from_config " in line)
        regen = []
        for i in range(runs):
            write_config(cfg, 2 + i)
            ms, _ = timed(["sh", "-c", gen_cmd], cwd=build)
            regen.append(ms)
        args = ["--sn", "SN1", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "V",
                "--product_name", "P", "--date", "2022-01-01", "--hw_ver", "0", "--hw_ver_str", "prerelease",
                "--dac_cert", f"{DEV}/Matter-Development-DAC-FFF1-8000-Cert.der",
                "--dac_key", f"{DEV}/Matter-Development-DAC-FFF1-8000-Key.der",
                "--pai_cert", f"{DEV}/Matter-Development-PAI-FFF1-noPID-Cert.der", "--spake2_it", "1000",
                "--spake2_salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--passcode", "20202021", "--discriminator", "0xF00",
                "--generate_onboarding", "--offset", "0xfb000", "--size", "0x1000", "--overwrite",
                "-o", os.path.join(d, "single")]
        single = [timed([sys.executable, os.path.join(ROOT, "scripts", "generate_factory_data.py"), *args])[0]
                  for _ in range(runs)]
        r, s = statistics.median(regen), statistics.median(single)
        print(f"regenerate step (build's command) {r:8.1f} ms median of {runs}")
        print(f"single-device run of the tool     {s:8.1f} ms median of {runs}")
        print(f"ratio regenerate / single run: {r / s:.2f}  (target <= 1.0)")
        print("generator command:", shlex.split(gen_cmd)[:6], "...")


if __name__ == "__main__":
    main()
