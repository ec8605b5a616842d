"""``matter-factory-data`` command line: a thin door over the library.

Subcommand modules are imported only when used, so a run loads only what it needs.
"""

from __future__ import annotations

import importlib
import os
import sys

from .. import __version__
from ..errors import EXIT_FAILED, EXIT_INVALID, FactoryDataError
from .common import Reporter, take_pkcs11_module

PROG = "matter-factory-data"

COMMANDS = {
    "json": ("json_cmd", "nRF Connect factory data JSON (+ HEX/BIN, onboarding codes); generate_factory_data.py arguments"),
    "partition": ("partition_cmd", "CBOR partition HEX/BIN from a factory data JSON; generate_partition.py arguments"),
    "inspect": ("inspect_cmd", "decode and validate a factory data image (.json, .cbor, .bin, .hex)"),
    "onboarding": ("onboarding_cmd", "QR and manual pairing codes: make them, or --parse one"),
    "demo": ("demo_cmd", "fresh test credentials and one complete factory data set (the README's first command)"),
    "certs": ("certs_cmd", "issue (paa, pai, dac) and verify attestation certificates"),
    "cd": ("cd_cmd", "generate and inspect Certification Declarations"),
    "layout": ("layout_cmd", "check a pm_static.yml partition layout for factory data"),
    "merge": ("merge_cmd", "merge Intel HEX files (firmware + factory data), overlap is an error"),
    "batch": ("batch_cmd", "factory data for many devices: parallel, resumable, with a manifest"),
    "nxp": ("nxp_cmd", "NXP factory data binary (generate.py arguments), plain, AES-ECB or HWParameters"),
    "esp32": ("esp32_cmd", "ESP32 NVS factory partitions with esp-matter-mfg-tool's options and output tree"),
    "ti": ("ti_cmd", "TI CC13x4/CC26x4 factory data HEX from create_factory_data.py's JSON"),
    "bouffalolab": ("bouffalolab_cmd", "Bouffalo Lab MFD image (generate_factory_data.py arguments, its bugs fixed)"),
    "telink": ("telink_cmd", "Telink factory data (CBOR in Intel HEX) with mfg_tool.py's options and output tree"),
}

USAGE = f"""usage: {PROG} <command> [options]

Produce Matter factory data (identity and secrets read from flash at boot) and check it.

commands:
""" + "".join(f"  {name:<11} {desc}\n" for name, (_, desc) in COMMANDS.items()) + f"""
Run '{PROG} <command> --help' for a command's options.
"""


def run(module_name: str, argv: list[str], prog: str) -> int:
    module = importlib.import_module(f"{__name__}.{module_name}")
    Reporter.held = []
    try:
        if "--help" not in argv and "-h" not in argv:
            argv = take_pkcs11_module(argv)
        code = module.main(argv, prog) or 0
        if Reporter.held:
            sys.stderr.write("".join(line + "\n" for line in Reporter.held))
        return code
    except FactoryDataError as e:
        return _report_error(module, prog, one_line(str(e)), e.exit_code)
    except OSError as e:  # a path that cannot be read or written: the operation failed, no traceback
        where = f"{e.filename}: " if e.filename else ""
        return _report_error(module, prog, one_line(f"{where}{e.strerror or e}"), EXIT_FAILED)
    except KeyboardInterrupt:
        message = getattr(module, "INTERRUPTED", "interrupted; nothing was written")
        print(f"{prog}: {message}", file=sys.stderr)
        return 130
    finally:
        Reporter.held = None


def _report_error(module, prog: str, message: str, code: int) -> int:
    """One line on stderr; a drop-in command prints it (and exits) the way its reference tool does."""
    report = getattr(module, "report_error", None)
    if report is not None:
        return report(message, code)
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else EXIT_INVALID
    if argv[0] == "--version":
        print(f"{PROG} {__version__}")
        return 0
    name = argv[0]
    bad = _undecodable_argument(argv)
    if bad is not None:
        print(f"{PROG} {name}: error: {bad}: is not valid UTF-8 text (the command line holds bytes no text "
              f"encoding can name)", file=sys.stderr)
        return EXIT_INVALID
    if name not in COMMANDS:
        print(f"{PROG}: error: unknown command {name!r} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return EXIT_INVALID
    return run(COMMANDS[name][0], argv[1:], f"{PROG} {name}")


def one_line(message: str) -> str:
    """An error message as one printable line: control characters a user's input brought in are escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _undecodable_argument(argv: list[str]) -> str | None:
    """The option (as typed) whose value holds bytes that are not UTF-8 (Python keeps them as lone
    surrogates), or None. Every text option ends in UTF-8 (X.509, CBOR, JSON, TLV), so none can take them."""
    for i, arg in enumerate(argv):
        try:
            arg.encode("utf-8")
            if "\0" in arg:  # impossible from a shell; possible through the Python API
                raise UnicodeEncodeError("utf-8", arg, 0, 1, "NUL")
        except UnicodeEncodeError:
            if arg.startswith("-") and "=" in arg:
                return arg.split("=", 1)[0].encode("ascii", "replace").decode()
            if i > 0 and argv[i - 1].startswith("-"):
                return argv[i - 1].encode("ascii", "replace").decode()
            return f"argument {i}"
    return None


def entry() -> None:
    """The console script. Every file a command writes is closed (and synced where it matters) before
    ``main`` returns, so the process leaves without the interpreter's teardown of cryptography and the other
    modules: about 10 ms, a noticeable part of a short run. A crash still leaves through the normal path
    with its traceback."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # the reader went away (e.g. `| head`): nothing more can be said
        pass
    os._exit(code)


__all__ = ["main", "entry", "run", "EXIT_FAILED"]
