"""Reading a build's configuration: a Zephyr ``.config`` (import_kconfig semantics) or ``prj.conf`` files
through ``kconfiglib`` and this repository's ``kconfig/Kconfig``, turned into generator arguments.

The CMake module calls the generator with ``--from_config <build>/zephyr/.config``, so the command line
``matter-factory-data json --from_config build/zephyr/.config ...`` produces exactly what the build does.
"""

from __future__ import annotations

import base64
import os
import re

from ..errors import InvalidInput, OperationFailed
from ..fileio import read_bytes
from ..model import PRODUCT_COLORS, PRODUCT_FINISHES
from ..provisioning import find_matter_sdk

_LINE = re.compile(r"^(CONFIG_[^=\s]+)=(.*)$")
_NOT_SET = re.compile(r"^# (CONFIG_[^ ]+) is not set$")
CONFLICTS = ("CONFIG_CHIP_FACTORY_DATA_BUILD", "SB_CONFIG_MATTER_FACTORY_DATA_GENERATE")


def repo_kconfig() -> str:
    """``kconfig/Kconfig`` of this repository (next to ``scripts/``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), "kconfig", "Kconfig")


def parse_dotconfig(text: str) -> dict[str, str]:
    """``CONFIG_X=value`` lines as CMake's ``import_kconfig`` reads them: quotes stripped, ``# X is not set`` -> n."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        m = _LINE.match(line)
        if m:
            value = m.group(2)
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            out[m.group(1)] = value
            continue
        m = _NOT_SET.match(line)
        if m:
            out[m.group(1)] = "n"
    return out


