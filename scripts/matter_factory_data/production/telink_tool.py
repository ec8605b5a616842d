"""``matter-factory-data telink``: Telink's ``mfg_tool.py`` options, output tree and file names, without its
helper programs (``spake2p``, ``chip-tool``, ``chip-cert``) and with its defects fixed: a fixed salt
(``--salt``), no DAC needed (``--paa``/``--pai`` optional), ``--discriminator 0`` honoured, the passcode
and iteration ranges enforced, dates the device can read, CDs that are CDs, serial numbers that fit.

Tree (as the reference): ``<output>/device_sn.csv`` and ``<output>/<vid>_<pid>/<sn>/`` holding
``factory_data.bin``, ``factory_data.hex``, ``pin_disc.csv``, ``onb_codes.csv``, ``qrcode.png``,
``summary.json`` and ``internal/`` (``DAC_cert.der``, ``DAC_private_key.bin``, ``DAC_public_key.bin``,
``pai_cert.der``; ``DAC_cert.pem`` and ``DAC_key.pem`` for issued DACs; ``pai_cert.pem`` with ``--paa``).
``--in-tree`` puts one device's files straight into ``<output>``.

Runs go through the production engine: devices are made in parallel, a killed run finishes when the same
command runs again, and one run at a time holds the output directory.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import secrets
import tempfile
from typing import NamedTuple


from ..codes import onboarding
from ..codes.qrimage import qr_png
from ..crypto import attestation, cd, dac_template, keys, spake2p
from ..errors import InvalidInput, OperationFailed
from ..fileio import read_bytes
from ..formats import nrfconnect, telink
from ..model import FactoryData, check_date, check_field
from ..requests import TelinkRequest
from . import credentials
from .derive import P256_ORDER, PASSCODE_DOMAIN, Keyed, passcode_from_rank
from .engine import (Progress, RunLock, complete_lines, fresh_staging, job_count, produce, read_state, remove_tree,
                     sync_filesystem, worker, working, write_new, write_state)

STATE = ".matter-factory-data-telink.json"
JOURNAL = ".matter-factory-data-telink.rows"
LOCK = ".matter-factory-data-telink.lock"
STAGING = ".staging"
SERIAL_MAX = 32  # characters: the device's serial number buffer
TEXTS = (("--vendor-name", "vendor_name", 32), ("--product-name", "product_name", 32),
         ("--hw-ver-str", "hw_ver_str", 64), ("--product-label", "product_label", 64),
         ("--product-url", "product_url", 256), ("--part_number", "part_number", 32))


class RunContext(NamedTuple):
    """Everything a run's workers need, checked."""

    req: TelinkRequest
    serial_base: int | None  # --serial-num as a number (None: derived from the run's key)
    mode: str | None  # "paa", "pai" or None (no attestation data in the images)
    ca_scalar: int | None
    ca_der: bytes | None
    pai_der: bytes | None
    fixed_dac: tuple | None  # (DER, scalar) of a supplied DAC
    cd_der: bytes
    output: str  # the output directory
    output_abs: str  # the same, absolute (summary.json names absolute paths, as the reference does)
    key: bytes = b""  # the run's key
    valid_from: datetime.datetime | None = None  # the DACs' (and a generated PAI's) notBefore


