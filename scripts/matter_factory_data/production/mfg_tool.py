"""``matter-factory-data esp32``: esp-matter-mfg-tool's options, output tree and file names, with its
defects fixed behind the same options (passcode range enforced, --discriminator 0 honoured, unique
discriminators and passcodes, encrypted CA keys with --pwd, --valid-from as documented, NVS keys from
``secrets`` or supplied with --nvs-key, no plaintext PAI key left in the tree).

Tree: <outdir>/<vid>_<pid>/<uuid>/<uuid>-partition.bin, -keys-partition.bin (-e), -onb_codes.csv,
-qrcode.png, internal/ (partition.csv, DAC_cert.der/.pem, DAC_key.der/.pem, DAC_private_key.bin,
DAC_public_key.bin, PAI_cert.der); staging/ (config.csv, master.csv, pin_disc.csv, pai_cert.der);
summary-<timestamp>.csv and cn_dacs-<timestamp>.csv.
"""

from __future__ import annotations

import base64
import csv
import datetime
import hashlib
import io
import json
import os
import secrets
import shutil
import struct
import tempfile
import uuid
import zlib
from typing import NamedTuple


from ..codes import onboarding
from ..codes.qrimage import qr_png
from ..crypto import attestation, cd, dac_template, keys, spake2p
from ..crypto.der import Certificate
from ..errors import InvalidInput, OperationFailed
from ..fileio import make_directories, read_bytes, remove_directories, write_atomic
from ..formats import esp32, esp_secure_cert
from ..model import PRODUCT_COLORS, PRODUCT_FINISHES, check_date, check_field
from ..requests import Esp32Request
from . import credentials
from .derive import P256_ORDER, PASSCODE_DOMAIN, Keyed, passcode_from_rank
from .engine import (Progress, worker, working, RunLock, complete_lines, csv_text, fresh_staging, job_count, produce,
                     read_state, sync_filesystem,
                     write_new)

FILE_KEYS = ("dac-cert", "dac-key", "dac-pub-key", "pai-cert", "cert-dclrn")
FINISHES = list(PRODUCT_FINISHES)  # esp-matter-mfg-tool's names are the model's, in enum order
COLORS = list(PRODUCT_COLORS)
CALENDARS = ["Buddhist", "Chinese", "Coptic", "Ethiopian", "Gregorian", "Hebrew", "Indian", "Islamic", "Japanese",
             "Korean", "Persian", "Taiwanese"]


def _csv_text(rows: list[list[str]], crlf: bool) -> bytes:
    return csv_text(rows, "\r\n" if crlf else "\n").encode()


def neutralise_cell(text: str) -> str:
    """A text cell of a summary CSV that a spreadsheet would read as a formula (=, +, -, @, tab, CR first)
    gets a leading apostrophe, as spreadsheet-injection guidance recommends. partition.csv, which only the
    NVS generator reads, keeps the values as they are."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def manual_code_text(code: str) -> str:
    """The reference's grouping: DDDD-DDD-DDDD, and for 21 digits a second line DDDD-DDD-DD-D."""
    short = f"{code[:4]}-{code[4:7]}-{code[7:11]}"
    if len(code) == 11:
        return short
    return f"{code[:4]}-{code[4:7]}-{code[7:11]}\n{code[11:15]}-{code[15:18]}-{code[18:20]}-{code[20]}"