def read_dotconfig(path: str) -> dict[str, str]:
    data = read_bytes(path, "--from_config")
    try:
        return parse_dotconfig(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("--from_config", f"'{path}' is not UTF-8 text") from None


def load_with_kconfiglib(conf_files: list[str], kconfig_file: str | None = None,
                         enable: bool = True) -> dict[str, str]:
    """Evaluate ``prj.conf``-style fragments (in order, later ones win) against the Kconfig tree.

    kconfiglib silently drops values it rejects (a hex literal on an int symbol, an out-of-range value);
    here every warning is an error naming the symbol.
    """
    try:
        import kconfiglib
    except ImportError:
        raise OperationFailed("reading prj.conf files needs the 'kconfiglib' package (pip install kconfiglib)") from None
    kconfig_file = kconfig_file or repo_kconfig()
    old_srctree = os.environ.get("srctree")
    os.environ["srctree"] = os.path.dirname(os.path.dirname(os.path.abspath(kconfig_file)))
    try:
        kconf = kconfiglib.Kconfig(kconfig_file, warn_to_stderr=False, suppress_traceback=True)
    except kconfiglib.KconfigError as e:
        raise InvalidInput("Kconfig", str(e).strip().splitlines()[0]) from None
    finally:
        if old_srctree is None:
            os.environ.pop("srctree", None)
        else:
            os.environ["srctree"] = old_srctree
    kconf.warn_assign_undef = False
    kconf.warn_assign_override = False  # later fragments override earlier ones, as in a Zephyr build
    kconf.warn_assign_redun = False
    if enable:
        kconf.syms["MATTER_FACTORY_DATA"].set_value(2)
    for path in conf_files:
        read_bytes(path, "--from_config")  # a clear error for an unreadable file
        before = len(kconf.warnings)
        try:
            kconf.load_config(path, replace=False)
        except (kconfiglib.KconfigError, UnicodeDecodeError):
            raise InvalidInput("--from_config", f"'{path}' is not a Kconfig fragment (.config or prj.conf): "
                                                f"it is not UTF-8 text") from None
        _raise_warnings(kconf.warnings[before:], os.path.basename(path))
    before = len(kconf.warnings)
    out = {}
    for sym in kconf.unique_defined_syms:  # evaluating values reports out-of-range assignments
        if sym.config_string:
            out.update(parse_dotconfig(sym.config_string))
    _raise_warnings(kconf.warnings[before:], ", ".join(os.path.basename(p) for p in conf_files))
    return out


def _raise_warnings(warnings: list[str], where: str) -> None:
    for w in warnings:
        m = re.search(r"\b([A-Z][A-Z0-9_]+)\b", w.replace("CONFIG_", ""))
        name = "CONFIG_" + m.group(1) if m else where
        text = " ".join(w.split())
        if text.lower().startswith("warning: "):
            text = text[len("warning: "):]
        raise InvalidInput(f"{where}: {name}", text)


def kconfig_defaults() -> dict[str, str]:
    """The Kconfig defaults of every generation option, as if CONFIG_MATTER_FACTORY_DATA=y."""
    return load_with_kconfiglib([])


NEEDED = (
    "CONFIG_CHIP_DEVICE_SERIAL_NUMBER", "CONFIG_CHIP_DEVICE_MANUFACTURING_DATE", "CONFIG_CHIP_DEVICE_VENDOR_ID",
    "CONFIG_CHIP_DEVICE_PRODUCT_ID", "CONFIG_CHIP_DEVICE_VENDOR_NAME", "CONFIG_CHIP_DEVICE_PRODUCT_NAME",
    "CONFIG_CHIP_DEVICE_HARDWARE_VERSION", "CONFIG_CHIP_DEVICE_HARDWARE_VERSION_STRING",
    "CONFIG_CHIP_DEVICE_SPAKE2_IT", "CONFIG_CHIP_DEVICE_SPAKE2_SALT", "CONFIG_CHIP_DEVICE_DISCRIMINATOR",
    "CONFIG_CHIP_DEVICE_SPAKE2_PASSCODE", "CONFIG_MATTER_FACTORY_DATA_GENERATE_SPAKE2_VERIFIER",
    "CONFIG_MATTER_FACTORY_DATA_INCLUDE_PASSCODE", "CONFIG_MATTER_FACTORY_DATA_GENERATE_ONBOARDING_CODES",
    "CONFIG_MATTER_FACTORY_DATA_ROTATING_DEVICE_UID", "CONFIG_CHIP_DEVICE_PRODUCT_FINISH",
)


def read_config(paths: list[str]) -> dict[str, str]:
    """One or more configuration files: a built ``.config`` is read as CMake reads it; ``prj.conf``
    fragments go through kconfiglib. Values the files do not set take this repository's Kconfig defaults."""
    dotconfigs = [p for p in paths if os.path.basename(p) == ".config" or _looks_generated(p)]
    if dotconfigs and len(dotconfigs) != len(paths):
        raise InvalidInput("--from_config", "give either one built .config or prj.conf fragments, not both")
    if dotconfigs:
        cfg: dict[str, str] = {}
        for p in paths:
            cfg.update(read_dotconfig(p))
        if any(k not in cfg for k in NEEDED):
            merged = kconfig_defaults()
            merged.update(cfg)
            cfg = merged
    else:
        cfg = load_with_kconfiglib(paths)
    check_conflicts(cfg, ", ".join(paths))
    return cfg


def _looks_generated(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(200)
    except OSError:
        return False
    return b"Automatically generated file; DO NOT EDIT" in head


def check_conflicts(cfg: dict[str, str], where: str) -> None:
    for name in CONFLICTS:
        if cfg.get(name) == "y":
            raise InvalidInput(
                where, f"{name}=y and CONFIG_MATTER_FACTORY_DATA both generate factory data: turn one off "
                       f"(set {name}=n to let matter-factory-data generate it)")


def _on(cfg: dict, name: str) -> bool:
    return cfg.get(name) == "y"


def request_values(cfg: dict[str, str], sdk_root: str | None = None, warn=lambda m: None) -> dict:
    """The ``NrfRequest`` fields a configuration stands for, typed (what the nRF Connect SDK's CMake passes
    to its generator). A value that is not what its symbol promises is an error naming the symbol."""
    g = lambda n: cfg.get("CONFIG_" + n, "")  # noqa: E731
    values = {"sn": g("CHIP_DEVICE_SERIAL_NUMBER"), "date": g("CHIP_DEVICE_MANUFACTURING_DATE"),
              "vendor_id": _number(cfg, "CHIP_DEVICE_VENDOR_ID"), "product_id": _number(cfg, "CHIP_DEVICE_PRODUCT_ID"),
              "vendor_name": g("CHIP_DEVICE_VENDOR_NAME"), "product_name": g("CHIP_DEVICE_PRODUCT_NAME"),
              "hw_ver": _number(cfg, "CHIP_DEVICE_HARDWARE_VERSION"),
              "hw_ver_str": g("CHIP_DEVICE_HARDWARE_VERSION_STRING")}
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_ROTATING_DEVICE_UID"):
        if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_GENERATE_ROTATING_DEVICE_UID"):
            values["generate_rd_uid"] = True
        elif g("CHIP_DEVICE_ROTATING_DEVICE_UID"):
            values["rd_uid"] = _hex(cfg, "CHIP_DEVICE_ROTATING_DEVICE_UID")
    values.update(cert_values(cfg, sdk_root, warn))
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_GENERATE_CD"):
        values["gen_cd"] = True
        values["cd_type"] = _number(cfg, "MATTER_FACTORY_DATA_CD_TYPE") if g("MATTER_FACTORY_DATA_CD_TYPE") else 1
        if g("MATTER_FACTORY_DATA_CD_SIGNING_CERT"):
            values["cd_signing_cert"] = g("MATTER_FACTORY_DATA_CD_SIGNING_CERT")
            values["cd_signing_key"] = g("MATTER_FACTORY_DATA_CD_SIGNING_KEY")
    values.update(spake2_it=_number(cfg, "CHIP_DEVICE_SPAKE2_IT"), spake2_salt=_base64(cfg, "CHIP_DEVICE_SPAKE2_SALT"),
                  discriminator=_number(cfg, "CHIP_DEVICE_DISCRIMINATOR"),
                  passcode=_number(cfg, "CHIP_DEVICE_SPAKE2_PASSCODE"))
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_INCLUDE_PASSCODE"):
        values["include_passcode"] = True
    if not _on(cfg, "CONFIG_MATTER_FACTORY_DATA_GENERATE_SPAKE2_VERIFIER"):
        values["spake2_verifier"] = _base64(cfg, "CHIP_DEVICE_SPAKE2_TEST_VERIFIER")
    if g("CHIP_DEVICE_PRODUCT_FINISH"):
        values["product_finish"] = _choice(cfg, "CHIP_DEVICE_PRODUCT_FINISH", PRODUCT_FINISHES)
    if g("CHIP_DEVICE_PRODUCT_COLOR"):
        values["product_color"] = _choice(cfg, "CHIP_DEVICE_PRODUCT_COLOR", (*PRODUCT_COLORS, "cooper"))
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_GENERATE_ONBOARDING_CODES"):
        values["generate_onboarding"] = True
    if g("CHIP_DEVICE_ENABLE_KEY"):
        values["enable_key"] = _hex(cfg, "CHIP_DEVICE_ENABLE_KEY")
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK"):
        values["format"] = "telink"
        if g("MATTER_FACTORY_DATA_CD_FILE"):
            values["cd"] = g("MATTER_FACTORY_DATA_CD_FILE")
    return values


def _number(cfg: dict, name: str) -> int | None:
    text = cfg.get("CONFIG_" + name, "")
    if not text:
        return None
    try:
        return int(text, 0) if text.isascii() else int("x")
    except ValueError:
        raise InvalidInput("CONFIG_" + name, f"{text!r} is not a number") from None


def _base64(cfg: dict, name: str) -> bytes:
    text = cfg.get("CONFIG_" + name, "")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise InvalidInput("CONFIG_" + name, f"{text!r} is not Base64") from None


def _hex(cfg: dict, name: str) -> str:
    text = cfg.get("CONFIG_" + name, "")
    try:
        bytes.fromhex(text)
    except ValueError:
        raise InvalidInput("CONFIG_" + name, f"{text!r} is not hex digits") from None
    return text


def _choice(cfg: dict, name: str, choices) -> str:
    text = cfg.get("CONFIG_" + name, "")
    if text not in choices:
        raise InvalidInput("CONFIG_" + name, f"{text!r} is not one of {', '.join(choices)}")
    return text


def cert_values(cfg: dict[str, str], sdk_root: str | None, warn) -> dict:
    """Where the attestation certificates come from: the user's files, generated ones, or the Matter SDK's
    development certificates (the default, when a checkout is there)."""
    g = lambda n: cfg.get("CONFIG_" + n, "")  # noqa: E731
    paa = {}
    if g("MATTER_FACTORY_DATA_PAA_CERT"):
        paa = {"paa_cert": g("MATTER_FACTORY_DATA_PAA_CERT")}
        if g("MATTER_FACTORY_DATA_PAA_KEY"):
            paa["paa_key"] = g("MATTER_FACTORY_DATA_PAA_KEY")
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_USER"):
        missing = [n for n in ("DAC_CERT", "DAC_KEY", "PAI_CERT") if not g("MATTER_FACTORY_DATA_USER_CERTS_" + n)]
        if missing:
            raise InvalidInput(", ".join("CONFIG_MATTER_FACTORY_DATA_USER_CERTS_" + n for n in missing),
                               "must be set when CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_USER=y")
        return {"dac_cert": g("MATTER_FACTORY_DATA_USER_CERTS_DAC_CERT"),
                "dac_key": g("MATTER_FACTORY_DATA_USER_CERTS_DAC_KEY"),
                "pai_cert": g("MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT"), **({"paa_cert": paa["paa_cert"]} if paa else {})}
    if _on(cfg, "CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_GENERATED"):
        return {"gen_certs": True, **paa}
    # DEFAULT: the Matter SDK's development certificates when a checkout is there.
    if sdk_root is None:
        sdk_root = find_matter_sdk()
    vid, pid = _number(cfg, "CHIP_DEVICE_VENDOR_ID") or 0, _number(cfg, "CHIP_DEVICE_PRODUCT_ID") or 0
    if sdk_root:
        base = os.path.join(sdk_root, "credentials", "development", "attestation")
        dac = os.path.join(base, f"Matter-Development-DAC-{vid:X}-{pid:X}")
        pai = os.path.join(base, f"Matter-Development-PAI-{vid:X}-noPID-Cert.der")
        if os.path.isfile(dac + "-Cert.der") and os.path.isfile(pai):
            return {"dac_cert": dac + "-Cert.der", "dac_key": dac + "-Key.der", "pai_cert": pai,
                    **({"paa_cert": paa["paa_cert"]} if paa else {})}
        warn(f"no Matter SDK development certificates for VID 0x{vid:X} PID 0x{pid:X} in {base}: "
             f"generating test certificates")
    else:
        warn("no Matter SDK checkout (CHIP_ROOT) for the default development certificates: generating test certificates")
    return {"gen_certs": True, **paa}