def run(req: TelinkRequest, report) -> dict:
    """Make the run's devices (or finish an interrupted run of the same command). Returns the devices' serial
    numbers, QR and manual codes, in order, and how many this invocation made."""
    ctx, identity = _plan(req, report)
    out = req.output
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    state_path, journal_path = os.path.join(out, STATE), os.path.join(out, JOURNAL)
    existed = os.path.lexists(out)
    if existed and not os.path.isdir(out):
        raise OperationFailed(f"{out} exists and is not a directory")
    state = read_state(state_path) if existed else None
    if state is not None and state.get("fingerprint") != fingerprint and not req.overwrite:
        raise OperationFailed(f"{out} holds an unfinished run with other options: run that command again to "
                              f"finish it, add --overwrite to replace it, or delete {out}")
    if state is not None and state.get("fingerprint") != fingerprint:
        state = None
    if existed and state is None and not req.overwrite:
        raise OperationFailed("Output directory exists! Please use different or remove existing.")
    fresh = state is None
    if fresh:
        state = {"fingerprint": fingerprint, "key": secrets.token_bytes(32).hex(),
                 "started_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}
    else:
        report.info(f"finishing the interrupted run in {out}")
    keyed = Keyed(bytes.fromhex(state["key"]))
    valid_from = (attestation.parse_valid_from(req.valid_from, "--valid-from") if req.valid_from
                  else datetime.datetime.fromisoformat(state["started_utc"]))
    ctx = ctx._replace(key=bytes.fromhex(state["key"]), valid_from=valid_from)
    if ctx.mode == "paa":  # one PAI per run, kept in the state until the run is complete
        if "pai_der" not in state:
            state["pai_der"] = credentials.generate_pai(keyed, ctx.ca_scalar, ctx.ca_der, f"{req.cn_prefix} PAI 00",
                                                        req.vendor_id, req.product_id, valid_from,
                                                        req.lifetime).hex()
        ctx = ctx._replace(pai_der=bytes.fromhex(state["pai_der"]), ca_scalar=credentials.pai_scalar(keyed))
    if ctx.mode is not None and ctx.fixed_dac is None:
        credentials.check_signing_window(ctx.pai_der, valid_from, req.lifetime, "-vf/-lt")
    _probe(ctx)  # the first device, made in a private directory: a bad value fails before anything is written
    os.makedirs(out, exist_ok=True)
    lock = RunLock(out, LOCK, "telink run")
    try:
        if fresh and existed:  # --overwrite: the old tree goes only now, after every check passed
            for name in os.listdir(out):
                if name != LOCK:
                    path = os.path.join(out, name)
                    remove_tree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        return _run_locked(req, report, ctx, state, fresh, keyed, state_path, journal_path)
    finally:
        lock.release()


def _run_locked(req, report, ctx: RunContext, state: dict, fresh: bool, keyed, state_path: str,
                journal_path: str) -> dict:
    out = req.output
    write_state(state_path, state)
    if fresh or not os.path.exists(journal_path):
        fd = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
    done = complete_lines(journal_path)
    staging = fresh_staging(os.path.join(out, STAGING))
    for i in range(done, req.count):  # devices written but not yet recorded are made again, identically
        final = _device_dir(ctx, _serial(ctx, keyed, i))
        if not req.in_tree and os.path.isdir(final):
            remove_tree(final)
    jobs = job_count(req.jobs, req.count - done)
    produce(_Worker, ctx, _run_chunk, done=done, count=req.count, jobs=jobs, record_path=journal_path,
            sync_root=out, progress=Progress(req.count, done, req.quiet, label="telink",
                                                     signing=keys.display(req.key) if req.pai and keys.is_token_uri(req.key) else None))
    with open(journal_path, encoding="utf-8") as f:
        devices = [json.loads(line) for line in f]
    text = "Serial Number,\n" + "".join(d["sn"] + "\n" for d in devices)
    tmp = os.path.join(out, ".device_sn.csv.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(out, "device_sn.csv"))
    remove_tree(staging, ignore_errors=True)
    os.remove(state_path)  # the run is complete: its key is no longer needed
    os.remove(journal_path)
    sync_filesystem(out)
    return {"devices": devices, "new": req.count - done, "output": out}


def _probe(ctx: RunContext) -> None:
    with tempfile.TemporaryDirectory(prefix="mfd-telink-check-") as tmp:
        probe = ctx._replace(output=tmp, output_abs=tmp, req=ctx.req._replace(in_tree=True))
        os.mkdir(os.path.join(tmp, STAGING), 0o700)
        with working(_Worker, probe):
            _make_device(0)


def _plan(req: TelinkRequest, report) -> tuple[RunContext, dict]:
    """Every check of the options and their files, before anything is written."""
    if req.count < 1:
        raise InvalidInput("-n", "must be at least 1")
    if req.count > 1 and req.in_tree:
        raise credentials.refused("Option --in-tree can not be use together with --count > 1")
    for option, value in (("--vendor-id", req.vendor_id), ("--product-id", req.product_id), ("--hw-ver", req.hw_ver)):
        if value is not None and not 0 <= value <= 0xFFFF:
            raise InvalidInput(option, f"{value} does not fit 16 bits (0..65535)")
    if req.discriminator is not None:
        check_field("discriminator", req.discriminator, "--discriminator")
    if req.passcode is not None:
        spake2p.check_passcode(req.passcode, "--passcode")
    spake2p.check_iterations(req.spake2_it, "--spake2-it")
    if req.salt is not None:
        spake2p.check_salt(req.salt, "--salt")
    if req.commissioning_flow not in (0, 1, 2) or req.discovery_mode not in (0, 1, 2):
        raise InvalidInput("-cf/-dm", "must be 0, 1 or 2")
    for option, name, limit in TEXTS:
        value = getattr(req, name)
        if value is not None and not 1 <= len(value.encode("utf-8")) <= limit:
            raise InvalidInput(option, f"must be 1..{limit} bytes, got {len(value.encode('utf-8'))}")
    if req.mfg_date is not None:
        check_date(req.mfg_date, "--mfg-date")  # the device reads exactly YYYY-MM-DD
    _check_hex_text("--rd-id-uid", req.rd_id_uid, 16, 32)
    _check_hex_text("--enable-key", req.enable_key, 32, 32)
    if req.rd_id_uid is not None and not req.enable_rotating_device_id:
        report.warn("--rd-id-uid without --enable-rotating-device-id: no rd_uid is stored (as mfg_tool.py)")
    serial_base = _serial_base(req)
    if req.passcode is not None and req.count > 1:
        report.warn(f"--passcode with -n {req.count}: every device gets the same passcode")
    if req.offset < 0 or req.size <= 0:
        raise InvalidInput("--offset/--size", "must be an address and a positive size")
    if (req.dac_key is None) != (req.dac_cert is None):
        raise credentials.refused("dac_key and dac_cert should be both present or none")
    if req.dac_key is not None and not req.pai:
        raise credentials.refused("Please provide PAI certificate along with DAC certificate and DAC key")
    if req.dac_key is None and (req.paa or req.pai) and (req.key is None or req.cert is None):
        raise credentials.refused("CA key and certificate are required to generate DAC key and certificate")
    if req.dac_key is not None and req.cert is None:
        raise InvalidInput("-c", "--pai with --dac-cert/--dac-key needs the PAI certificate (-c)")
    if req.lifetime < 1:
        raise InvalidInput("-lt", "must be a positive number of days")
    if req.valid_from:
        attestation.parse_valid_from(req.valid_from, "--valid-from")
    mode, ca_scalar, ca_der, pai_der, fixed_dac = credentials.plan(req, report)
    cd_der = _certification_declaration(req, report)
    ctx = RunContext(req=req, serial_base=serial_base, mode=mode, ca_scalar=ca_scalar, ca_der=ca_der,
                     pai_der=pai_der, fixed_dac=fixed_dac, cd_der=cd_der, output=req.output,
                     output_abs=os.path.realpath(req.output))
    # what makes a run the same run: the options (not where it writes or how) and the input files
    identity = {k: v for k, v in req._asdict().items()
                if k not in ("output", "jobs", "quiet", "overwrite", "spake2_path", "chip_tool_path", "chip_cert_path")}
    for option in ("cert", "key", "dac_cert", "dac_key", "cert_dclrn"):
        path = getattr(req, option)
        if keys.is_token_uri(path):  # a key in a token: named without its PIN (the state must not reveal it)
            identity[option] = keys.display(path)
        elif path:
            identity[f"{option}_sha256"] = hashlib.sha256(read_bytes(path, option)).hexdigest()
    return ctx, identity


def _check_hex_text(option: str, text: str | None, lo: int, hi: int) -> None:
    if text is None:
        return
    if not lo <= len(text) <= hi or len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        size = f"{lo}" if lo == hi else f"{lo}..{hi} (an even number of)"
        raise InvalidInput(option, f"{text!r} is not {size} hex digits")


def _serial_base(req: TelinkRequest) -> int | None:
    """--serial-num read as the reference reads it (a hex number); the last device's serial must still fit."""
    if req.serial_num is None:
        return None
    if not 1 <= len(req.serial_num) <= SERIAL_MAX:
        raise InvalidInput("--serial-num", f"must be 1..{SERIAL_MAX} characters")
    try:
        base = int(req.serial_num, 16)
    except ValueError:
        raise InvalidInput("--serial-num", f"{req.serial_num!r} is not a hex number (serial numbers count up in "
                                           f"hex: 0123ABC, 0123ABD, ...)") from None
    last = format(base + req.count - 1, "x")
    if len(last) > SERIAL_MAX:
        raise InvalidInput("--serial-num", f"the last device's serial number {last} is longer than "
                                           f"{SERIAL_MAX} characters")
    return base


def _certification_declaration(req: TelinkRequest, report) -> bytes:
    """The CD, read and parsed (the device sends it to commissioners as it is stored)."""
    try:
        return cd.load_for(req.cert_dclrn, "-cd", req.vendor_id, req.product_id, report.warn)
    except InvalidInput as e:
        if not os.path.isfile(req.cert_dclrn):
            raise
        raise InvalidInput("-cd", f"is not a Certification Declaration ({e}); a CD signing certificate is not "
                                  f"a CD") from None


def _serial(ctx: RunContext, keyed, index: int) -> str:
    """The reference's serial numbers: hex, lower case, no leading zeros, counting up from the first."""
    base = ctx.serial_base
    if base is None:  # 16 random bytes: at most 32 hex digits, what the device's buffer holds
        base = int.from_bytes(keyed.derive("serial", 0, 16), "big")
    return format(base + index, "x")


def vid_pid_dir(vid: int, pid: int) -> str:
    """The reference's directory name: hex without leading zeros, e.g. fff1_8000."""
    return f"{vid:x}_{pid:x}"


def _device_dir(ctx: RunContext, sn: str) -> str:
    if ctx.req.in_tree:
        return ctx.output
    return os.path.join(ctx.output, vid_pid_dir(ctx.req.vendor_id, ctx.req.product_id), sn)


# ---------------------------------------------------------------- worker side

class _Worker(credentials.RunWorker):
    """A worker's state: the run's context, its key and the DAC template (made once per process)."""

    def __init__(self, ctx: RunContext):
        super().__init__(ctx, f"{ctx.req.cn_prefix} DAC", ctx.req.lifetime)


def _run_chunk(indices: list[int]) -> list[str]:
    return [_make_device(i) for i in indices]


def _make_device(index: int) -> str:
    """One device: its files staged in a private directory, then moved into place; returns its record."""
    w = worker()
    req, ctx, keyed = w.req, w.ctx, w.keyed
    sn = _serial(ctx, keyed, index)
    device, passcode = _device(index, sn)
    image = telink.encode(device, {"cd": ctx.cd_der, "size": req.size})
    payload = onboarding.SetupPayload(req.vendor_id, req.product_id, device.discriminator, passcode,
                                      flow=req.commissioning_flow, rendezvous=1 << req.discovery_mode)
    qr, manual = onboarding.qr_code(payload), onboarding.manual_code(payload)
    final = _device_dir(ctx, sn)
    final_abs = ctx.output_abs if req.in_tree else os.path.join(ctx.output_abs, os.path.relpath(final, ctx.output))
    stage = os.path.join(ctx.output, STAGING, sn)
    internal = os.path.join(stage, "internal")
    os.mkdir(stage, 0o755)
    os.mkdir(internal, 0o755)
    summary_files = _internal_files(internal, device, os.path.join(final_abs, "internal"))
    salt_b64 = base64.b64encode(device.spake2_salt).decode()
    verifier_b64 = base64.b64encode(device.spake2_verifier).decode()
    write_new(stage, "factory_data.bin", image, True)
    write_new(stage, "factory_data.hex", nrfconnect.to_intel_hex(image, req.offset), True)
    write_new(stage, "pin_disc.csv", (f"Index,PIN Code,Iteration Count,Salt,Verifier,Discriminator\n"
                                      f"0,{passcode},{req.spake2_it},{salt_b64},{verifier_b64},"
                                      f"{device.discriminator}\n").encode(), True)
    write_new(stage, "onb_codes.csv", (f"qrcode,manualcode,discriminator,passcode\n"
                                       f"{qr},{manual},{device.discriminator},{passcode}\n").encode(), True)
    write_new(stage, "qrcode.png", qr_png(qr, scale=6), True)
    summary = _summary(sn, device, passcode, salt_b64, verifier_b64, qr, manual, summary_files)
    write_new(stage, "summary.json", json.dumps(summary, indent=4).encode(), True)
    _move_into_place(stage, final, req.in_tree)
    return json.dumps({"sn": sn, "qr": qr, "manual": manual}) + "\n"


def _device(index: int, sn: str) -> tuple[FactoryData, int]:
    """The device's values: the options, and for what they leave open values derived from the run's key
    (so a resumed run makes the same device); unique passcodes and discriminators within the run."""
    w = worker()
    req, ctx, keyed = w.req, w.ctx, w.keyed
    passcode = req.passcode if req.passcode is not None else \
        passcode_from_rank(keyed.permute("passcode", index, PASSCODE_DOMAIN))
    if req.discriminator is not None:
        discriminator = req.discriminator
    else:  # unique while the run has at most 4096 devices, then as evenly spread as possible
        discriminator = keyed.permute("discriminator", index % 4096 if req.count > 4096 else index, 4096)
    salt = req.salt if req.salt is not None else keyed.derive("salt", index, 32)
    device = FactoryData(vendor_id=req.vendor_id, vendor_name=req.vendor_name, product_id=req.product_id,
                         product_name=req.product_name, hw_ver=req.hw_ver, hw_ver_str=req.hw_ver_str,
                         date=req.mfg_date, sn=sn, version=1, product_label=req.product_label,
                         product_url=req.product_url, part_number=req.part_number, discriminator=discriminator,
                         spake2_it=req.spake2_it, spake2_salt=salt,
                         spake2_verifier=spake2p.generate_verifier(passcode, salt, req.spake2_it), passcode=passcode)
    if req.enable_rotating_device_id:
        if req.rd_id_uid is not None:  # stored as the text typed, as the reference stores it
            device.rd_uid = bytes.fromhex(req.rd_id_uid)
            device.hex_text["rd_uid"] = req.rd_id_uid
        else:  # 16 random bytes, stored raw (as the reference stores a generated one)
            device.rd_uid = keyed.derive("rd_uid", index, 16)
    if req.enable_key is not None:
        device.enable_key = bytes.fromhex(req.enable_key)
        device.hex_text["enable_key"] = req.enable_key
    if ctx.mode is not None:
        if ctx.fixed_dac is not None:
            dac_der, scalar = ctx.fixed_dac
        else:
            scalar = int.from_bytes(keyed.derive("dac_key", index, 40), "big") % (P256_ORDER - 1) + 1
            serial = (int.from_bytes(keyed.derive("dac_serial", index, 8), "big") & (2**63 - 1)) or 1
            dac_der = w.template.issue(serial, attestation.public_point(scalar), deterministic=True,
                                       cn=f"{req.cn_prefix} DAC {index}")
        device.dac_cert, device.dac_key, device.pai_cert = dac_der, scalar.to_bytes(32, "big"), ctx.pai_der
    return device, passcode


def _internal_files(internal: str, device: FactoryData, final_internal: str) -> dict:
    """internal/: the DAC as DER and raw key/point, the PAI, PEM copies of what was issued; returns the paths
    summary.json names."""
    ctx = worker().ctx
    if ctx.mode is None:
        return {}
    scalar = int.from_bytes(device.dac_key, "big")
    point = attestation.public_point(scalar)
    write_new(internal, "DAC_cert.der", device.dac_cert, False)
    write_new(internal, "DAC_private_key.bin", device.dac_key, True)
    write_new(internal, "DAC_public_key.bin", point, False)
    write_new(internal, "pai_cert.der", ctx.pai_der, False)
    if ctx.fixed_dac is None:
        write_new(internal, "DAC_cert.pem", _pem("CERTIFICATE", device.dac_cert), False)
        write_new(internal, "DAC_key.pem", _pem("EC PRIVATE KEY", dac_template.key_der_from_scalar(scalar, point)),
                  True)
    if ctx.mode == "paa":
        write_new(internal, "pai_cert.pem", _pem("CERTIFICATE", ctx.pai_der), False)
    req = ctx.req
    pai = {"cert_pem": os.path.join(final_internal, "pai_cert.pem"), "key_pem": None} if ctx.mode == "paa" else \
        {"cert_pem": req.cert, "key_pem": keys.display(req.key) if req.key else None}
    return {"cert_pem": pai["cert_pem"], "cert_der": os.path.join(final_internal, "pai_cert.der"),
            "key_pem": pai["key_pem"], "dac_cert": os.path.join(final_internal, "DAC_cert.der"),
            "dac_priv_key": os.path.join(final_internal, "DAC_private_key.bin"),
            "dac_pub_key": os.path.join(final_internal, "DAC_public_key.bin")}


def _summary(sn: str, device: FactoryData, passcode: int, salt_b64: str, verifier_b64: str, qr: str, manual: str,
             files: dict) -> dict:
    """summary.json with the reference's keys, in its order and types."""
    req = worker().req
    out: dict = {"serial_num": sn, "vendor_id": hex(req.vendor_id), "product_id": hex(req.product_id)}
    if req.hw_ver is not None:
        out["hw_ver"] = req.hw_ver
    out.update(version=1, discriminator=str(device.discriminator), spake2_it=req.spake2_it, passcode=str(passcode),
               spake2_salt=salt_b64, spake2_verifier=verifier_b64, qrcode=qr, manualcode=manual)
    out.update(files)
    out["cert_dclrn"] = req.cert_dclrn
    return out


def _pem(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der).decode()
    return (f"-----BEGIN {label}-----\n" + "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
            + f"-----END {label}-----\n").encode()


def _move_into_place(stage: str, final: str, in_tree: bool) -> None:
    """A device's staged directory becomes its directory in one rename; --in-tree moves its entries into the
    output directory itself (replacing what a previous run left there)."""
    if not in_tree:
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.rename(stage, final)
        return
    for name in os.listdir(stage):
        target = os.path.join(final, name)
        if os.path.isdir(target) and not os.path.islink(target):
            remove_tree(target)
        os.replace(os.path.join(stage, name), target)
    os.rmdir(stage)