def parse_valid_from(text: str) -> datetime.datetime:
    t = text.strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(t, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            pass
    raise InvalidInput("--valid-from", f"{text!r} is not <YYYY>-<MM>-<DD> [<HH>:<MM>:<SS>]")


def list_entries(req: Esp32Request) -> list[tuple[str, str, object]]:
    """The calendar/locale/fixed-label/supported-mode keys, in the reference's order."""
    out: list[tuple[str, str, object]] = []
    if req.calendar_types:
        mask = 0
        for name in req.calendar_types:
            if name not in CALENDARS:
                raise InvalidInput("--calendar-types", f"{name!r} is not one of {', '.join(CALENDARS)}")
            mask |= 1 << CALENDARS.index(name)
        out.append(("cal-types", "u32", mask))
    if req.locales:
        out.append(("locale-sz", "u32", len(req.locales)))
        out += [(f"locale/{i:x}", "string", loc) for i, loc in enumerate(req.locales)]
    if req.fixed_labels:
        per_ep: dict[int, list[tuple[str, str]]] = {}
        for item in req.fixed_labels:
            parts = item.split("/")
            if len(parts) != 3 or not all(parts):
                raise InvalidInput("--fixed-labels", f"{item!r} is not <endpoint hex>/<label>/<value>")
            ep, label, value = parts
            if len(label) > 15 or len(value) > 15:
                raise InvalidInput("--fixed-labels", f"{item!r}: label and value are at most 15 characters")
            per_ep.setdefault(int(ep, 16), []).append((label, value))
        for ep, items in per_ep.items():
            out.append((f"fl-sz/{ep:x}", "u32", len(items)))
            for i, (label, value) in enumerate(items):
                out += [(f"fl-k/{ep:x}/{i:x}", "string", label), (f"fl-v/{ep:x}/{i:x}", "string", value)]
    if req.supported_modes:
        per_ep2: dict[int, list] = {}
        for item in req.supported_modes:
            parts = item.split("/", 3)
            if len(parts) < 3:
                raise InvalidInput("--supported-modes", f"{item!r} is not <mode>/<label>/<endpoint>[/<tags>]")
            tags = []
            if len(parts) == 4 and parts[3]:
                for tag in parts[3].split(","):
                    v, _, mfg = tag.strip().partition("\\")
                    tags.append((int(v, 0), int(mfg, 0) if mfg else 0))
            per_ep2.setdefault(int(parts[2], 16), []).append((int(parts[0], 0), parts[1], tags))
        for ep, items in per_ep2.items():
            out.append((f"sm-sz/{ep:x}", "u32", len(items)))
            for i, (mode, label, tags) in enumerate(items):
                out += [(f"sm-label/{ep:x}/{i:x}", "string", label), (f"sm-mode/{ep:x}/{i:x}", "u32", mode),
                        (f"sm-st-sz/{ep:x}/{i:x}", "u32", len(tags))]
                for j, (v, mfg) in enumerate(tags):
                    out += [(f"st-v/{ep:x}/{i:x}/{j:x}", "u32", v), (f"st-mfg/{ep:x}/{i:x}/{j:x}", "u32", mfg)]
    return out


def _user_csv(req: Esp32Request) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """(schema: (namespace, key, encoding), one values dict per device) from --csv/--mcsv."""
    if bool(req.csv) != bool(req.mcsv):
        raise InvalidInput("--csv/--mcsv", "give both or neither")
    if not req.csv:
        return [], []
    schema, ns = [], esp32.NAMESPACE
    for line_no, row in enumerate(csv.reader(read_bytes(req.csv, "--csv").decode().splitlines()), start=1):
        if not row or not row[0].strip():
            continue
        name, typ = row[0].strip(), (row[1].strip() if len(row) > 1 else "")
        if typ == "namespace":
            ns = name
            continue
        if typ not in ("data", "file") or len(row) < 3:
            raise InvalidInput(f"{req.csv}:{line_no}", "rows are key,type,encoding (type data or file) or name,namespace,")
        enc = row[2].strip()
        if enc not in ("string", "binary", "hex2bin", "base64", "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"):
            raise InvalidInput(f"{req.csv}:{line_no}", f"unknown encoding {enc!r}")
        if len(name) > 15:
            raise InvalidInput(f"{req.csv}:{line_no}", f"key {name!r} is longer than 15 characters")
        schema.append((ns, name, enc if typ == "data" else "binary:file"))
    values = list(csv.DictReader(io.StringIO(read_bytes(req.mcsv, "--mcsv").decode())))
    for i, row in enumerate(values, start=2):
        for ns_, key, _ in schema:
            if key not in row:
                raise InvalidInput(f"{req.mcsv}:{i}", f"no value for {key!r}")
    return schema, values


STATE = ".matter-factory-data-esp32.json"
JOURNAL = ".matter-factory-data-esp32.rows"
LOCK = ".matter-factory-data-esp32.lock"
DEVICE_STAGING = ".staging"
DS_TARGETS = ("esp32h2", "esp32p4", "esp32c5", "esp32c61", "esp32s31")


class RunContext(NamedTuple):
    """Everything a run's workers need, checked: the request and what was read and decided from it."""

    req: Esp32Request
    count: int
    schema: list  # the user --csv keys: (namespace, key, encoding)
    mrows: list  # their decoded values, one dict per device
    extra_nvs: list  # chip-factory entries from the list options (calendars, locales, labels, modes)
    rd_uid_fixed: bytes | None
    mode: str | None  # "paa", "pai" or None (no attestation data)
    ca_scalar: int | None
    ca_der: bytes | None
    pai_der: bytes | None
    fixed_dac: tuple | None  # (DER, scalar) of a supplied DAC
    cd_der: bytes | None
    nvs_key: bytes | None
    out_root: str
    out_root_abs: str
    secure: bool  # an esp_secure_cert partition is made
    efuse_key_id: int | None
    secure_commissionable: bool  # the commissionable data go into esp_secure_cert
    key: bytes = b""  # the run's key (set when the run starts or resumes)
    valid_from: datetime.datetime | None = None  # the DACs' notBefore


def run(req: Esp32Request, report) -> dict:
    """Produce the devices (or finish an interrupted run of the same command); returns the summary path, the
    number of devices of the run and how many this invocation made."""
    ctx, identity = _plan(req, report)
    out_root = ctx.out_root
    state_path = os.path.join(out_root, STATE)
    journal_path = os.path.join(out_root, JOURNAL)
    fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    state = read_state(state_path)
    if state is not None and state.get("fingerprint") != fingerprint:
        raise OperationFailed(f"{out_root} holds an unfinished run with other options: run that command again to "
                              f"finish it, or delete {state_path} to abandon it")
    fresh = state is None
    if state is None:
        state = {"fingerprint": fingerprint, "key": secrets.token_bytes(32).hex(),
                 "started": datetime.datetime.now().isoformat(),
                 "started_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}
    else:
        report.info(f"finishing the interrupted run in {out_root}")
    key = bytes.fromhex(state["key"])
    keyed = Keyed(key)
    count = ctx.count
    ctx = ctx._replace(key=key, valid_from=parse_valid_from(req.valid_from) if req.valid_from else
                       datetime.datetime.fromisoformat(state["started_utc"]))
    # the CA that signs the DACs: a PAI generated once per run (--paa) is kept in the state until the run ends;
    # it starts when the DACs do (one instant, not two readings of the clock a second apart)
    if ctx.mode == "paa":
        if "pai_der" not in state:
            state["pai_der"] = credentials.generate_pai(keyed, ctx.ca_scalar, ctx.ca_der, f"{req.cn_prefix} PAI 00",
                                                        req.vendor_id, req.product_id, ctx.valid_from,
                                                        req.lifetime + 1).hex()
        ctx = ctx._replace(pai_der=bytes.fromhex(state["pai_der"]), ca_scalar=credentials.pai_scalar(keyed))
    if ctx.mode is not None:
        _check_signing_window(ctx)
    # the first device, made in memory: a bad option fails here, before anything is written
    _probe(ctx)
    made = make_directories(out_root)
    try:
        lock = RunLock(out_root, LOCK, "esp32 run")
    except OperationFailed:
        remove_directories(made)
        raise
    try:
        return _run_checked(req, report, ctx, state, fresh, keyed, count, out_root, state_path, journal_path)
    except InvalidInput:
        if fresh and not (os.path.exists(journal_path) and complete_lines(journal_path)):
            # a fresh run refused before it finished a device: leave the output directory as it was
            for path in (state_path, journal_path):
                if os.path.exists(path):
                    os.remove(path)
            for d in (os.path.join(out_root, DEVICE_STAGING), os.path.join(out_root, "staging")):
                shutil.rmtree(d, ignore_errors=True)
            lock.release()
            remove_directories(made)
        raise
    finally:
        lock.release()


def _probe(ctx: RunContext) -> None:
    """Make the first device in a private temporary directory and throw it away: every per-device rule
    (names, dates, sizes, certificates) is then checked before the run writes anything of its own."""
    with tempfile.TemporaryDirectory(prefix="mfd-esp32-check-") as tmp:
        os.mkdir(os.path.join(tmp, DEVICE_STAGING), 0o700)
        probe = ctx._replace(out_root=tmp, out_root_abs=tmp)
        with working(_Worker, probe):
            _make_device(0)


def _run_checked(req: Esp32Request, report, ctx, state, fresh, keyed, count, out_root, state_path, journal_path) -> dict:
    if fresh and os.path.exists(journal_path):
        os.remove(journal_path)
    write_atomic(state_path, (json.dumps(state, indent=1) + "\n").encode(), secret=True)

    staging = os.path.join(out_root, "staging")
    os.makedirs(staging, exist_ok=True)
    if ctx.pai_der is not None:
        write_atomic(os.path.join(staging, "pai_cert.der"), ctx.pai_der)
    if ctx.mode == "paa":  # the generated PAI, as the reference leaves it (but not its key: see the README)
        write_atomic(os.path.join(staging, "pai_cert.pem"), _pem("CERTIFICATE", ctx.pai_der))
    if not os.path.exists(journal_path):
        fd = os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    done = complete_lines(journal_path)
    device_staging = fresh_staging(os.path.join(out_root, DEVICE_STAGING))
    if not fresh:  # devices written but not yet recorded are made again, identically
        present = set(os.listdir(out_root))
        for i in range(done, count):
            name = device_uuid(keyed, i, ctx)
            if name in present:
                shutil.rmtree(os.path.join(out_root, name))

    jobs = job_count(req.jobs, count - done)
    produce(_Worker, ctx, _run_chunk, done=done, count=count, jobs=jobs, record_path=journal_path,
            sync_root=out_root, progress=Progress(count, done, req.log_level == "error", label="esp32",
                                  signing=keys.display(req.key) if req.pai and keys.is_token_uri(req.key) else None))
    summary, cn_dacs = _write_reports(req, ctx, journal_path, state)
    with open(journal_path, encoding="utf-8") as f:
        device_dirs = [os.path.join(out_root, json.loads(text)["d"]) for text in f]
    shutil.rmtree(device_staging, ignore_errors=True)
    os.remove(state_path)  # the run is complete: its key is no longer needed
    os.remove(journal_path)
    sync_filesystem(out_root)
    return {"summary": summary, "cn_dacs": cn_dacs, "device_dirs": device_dirs, "devices": count,
            "new": count - done}


def _plan(req: Esp32Request, report) -> tuple[RunContext, dict]:
    """Every check of the command line and its inputs, before anything is written; returns the context the
    workers need and what identifies this run (for resuming it)."""
    vid, pid = req.vendor_id, req.product_id
    _check_ranges(req)
    schema, mrows = _user_csv(req)
    count = len(mrows) if mrows else req.count
    single = [o for o, v in (("--passcode", req.passcode), ("--discriminator", req.discriminator),
                             ("--dac-key", req.dac_key), ("--serial-num", req.serial_num),
                             ("--rd-id-uid", req.rd_id_uid), ("--salt", req.salt), ("--verifier", req.verifier))
              if v is not None]
    if single and count != 1:
        raise InvalidInput(single[0], f"fixes a per-device value: use -n 1 (got {count})")
    if count < 1:
        raise InvalidInput("-n", "must be at least 1")
    if req.size % 4096:
        raise InvalidInput("--size", f"0x{req.size:x} is not a multiple of 4096")
    secure, efuse_key_id = _secure_cert_options(req)
    rd_uid_fixed = _check_commissionable(req)
    extra_nvs = list_entries(req)
    _check_texts(req)
    if req.valid_from:
        parse_valid_from(req.valid_from)
    decoded_rows = _decoded_rows(req, schema, mrows)
    mode, ca_scalar, ca_der, pai_der, fixed_dac = credentials.plan(req, report, req.pwd.encode() if req.pwd else None)
    cd_der = _certification_declaration(req, report)
    nvs_key = _nvs_key(req) if req.encrypt and req.nvs_key else None

    out_root = os.path.join(req.outdir, f"{vid:x}_{pid:x}")
    ctx = RunContext(
        out_root_abs=os.path.abspath(out_root), req=req, count=count, schema=schema, mrows=decoded_rows,
        extra_nvs=extra_nvs, rd_uid_fixed=rd_uid_fixed, mode=mode, ca_scalar=ca_scalar, ca_der=ca_der,
        pai_der=pai_der, fixed_dac=fixed_dac, cd_der=cd_der, nvs_key=nvs_key, out_root=out_root, secure=secure,
        efuse_key_id=efuse_key_id, secure_commissionable=secure and req.commissionable_data_in_secure_cert)
    # what makes a run the same run: the options (not where it writes or how loudly) and the input files
    identity = {k: v for k, v in req._asdict().items() if k not in ("outdir", "log_level", "jobs", "pwd")}
    for option in ("cert", "key", "dac_cert", "dac_key", "cert_dclrn", "csv", "mcsv", "nvs_key"):
        path = getattr(req, option, None)
        if keys.is_token_uri(path):  # a key in a token: named without its PIN (the state must not reveal it)
            identity[option] = keys.display(path)
        elif path:
            identity[f"{option}_sha256"] = hashlib.sha256(read_bytes(path, option)).hexdigest()
    identity["count"] = count
    return ctx, identity


def _check_ranges(req: Esp32Request) -> None:
    vid, pid = req.vendor_id, req.product_id
    for option, value in (("--vendor-id", vid), ("--product-id", pid), ("--hw-ver", req.hw_ver)):
        if value is not None and not 0 <= value <= 0xFFFF:
            raise InvalidInput(option, f"{value} does not fit 16 bits (0..65535)")
    for option, value, low, high in (("-n", req.count, 1, 10_000_000), ("-s", req.size, 0x3000, 1 << 32),
                                     ("--jobs", req.jobs, 1, 1024), ("-cf", req.commissioning_flow, 0, 2),
                                     ("-dm", req.discovery_mode, 0, 255), ("-lt", req.lifetime, 1, 3_000_000)):
        if value is not None and not low <= value <= high:
            raise InvalidInput(option, f"{value} is outside {low}..{high}")


def _secure_cert_options(req: Esp32Request) -> tuple[bool, int | None]:
    """Whether an esp_secure_cert partition is made, and the DS peripheral's eFuse key block."""
    secure = not req.no_secure_cert_bin and (req.dac_in_secure_cert or req.commissionable_data_in_secure_cert
                                              or req.rd_id_uid_in_secure_cert)
    if not req.no_secure_cert_bin and (req.commissionable_data_in_secure_cert or req.rd_id_uid_in_secure_cert) \
            and not (req.dac_in_secure_cert and req.commissionable_data_in_secure_cert
                     and req.rd_id_uid_in_secure_cert):
        raise _refused("If --commissionable-data-in-secure-cert or --rd-id-uid-in-secure-cert is provided, then "
                       "--dac-in-secure-cert, --commissionable-data-in-secure-cert, and --rd-id-uid-in-secure-cert "
                       "are mandatory")
    if secure and not (req.paa or req.pai):
        raise InvalidInput("--dac-in-secure-cert", "needs attestation data: --pai or --paa with -c/-k")
    if secure and req.commissionable_data_in_secure_cert and req.enable_dynamic_passcode:
        raise InvalidInput("--commissionable-data-in-secure-cert", "needs a verifier (not --enable-dynamic-passcode)")
    if req.port and req.count != 1:
        raise _refused("Port not specified or number of partitions count is greater than 1")
    efuse_key_id = None
    if req.ds_peripheral:
        if req.efuse_key_id == -1:
            raise _refused("--efuse-key-id <value> is required when -ds or --ds-peripheral option is used")
        if not 0 <= req.efuse_key_id <= 5:
            raise InvalidInput("--efuse-key-id", "give the eFuse key block for the DS peripheral, 0..5")
        if req.target not in DS_TARGETS:
            raise InvalidInput("--target", f"{req.target!r} has no ECDSA DS peripheral (use one of "
                                           f"{', '.join(DS_TARGETS)})")
        if secure and req.port:  # the reference burns the eFuse through esp-secure-cert-tool here
            raise _refused("ERROR: esp-secure-cert-tool exited with error: this tool does not burn eFuses "
                           "(--port); leave out --port and burn the DAC key with espefuse.py burn_key "
                           "BLOCK_KEY<id> internal/DAC_key.pem ECDSA_KEY")
        if secure:  # without --dac-in-secure-cert the DAC key stays in NVS and -ds has no effect, as upstream
            efuse_key_id = req.efuse_key_id
    return secure, efuse_key_id


_refused = credentials.refused


def _check_commissionable(req: Esp32Request) -> bytes | None:
    """The SPAKE2+ and onboarding options; returns the fixed rotating device ID unique ID, if any."""
    if req.passcode is not None:
        spake2p.check_passcode(req.passcode, "--passcode")
    if req.discriminator is not None:
        check_field("discriminator", req.discriminator, "--discriminator")
    if not spake2p.MIN_ITERATIONS <= req.iteration_count <= spake2p.MAX_ITERATIONS:
        raise _refused(f"--iteration-count must be between {spake2p.MIN_ITERATIONS} and {spake2p.MAX_ITERATIONS}")
    if req.salt is not None or req.verifier is not None:
        if req.salt is None or req.verifier is None:
            raise _refused("--salt and --verifier must be provided together")
        if req.passcode is None:
            raise _refused("--passcode is required when --salt and --verifier are provided")
        if req.enable_dynamic_passcode:
            raise _refused("--salt and --verifier cannot be used with --enable-dynamic-passcode")
        spake2p.check_salt(req.salt, "--salt")
        if spake2p.generate_verifier(req.passcode, req.salt, req.iteration_count) != req.verifier:
            raise _refused("Verifier validation failed: the provided verifier does not match the computed "
                           "verifier from passcode and salt")
    if req.commissioning_flow not in (0, 1, 2):
        raise InvalidInput("--commissioning-flow", "must be 0, 1 or 2")
    if not 0 < req.discovery_mode <= 0x3E or req.discovery_mode & ~0x3E:
        raise InvalidInput("--discovery-mode", f"{req.discovery_mode} is not a valid discovery bitmask (bits 1-5)")
    if req.serial_num is not None and not 1 <= len(req.serial_num) <= 32:
        raise InvalidInput("--serial-num", "must be 1..32 characters")
    rd_uid_fixed = None
    if req.rd_id_uid is not None:
        try:
            rd_uid_fixed = bytes.fromhex(req.rd_id_uid)
        except ValueError:
            raise InvalidInput("--rd-id-uid", "is not a hex string") from None
        if len(rd_uid_fixed) != 16:
            raise InvalidInput("--rd-id-uid", "must be 32 hex digits (16 bytes)")
    if req.mfg_date is not None:
        d = req.mfg_date
        if not (len(d) in (8, 10, 16, 18) and d[:4].isdigit()):
            raise InvalidInput("--mfg-date", f"{d!r} is not YYYY-MM-DD or YYYYMMDD (plus up to 8 vendor characters)")
        day = d[:10] if len(d) in (10, 18) else f"{d[:4]}-{d[4:6]}-{d[6:8]}"
        check_date(day, "--mfg-date")
    return rd_uid_fixed


def _check_texts(req: Esp32Request) -> None:
    for name, value, limit in (("--vendor-name", req.vendor_name, 32), ("--product-name", req.product_name, 32),
                               ("--hw-ver-str", req.hw_ver_str, 64), ("--part-number", req.part_number, 32),
                               ("--product-label", req.product_label, 64), ("--product-url", req.product_url, 256)):
        if value is not None and not 1 <= len(value.encode()) <= limit:
            raise InvalidInput(name, f"must be 1..{limit} bytes")
    if req.valid_from:
        parse_valid_from(req.valid_from)


def _decoded_rows(req: Esp32Request, schema, mrows) -> list[dict]:
    """The user --csv values, decoded here so a bad row stops the run before anything is written."""
    decoded_rows = []
    for i, row in enumerate(mrows, start=2):
        values = {}
        for ns, key, enc in schema:
            raw = row.get(key, "")
            try:
                if enc == "binary:file":
                    values[(ns, key)] = (read_bytes(raw, f"--mcsv {key}"), "binary")
                elif enc in ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"):
                    values[(ns, key)] = (int(raw, 0), enc)
                elif enc == "hex2bin":
                    values[(ns, key)] = (bytes.fromhex(raw), "binary")
                elif enc == "base64":
                    values[(ns, key)] = (base64.b64decode(raw, validate=True), "binary")
                else:
                    values[(ns, key)] = (raw, enc)
            except (ValueError, base64.binascii.Error):
                raise InvalidInput(f"{req.mcsv}:{i}: {key}", f"{raw!r} is not valid {enc}") from None
        decoded_rows.append(values)
    return decoded_rows


def _certification_declaration(req: Esp32Request, report) -> bytes | None:
    """The CD, read and parsed. One for another product is stored as the reference stores it, with a warning:
    commissioners will reject the devices' attestation until it is replaced."""
    if not req.cert_dclrn:
        return None
    return cd.load_for(req.cert_dclrn, "--cert-dclrn", req.vendor_id, req.product_id, report.warn)


def _check_signing_window(ctx) -> None:
    if ctx.fixed_dac is None:
        credentials.check_signing_window(ctx.pai_der, ctx.valid_from, ctx.req.lifetime + 1)


def device_uuid(keyed, index: int, ctx: RunContext) -> str:
    """The device's folder name: a random-looking version 4 UUID derived from the run's key."""
    if ctx.fixed_dac is not None:
        cn = Certificate(ctx.fixed_dac[0]).subject.get("2.5.4.3")
        if cn:
            try:
                return str(uuid.UUID(cn[0]))
            except ValueError:
                pass
    return str(uuid.UUID(bytes=keyed.derive("uuid", index, 16), version=4))


# ---------------------------------------------------------------- worker side

class _Worker(credentials.RunWorker):
    """A worker's state: the run's context, its key and the DAC template (made once per process)."""

    def __init__(self, ctx: RunContext):
        super().__init__(ctx, "-", ctx.req.lifetime + 1)




def _run_chunk(indices: list[int]) -> list[str]:
    return [_make_device(i) for i in indices]


def _values_for(index: int) -> dict:
    """The device's random values, derived from the run's key (so a resumed run makes the same device)."""
    w = worker()
    req, keyed = w.req, w.keyed
    count = w.ctx.count
    if req.passcode is not None:
        passcode = req.passcode
    else:
        passcode = passcode_from_rank(keyed.permute("passcode", index, PASSCODE_DOMAIN))
    if req.discriminator is not None:
        disc = req.discriminator
    else:  # unique while the run has at most 4096 devices, then as evenly spread as possible
        disc = keyed.permute("discriminator", index % 4096 if count > 4096 else index, 4096)
    need_dac = w.ctx.mode is not None and w.ctx.fixed_dac is None
    return dict(
        passcode=passcode, discriminator=disc,
        salt=req.salt if req.salt is not None else keyed.derive("salt", index, 32),
        serial=req.serial_num if req.serial_num is not None else keyed.derive("serial", index, 16).hex(),
        rd_uid=w.ctx.rd_uid_fixed or (keyed.derive("rd_uid", index, 16) if req.enable_rotating_device_id
                                     or w.ctx.secure_commissionable else None),
        dac_scalar=int.from_bytes(keyed.derive("dac_key", index, 40), "big") % (P256_ORDER - 1) + 1 if need_dac else None,
        dac_serial=(int.from_bytes(keyed.derive("dac_serial", index, 8), "big") & (2**63 - 1)) or 1 if need_dac else None,
        nvs_key=(w.ctx.nvs_key or keyed.derive("nvs_key", index, 64)) if req.encrypt else None,
        random=(keyed.derive("secure_cert_random1", index, 32), keyed.derive("secure_cert_random2", index, 32))
        if w.ctx.secure_commissionable else None,
    )


def _make_device(index: int) -> str:
    """One device of the run: its files, staged then renamed into place; returns its journal line."""
    w = worker()
    req = w.req
    vid, pid = req.vendor_id, req.product_id
    out_root = w.ctx.out_root
    dev_uuid = device_uuid(w.keyed, index, w.ctx)
    final_dir = os.path.join(out_root, dev_uuid)
    internal = os.path.join(w.ctx.out_root_abs, dev_uuid, "internal")
    staging = os.path.join(w.ctx.out_root_abs, "staging")
    r = _values_for(index)
    passcode, disc, salt = r["passcode"], r["discriminator"], r["salt"]
    verifier = None if req.enable_dynamic_passcode else spake2p.generate_verifier(passcode, salt,
                                                                                   req.iteration_count)
    in_secure = w.ctx.secure_commissionable
    rd_uid = r["rd_uid"] if req.enable_rotating_device_id or in_secure else None
    values = dict(discriminator=None if in_secure else disc,
                  iteration_count=None if in_secure else req.iteration_count, salt=None if in_secure else salt,
                  vendor_id=vid, vendor_name=req.vendor_name, product_id=pid, product_name=req.product_name,
                  hw_ver=req.hw_ver, hw_ver_str=req.hw_ver_str, date=req.mfg_date,
                  rd_uid=None if in_secure else rd_uid,
                  product_finish=FINISHES.index(req.product_finish) if req.product_finish else None,
                  product_color=COLORS.index(req.product_color) if req.product_color else None,
                  part_number=req.part_number, serial=r["serial"], verifier=None if in_secure else verifier,
                  cd=w.ctx.cd_der, product_label=req.product_label, product_url=req.product_url)
    files, cn_row, secure_bin = _attestation_files(r, dev_uuid, values, disc, verifier, salt, rd_uid)
    namespaces, disc = _namespaces(index, values, disc)
    paths = _file_paths(internal, staging, req.cert_dclrn)
    d = os.path.join(out_root, DEVICE_STAGING, dev_uuid)
    qr, manual = _write_device(d, dev_uuid, r, namespaces, paths, files, secure_bin, disc, passcode)
    os.rename(d, final_dir)
    flat = [(k, e, v) for _, items in namespaces for k, e, v in items]
    master_row = [_csv_value(k, v, paths) for k, _, v in flat]
    pin_row = [str(index), str(passcode), str(req.iteration_count), base64.b64encode(salt).decode(),
               base64.b64encode(verifier).decode(), str(disc)] if verifier is not None else \
        [str(index), str(req.iteration_count), base64.b64encode(salt).decode(), str(disc)]
    summary_row = master_row + ([str(passcode), qr, manual_code_text(manual)] if qr else [])
    if in_secure:
        summary_row += [str(disc), str(req.iteration_count), base64.b64encode(salt).decode(), rd_uid.hex()]
    line = {"m": master_row, "p": pin_row, "s": summary_row, "c": cn_row, "d": dev_uuid}
    if index == 0:
        line["layout"] = _layout(namespaces, w.ctx.schema)
    return json.dumps(line) + "\n"


def _attestation_files(r: dict, dev_uuid: str, values: dict, disc: int, verifier, salt: bytes, rd_uid) -> tuple:
    """The device's DAC (issued, or the supplied one) and its files, the cn_dacs row, the esp_secure_cert
    partition; puts the DAC into ``values`` when NVS holds it."""
    w = worker()
    req = w.req
    secure, in_secure = w.ctx.secure, w.ctx.secure_commissionable
    files: dict = {}
    cn_row = None
    secure_bin = None
    if w.ctx.mode is not None:
        dac_der, scalar = w.ctx.fixed_dac if w.ctx.fixed_dac is not None else (None, r["dac_scalar"])
        point = attestation.public_point(scalar)
        if w.ctx.fixed_dac is None:
            dac_der = w.template.issue(r["dac_serial"], point, deterministic=True, cn=dev_uuid)
        key_der = dac_template.key_der_from_scalar(scalar, point)
        if not secure:
            values.update(dac_cert=dac_der, dac_key=scalar.to_bytes(32, "big"), dac_pub_key=point,
                          pai_cert=w.ctx.pai_der)
        dac_pem = _pem("CERTIFICATE", dac_der)
        files = {"DAC_cert.der": (dac_der, False)}
        if w.ctx.fixed_dac is None:  # with --dac-cert/--dac-key the reference writes no PEM copies
            files["DAC_cert.pem"] = (dac_pem, False)
        files["DAC_key.der"] = (key_der, True)
        if w.ctx.fixed_dac is None:
            files["DAC_key.pem"] = (_pem("PRIVATE KEY", dac_template.pkcs8_der_from_scalar(scalar, point)), True)
        files.update({"DAC_private_key.bin": (scalar.to_bytes(32, "big"), True),
                      "DAC_public_key.bin": (point, False), "PAI_cert.der": (w.ctx.pai_der, False)})
        cn = (_subject_cn(dac_der) if w.ctx.fixed_dac is not None else dev_uuid) or dev_uuid
        cn_row = [neutralise_cell(cn), dac_pem.decode()]  # a supplied DAC's CN is text a spreadsheet may run
        if secure:
            commissionable = None
            if in_secure:
                commissionable = dict(discriminator=disc, verifier=verifier, salt=salt,
                                      iteration_count=req.iteration_count, rd_uid=rd_uid,
                                      random1=r["random"][0], random2=r["random"][1])
            secure_bin = esp_secure_cert.partition(dac_der, w.ctx.pai_der, key_der, efuse_key_id=w.ctx.efuse_key_id,
                                                   commissionable=commissionable)
    return files, cn_row, secure_bin


def _namespaces(index: int, values: dict, disc: int) -> tuple[list, int]:
    """The NVS namespaces: chip-factory (with the user --csv keys in place or appended), the others after.
    Returns them and the discriminator (a --csv override of it is what the codes carry)."""
    w = worker()
    req = w.req
    # user --csv keys: chip-factory ones in place or appended, other namespaces after
    entries = esp32.chip_factory_entries(values)
    namespaces = [(esp32.NAMESPACE, entries)]
    row_values = w.ctx.mrows[index] if w.ctx.mrows else {}
    for ns, key, enc in w.ctx.schema:
        value, enc = row_values[(ns, key)]
        target = next((items for name, items in namespaces if name == ns), None)
        if target is None:
            target = []
            namespaces.append((ns, target))
        existing = [i for i, e in enumerate(target) if e[0] == key]
        if existing:
            target[existing[0]] = (key, enc, value)
            if ns == esp32.NAMESPACE and key == "discriminator":
                disc = int(value)  # the QR and manual codes follow the override
        else:
            pos = next((i for i, e in enumerate(target) if e[0] in ("product-label", "product-url")), len(target))
            target.insert(pos, (key, enc, value))
    if w.ctx.extra_nvs:
        pos = next((i for i, e in enumerate(entries) if e[0] in ("product-label", "product-url")), len(entries))
        entries[pos:pos] = w.ctx.extra_nvs
    if req.mqtt_host:
        namespaces.insert(1, ("rmaker_creds", [("mqtt_host", "string", req.mqtt_host)]))
    return namespaces, disc


def _write_device(d: str, dev_uuid: str, r: dict, namespaces, paths: dict, files: dict, secure_bin, disc: int,
                  passcode: int) -> tuple[str, str]:
    """The device's staged directory; returns its QR and manual codes ("" without onboarding codes)."""
    req = worker().req
    vid, pid = req.vendor_id, req.product_id
    di = os.path.join(d, "internal")
    os.mkdir(d, 0o755)
    os.mkdir(di, 0o755)
    if not req.no_bin:
        if req.encrypt:
            nvs_key = r["nvs_key"]
            image = esp32.partition(namespaces, req.size, nvs_key)
            keys_part = nvs_key + struct.pack("<I", zlib.crc32(nvs_key, 0xFFFFFFFF) & 0xFFFFFFFF)
            keys_part += b"\xff" * (4096 - len(keys_part))
            write_new(d, f"{dev_uuid}-keys-partition.bin", keys_part, True)
        else:
            image = esp32.partition(namespaces, req.size)
        write_new(d, f"{dev_uuid}-partition.bin", image, True)
    if secure_bin is not None:
        write_new(d, f"{dev_uuid}_esp_secure_cert.bin", secure_bin, True)
    for name, (data, secret) in files.items():
        write_new(di, name, data, secret)
    write_new(di, "partition.csv", _partition_csv(namespaces, paths), True)
    qr = manual = ""
    if not req.enable_dynamic_passcode:
        payload = onboarding.SetupPayload(vid, pid, disc, passcode, flow=req.commissioning_flow,
                                          rendezvous=req.discovery_mode)
        qr, manual = onboarding.qr_code(payload), onboarding.manual_code(payload)
        write_new(d, f"{dev_uuid}-onb_codes.csv",
                  _csv_text([["qrcode", "manualcode", "discriminator", "passcode"],
                             [qr, manual_code_text(manual), str(disc), str(passcode)]], False), True)
        # the mask the penalty rules choose, as the reference's QR library does: the same pixels
        write_new(d, f"{dev_uuid}-qrcode.png", qr_png(qr, scale=6), True)
    return qr, manual


def _layout(namespaces, schema) -> dict:
    """The CSV header and config.csv rows (the same for every device of a run)."""
    flat = [(k, e, v) for _, items in namespaces for k, e, v in items]
    config_rows = []
    declared = {(ns_, key): enc for ns_, key, enc in schema}
    for ns, items in namespaces:
        config_rows.append([ns, "namespace", ""])
        for k, e, v in items:
            enc = declared.get((ns, k))
            if k in FILE_KEYS or enc == "binary:file":
                config_rows.append([k, "file", "binary"])
            elif enc is not None:
                config_rows.append([k, "data", enc])
            else:
                config_rows.append([k, "data", "hex2bin" if isinstance(v, bytes) else e])
    return {"header": [k for k, _, _ in flat], "config": config_rows}


def _pem(label: str, der: bytes) -> bytes:
    """PEM as cryptography writes it: 64-character Base64 lines, LF."""
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def _subject_cn(der: bytes) -> str | None:
    cn = Certificate(der).subject.get("2.5.4.3")
    return cn[0] if cn else None


def _write_reports(req: Esp32Request, ctx: RunContext, journal_path: str, state: dict) -> tuple[str, str]:
    """staging/config.csv, master.csv, pin_disc.csv, the summary and cn_dacs CSVs, in one pass over the
    journal (memory does not grow with the number of devices); each file is synced and renamed into place."""
    out_root, staging = ctx.out_root, os.path.join(ctx.out_root, "staging")
    started = datetime.datetime.fromisoformat(state["started"])
    with open(journal_path, encoding="utf-8") as f:
        layout = json.loads(f.readline())["layout"]
    header = layout["header"]
    summary_header = header + (["pincode", "qrcode", "manualcode"] if not req.enable_dynamic_passcode else [])
    if ctx.secure_commissionable:
        summary_header += ["discriminator", "iteration-count", "salt", "rd-id-uid"]
    pin_header = ["Index", "PIN Code", "Iteration Count", "Salt", "Verifier", "Discriminator"] \
        if not req.enable_dynamic_passcode else ["Index", "Iteration Count", "Salt", "Discriminator"]
    summary = os.path.join(out_root, f"summary-{started.strftime('%Y-%m-%d-%H-%M-%S')}.csv")
    outputs = [  # (path, journal field, first rows, CRLF, secret)
        (os.path.join(staging, "master.csv"), "m", [header], False, True),
        # the reference's NVS generator leaves these copies behind; scripts may look for them
        (os.path.join(staging, "master_tmp.csv"), "m", [header], False, True),
        (os.path.join(staging, "pin_disc.csv"), "p", [pin_header], False, True),
        (summary, "s", [summary_header], True, True),
        (os.path.join(out_root, f"cn_dacs-{started.strftime('%Y-%m-%d-%H-%M-%S-%f')}.csv"), "c", [["CN", "certs"]],
         True, False),
    ]
    _write_csv_files([(os.path.join(staging, "config.csv"), False, False),
                      (os.path.join(staging, "config_tmp.csv"), False, False)], [layout["config"], layout["config"]])
    files = [(path, crlf, secret) for path, _, _, crlf, secret in outputs]

    def rows():
        with open(journal_path, encoding="utf-8") as f:
            for text in f:
                line = json.loads(text)
                yield [[line[field]] if line[field] else [] for _, field, _, _, _ in outputs]

    _write_csv_files(files, [first for _, _, first, _, _ in outputs], rows())
    return summary, outputs[4][0]


def _write_csv_files(files: list, first: list, more=()) -> None:
    """Write several CSV files side by side: each into a temporary file beside it, synced, renamed into place."""
    opened = []
    try:
        for path, crlf, secret in files:
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=os.path.dirname(path))
            os.fchmod(fd, 0o600 if secret else 0o644)
            f = os.fdopen(fd, "w", newline="", encoding="utf-8")
            opened.append((f, tmp, path, csv.writer(f, lineterminator="\r\n" if crlf else "\n")))
        for (_, _, _, writer), rows in zip(opened, first):
            writer.writerows(rows)
        for group in more:
            for (_, _, _, writer), rows in zip(opened, group):
                writer.writerows(rows)
        for f, tmp, path, _ in opened:
            f.flush()
            os.fsync(f.fileno())
            f.close()
            os.replace(tmp, path)
    except BaseException:
        for f, tmp, _, _ in opened:
            f.close()
            if os.path.exists(tmp):
                os.remove(tmp)
        raise


def _nvs_key(req: Esp32Request) -> bytes:
    """The 64-byte XTS key pair: --nvs-key (a keys partition or 128 hex digits), else fresh from secrets."""
    if not req.nvs_key:
        return secrets.token_bytes(64)
    data = read_bytes(req.nvs_key, "--nvs-key")
    if len(data) >= 68 and struct.unpack_from("<I", data, 64)[0] == zlib.crc32(data[:64], 0xFFFFFFFF) & 0xFFFFFFFF:
        return data[:64]
    try:
        key = bytes.fromhex(data.decode().strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 64:
        raise InvalidInput("--nvs-key", "must be an NVS keys partition or 128 hex digits (XTS key + tweak key)")
    return key


def _file_paths(internal: str, staging: str, cd_value: str | None) -> dict:
    """The paths CSVs name instead of file values: ``internal`` and ``staging`` absolute; the CD's stays as
    given."""
    return {"dac-cert": os.path.join(internal, "DAC_cert.der"),
            "dac-key": os.path.join(internal, "DAC_private_key.bin"),
            "dac-pub-key": os.path.join(internal, "DAC_public_key.bin"),
            "pai-cert": os.path.join(staging, "pai_cert.der"), "cert-dclrn": cd_value}


def _csv_value(key: str, value, paths: dict) -> str:
    path = paths.get(key)
    if path is not None:
        return path
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return neutralise_cell(value)
    return str(value)


def _partition_csv(namespaces, paths: dict) -> bytes:
    rows = [["key", "type", "encoding", "value"]]
    for ns, items in namespaces:
        rows.append([ns, "namespace", "", ""])
        for key, enc, value in items:
            path = paths.get(key)
            if path is not None:
                rows.append([key, "file", "binary", path])
            elif isinstance(value, bytes):
                rows.append([key, "data", "hex2bin", value.hex()])
            else:
                rows.append([key, "data", enc, str(value)])
    return _csv_text(rows, True)
