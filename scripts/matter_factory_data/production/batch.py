"""Mass production: many unique devices per run, in parallel, resumable, with a manifest.

Every per-device value is derived from one batch key (random from ``secrets``, or from ``--seed``) and the
device's index, so a batch killed at any point and run again produces exactly the devices an uninterrupted
run would have produced:
  * passcodes and discriminators come from keyed permutations of their valid ranges, so they are unique
    within the batch (discriminators while N <= 4096, beyond that as evenly spread as possible);
  * salts, rotating device ID unique IDs and DAC keys from HKDF-Expand (RFC 5869) of the batch key;
  * DAC serials are a per-batch random 31-bit prefix and the device number: unique, positive, 8 bytes;
  * signatures are deterministic (RFC 6979), so a seeded batch is byte-identical across runs.

Layout: ``<out>/<vid>_<pid>/manifest.csv`` and one directory per device, named after its serial number.
Each device is written into a staging directory and renamed into place; manifest rows are appended, in
device order, only after the files of their devices were synced to disk (one sync per group of devices).
The batch state (``.batch.json``, mode 0600) records what the batch is, so a different batch into the
same directory is refused, and holds the batch key until the batch is complete.
"""

from __future__ import annotations

import base64
import csv
import datetime
import hashlib
import json
import os
import secrets
import string
import threading
import sys
import time
from typing import NamedTuple


from ..codes import onboarding
from ..codes.qrimage import BATCH_MASK, qr_png
from ..crypto import attestation, cd, dac_template, keys, spake2p
from ..errors import InvalidInput, OperationFailed
from ..fileio import read_bytes, write_atomic
from ..formats import bouffalolab, esp32, nrfconnect, nxp, telink, ti
from ..model import PRODUCT_COLORS, PRODUCT_FINISHES, FactoryData, check_date, check_field, parse_hex

from ..requests import BatchRequest
from .derive import P256_ORDER, PASSCODE_DOMAIN, Keyed, passcode_from_rank
from .engine import (Progress, worker, working, RunLock, complete_lines, csv_text, fresh_staging, job_count, produce,
                     read_state, remove_tree,
                     sync_filesystem, write_new, write_state)

DEFAULT_OFFSETS = {"nrfconnect": 0xFB000, "telink": 0xFF000, "ti": 0xFE800}  # partition addresses for .hex
MANIFEST_HEADER = ("serial,vendor_id,product_id,discriminator,passcode,manual_code,qr_code,spake2_it,spake2_salt,"
                   "rd_uid,dac_serial,dac_sha256,path")
DEFAULT_SERIAL_PATTERN = "{vid:04X}{pid:04X}-{n:06d}"
STATE_FILE = ".batch.json"
LOCK_FILE = ".batch.lock"
STAGING = ".staging"
MANIFEST = "manifest.csv"
CSV_COLUMNS = ("serial", "passcode", "discriminator", "spake2_salt", "rd_uid", "dac_cert", "dac_key")
# the factory data fields that differ between a batch's devices (the others are the same for all)
VARYING = ("sn", "dac_cert", "dac_key", "passcode", "spake2_salt", "spake2_verifier", "discriminator", "rd_uid", "user")


# ---------------------------------------------------------------- derivations


# ---------------------------------------------------------------- the batch description


class Spec:
    """Everything that defines a batch (and its fingerprint), plus how to run it."""

    IDENTITY = ("vendor_id", "product_id", "vendor_name", "product_name", "date", "hw_ver", "hw_ver_str",
                "sw_ver_str", "spake2_it", "salt_len", "format", "offset", "size", "serial_pattern", "serial_start",
                "count", "include_passcode", "enable_key", "rd_uid", "unique_discriminators", "product_finish",
                "primary_color", "png", "secrets_in_manifest", "valid_from", "lifetime", "aes_key_sha256")

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def fingerprint(self, pai_der: bytes, csv_digest: str | None, dac_dir: str | None, seed: str | None) -> str:
        doc = {k: getattr(self, k) for k in self.IDENTITY}
        doc["pai_sha256"] = hashlib.sha256(pai_der).hexdigest()
        doc["csv_sha256"] = csv_digest
        doc["dac_dir"] = os.path.abspath(dac_dir) if dac_dir else None
        doc["seeded"] = seed is not None
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=_hex_of_bytes).encode()).hexdigest()


def _hex_of_bytes(value):
    if isinstance(value, bytes):  # --enable_key
        return value.hex()
    raise TypeError(f"{type(value).__name__} in a batch fingerprint")


# ---------------------------------------------------------------- CSV rows


def read_csv_rows(path: str, pai, report_bad, skip_bad: bool) -> list[dict]:
    """Validated rows of a per-device CSV (header: any of serial, passcode, discriminator, spake2_salt,
    rd_uid, dac_cert, dac_key, user.<name>). Problems are reported as file:line: column: rule."""
    text = read_bytes(path, "--csv").decode("utf-8-sig", errors="replace")
    reader = csv.reader(text.splitlines())
    header = _csv_header(reader, path)
    rows, seen, bad = [], {"serial": set(), "passcode": set(), "discriminator": set()}, 0
    for line_no, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        where = f"{path}:{line_no}"
        try:
            if len(fields) != len(header):
                raise InvalidInput(where, f"has {len(fields)} fields, the header has {len(header)} (missing column?)")
            out = _csv_row({h: f.strip() for h, f in zip(header, fields)}, header, where, path, pai, seen)
        except InvalidInput as e:
            report_bad(str(e))
            bad += 1
            continue
        out["line"] = line_no
        for column, values in seen.items():
            values.add(out.get(column))
        rows.append(out)
    if bad and not skip_bad:
        raise InvalidInput(path, f"{bad} bad row(s); fix them or use --skip_bad_rows (nothing was produced)")
    if not rows:
        raise InvalidInput(path, "has no usable rows")
    return rows


def _csv_header(reader, path: str) -> list[str]:
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InvalidInput(f"{path}:1", "the CSV is empty (it needs a header row)") from None
    for h in header:
        if h not in CSV_COLUMNS and not (h.startswith("user.") and len(h) > 5):
            raise InvalidInput(f"{path}:1: {h}", f"unknown column (allowed: {', '.join(CSV_COLUMNS)}, user.<name>)")
    if len(set(header)) != len(header):
        raise InvalidInput(f"{path}:1", "a column appears twice")
    if ("dac_cert" in header) != ("dac_key" in header):
        raise InvalidInput(f"{path}:1", "dac_cert and dac_key columns go together")
    return header


def _csv_row(row: dict, header: list[str], where: str, path: str, pai, seen: dict) -> dict:
    """One row's values, each checked with the model's rule for its field and unique where it must be."""
    out: dict = {}
    if row.get("serial"):
        s = row["serial"]
        if len(s.encode()) > 32:
            raise InvalidInput(f"{where}: serial", f"{s!r} is longer than 32 bytes")
        if s in seen["serial"]:
            raise InvalidInput(f"{where}: serial", f"{s!r} appears twice")
        _check_dirname(s, f"{where}: serial")
        out["serial"] = s
    for column, base in (("passcode", 10), ("discriminator", 0)):
        if row.get(column):
            value = _csv_int(row, column, where, base)
            check_field(column, value, f"{where}: {column}")
            if value in seen[column]:
                raise InvalidInput(f"{where}: {column}", "appears twice")
            out[column] = value
    if row.get("spake2_salt"):
        try:
            salt = base64.b64decode(row["spake2_salt"], validate=True)
        except ValueError:
            raise InvalidInput(f"{where}: spake2_salt", "is not valid Base64") from None
        check_field("spake2_salt", salt, f"{where}: spake2_salt")
        out["spake2_salt"] = salt
    if row.get("rd_uid"):
        out["rd_uid"] = parse_hex(row["rd_uid"], f"{where}: rd_uid")
        check_field("rd_uid", out["rd_uid"], f"{where}: rd_uid")
    if row.get("dac_cert") or row.get("dac_key"):
        base_dir = os.path.dirname(os.path.abspath(path))
        out["dac"] = load_dac_pair(os.path.join(base_dir, row.get("dac_cert", "")),
                                   os.path.join(base_dir, row.get("dac_key", "")), pai, where)
    user = {h[5:]: row[h] for h in header if h.startswith("user.") and row[h] != ""}
    if user:
        out["user"] = user
    return out


def _csv_int(row: dict, column: str, where: str, base: int) -> int:
    try:
        return int(row[column], base)
    except ValueError:
        raise InvalidInput(f"{where}: {column}", f"{row[column]!r} is not an integer") from None


def _check_dirname(serial: str, what: str) -> None:
    if serial in (".", "..") or "/" in serial or "\\" in serial or "\0" in serial or serial.startswith("."):
        raise InvalidInput(what, f"{serial!r} cannot name a directory")
    if serial[:1] in ("=", "+", "-", "@", "\t", "\r"):
        raise InvalidInput(what, f"serial {serial!r} starts with {serial[:1]!r}, which a spreadsheet reads as a "
                                 f"formula in the manifest (and a command line as an option): start it otherwise")


def load_dac_pair(cert_path: str, key_path: str, pai, where: str) -> tuple[bytes, bytes, int, bytes]:
    """(DAC DER, raw 32-byte key, certificate serial, public point) of a pre-provisioned pair, checked against
    the PAI (the serial and point come from that one parse, so the workers need not parse it again)."""
    try:
        der = keys.load_certificate_der(cert_path, "dac_cert")
        scalar = keys.load_dac_scalar(key_path, "dac_key")
        dac = attestation.load_cert(der, "dac_cert")
    except (InvalidInput, OperationFailed) as e:
        raise InvalidInput(where, str(e)) from None
    report = attestation.check_chain(dac, pai, None, scalar)
    if report.errors:
        raise InvalidInput(where, report.errors[0])
    return der, scalar.to_bytes(32, "big"), dac.serial, dac.public_key_bytes


def check_one_dac_per_device(dac_pairs: list | None, rows: list | None, req: BatchRequest) -> None:
    """The same DAC certificate or key given for two devices is refused before any work."""
    seen_cert: dict = {}
    seen_key: dict = {}
    given = [(f"--dac_dir pair {i + 1}", pair) for i, pair in enumerate(dac_pairs or [])]
    given += [(f"{req.csv} device {i + 1} ({row.get('serial') or 'no serial'})", row["dac"])
              for i, row in enumerate(rows or []) if row.get("dac")]
    for where, (der, key, _serial, _point) in given:
        for seen, value, what in ((seen_cert, der, "DAC certificate"), (seen_key, key, "DAC key")):
            if value in seen:
                raise InvalidInput(where, f"has the same {what} as {seen[value]}: every device needs its own DAC")
            seen[value] = where


def dac_dir_pairs(path: str) -> list[tuple[str, str]]:
    """(certificate, key) files of a directory: NAME-Cert.der/.pem + NAME-Key.der/.pem, or NAME_cert + NAME_key."""
    if not os.path.isdir(path):
        raise OperationFailed(f"--dac_dir: '{path}' is not a directory")
    pairs = []
    for name in sorted(os.listdir(path)):
        for cert_tag, key_tag in (("-Cert.", "-Key."), ("_cert.", "_key.")):
            if cert_tag in name and name.rsplit(".", 1)[-1] in ("der", "pem"):
                key = name.replace(cert_tag, key_tag)
                if os.path.isfile(os.path.join(path, key)):
                    pairs.append((os.path.join(path, name), os.path.join(path, key)))
    if not pairs:
        raise InvalidInput("--dac_dir", f"'{path}' holds no certificate/key pairs (NAME-Cert.der + NAME-Key.der)")
    return pairs


# ---------------------------------------------------------------- worker side

class BatchContext(NamedTuple):
    """What every worker of a batch needs: plain values only (it may cross a process boundary)."""

    key: bytes
    vid: int
    pid: int
    vendor_name: str
    product_name: str
    date: str
    hw_ver: int
    hw_ver_str: str
    sw_ver_str: str | None
    spake2_it: int
    salt_len: int
    serial_pattern: str
    serial_start: int
    count: int
    include_passcode: bool
    enable_key: bytes | None
    rd_uid: bool
    product_finish: int | None
    primary_color: int | None
    png: bool
    secrets_in_manifest: bool
    offset: int
    size: int
    batch_dir: str
    pai_der: bytes
    pai_scalar: int | str  # the PAI key: its scalar, or a pkcs11: URI each worker opens
    cn: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial_prefix: int
    dac_pairs: list | None
    format: str
    cd_der: bytes | None
    fixed_passcodes: frozenset
    fixed_discriminators: frozenset
    aes_key: bytes | None = None  # bouffalolab: encrypts each MFD's DAC key (in memory only, never in a file)


class _Worker:
    """A worker's state: the batch context and what it derives from it once (keys, templates)."""

    def __init__(self, ctx: BatchContext):
        self.ctx = ctx
        self.keyed = Keyed(ctx.key)
        pai_key = keys.signer(ctx.pai_scalar)  # a key in a token: this worker's own session
        self.template = dac_template.DacTemplate(ctx.pai_der, pai_key, ctx.vid, ctx.pid, ctx.cn, ctx.not_before,
                                                 ctx.not_after)
        self.doc_template = nrfconnect.DocTemplate(VARYING)
        self.validated = False  # the fields common to the batch were checked with this worker's first device
        self.in_token = isinstance(ctx.pai_scalar, str)  # the PAI key signs in a token: overlap it with PBKDF2




def passcode_of(index: int) -> int:
    """The index-th device's passcode: a keyed permutation of the valid passcodes, skipping values a CSV row
    fixed (the candidates index, index + N, index + 2N, ... belong to this device alone)."""
    keyed, fixed, count = (w := worker()).keyed, w.ctx.fixed_passcodes, w.ctx.count
    k = index
    while True:
        value = passcode_from_rank(keyed.permute("passcode", k, PASSCODE_DOMAIN))
        if value not in fixed:
            return value
        k += count


def discriminator_of(index: int) -> int:
    """Unique discriminators while the batch has at most 4096 devices; beyond, each value is used
    floor(N/4096) or ceil(N/4096) times."""
    keyed, fixed, count = (w := worker()).keyed, w.ctx.fixed_discriminators, w.ctx.count
    if count > 4096:
        return keyed.permute("discriminator", index % 4096, 4096)
    k = index
    while k < 4096:
        value = keyed.permute("discriminator", k, 4096)
        if value not in fixed:
            return value
        k += count
    raise InvalidInput("discriminator", "no unused discriminator is left for this device (too many fixed in the CSV)")


def make_devices(chunk: list[tuple[int, dict]]) -> list[str]:
    """Write a chunk of devices (each staged, then renamed into place) and return their manifest rows."""
    return _write_devices(*_prepare_devices(chunk))


def probe_devices(ctx: BatchContext, chunk: list[tuple[int, dict]]) -> None:
    """Make ``chunk``'s devices in memory (every value, check, certificate and encoding, no file): a batch
    runs this on its first and last device before it writes anything, so a bad option fails cleanly."""
    with working(_Worker, ctx):
        prepared = _prepare_devices(chunk)
    for k in range(len(chunk)):
        attestation.check_issued(prepared[3][k], "dac", ctx.pai_der, "pai", f"device {prepared[0][k]} DAC",
                                 ctx.date)


def _prepare_devices(chunk: list[tuple[int, dict]]) -> tuple:
    """Every value and encoding of a chunk's devices, checked, in memory.

    The work goes phase by phase over the whole chunk (values, PBKDF2, points, certificates, encodings,
    files, rows) rather than device by device: each phase's code then stays warm in the CPU's caches while it
    runs for every device, which measured 40-75 us less per device than one device at a time (about a
    sixth of the work that is not PBKDF2). A device whose values are bad stops the chunk before any file of
    the chunk is written."""
    w = worker()
    keyed: Keyed = w.keyed
    vid, pid, it = w.ctx.vid, w.ctx.pid, w.ctx.spake2_it
    # the values
    pattern, start = w.ctx.serial_pattern, w.ctx.serial_start
    serials = [row.get("serial") or pattern.format(vid=vid, pid=pid, n=start + i) for i, row in chunk]
    passcodes = [row.get("passcode") or passcode_of(i) for i, row in chunk]
    discs = [row["discriminator"] if "discriminator" in row else discriminator_of(i) for i, row in chunk]
    salt_len = w.ctx.salt_len
    salts = [row.get("spake2_salt") or keyed.derive("salt", i, salt_len) for i, row in chunk]
    with_uid = w.ctx.rd_uid
    uids = [row.get("rd_uid") or (keyed.derive("rd_uid", i, 16) if with_uid else None) for i, row in chunk]
    # SPAKE2+: PBKDF2, then L = w1 * G; with the PAI key in a token its signatures are made meanwhile (the
    # token call and OpenSSL's PBKDF2 both run without the interpreter lock)
    signing = _DacsBeside(chunk) if w.in_token else None
    compute_ws, w0_w1, point_from_scalar = spake2p.compute_ws, spake2p.w0_w1, spake2p.point_from_scalar
    ws = [w0_w1(compute_ws(p, s, it)) for p, s in zip(passcodes, salts)]
    verifiers = [w0.to_bytes(32, "big") + point_from_scalar(w1) for w0, w1 in ws]
    dac_ders, dac_keys, dac_serials, dac_points = signing.result() if signing else _chunk_dacs(chunk)
    fds = _checked_factory_data(chunk, serials, passcodes, discs, salts, uids, verifiers, dac_ders, dac_keys)
    # the encodings
    payloads = [onboarding.SetupPayload(vid, pid, d, p) for d, p in zip(discs, passcodes)]
    qrs = [onboarding.qr_code(p) for p in payloads]
    manuals = [onboarding.manual_code(p) for p in payloads]
    json_texts, images = _encode_images(fds, serials, passcodes, dac_points)
    texts = [onboarding.onboarding_text(m, q).encode("ascii") for m, q in zip(manuals, qrs)]
    pngs = [qr_png(q, mask=BATCH_MASK) for q in qrs] if w.ctx.png else None
    key_der = dac_template.key_der_from_scalar
    key_ders = [key_der(int.from_bytes(key, "big"), point) for key, point in zip(dac_keys, dac_points)]
    return (serials, json_texts, images, dac_ders, key_ders, texts, pngs, discs, passcodes, manuals, qrs, salts,
            uids, dac_serials)


def _token_of(key_path: str) -> str | None:
    """The token that signs the DACs, as the progress line names it (without a PIN)."""
    return keys.display(key_path) if keys.is_token_uri(key_path) else None


class _DacsBeside:
    """``_chunk_dacs`` in a thread of this worker, while the worker computes the chunk's verifiers."""

    def __init__(self, chunk):
        self.value = self.error = None
        self.thread = threading.Thread(target=self._run, args=(chunk,), daemon=True)
        self.thread.start()

    def _run(self, chunk) -> None:
        try:
            self.value = _chunk_dacs(chunk)
        except BaseException as e:  # noqa: BLE001 (raised again in the worker's own thread)
            self.error = e

    def result(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


def _chunk_dacs(chunk: list[tuple[int, dict]]) -> tuple[list, list, list, list]:
    """The chunk's DACs (DER, key scalar bytes, serial, public point): pre-provisioned pairs as they are,
    the others derived from the batch key, then issued from the template."""
    w = worker()
    keyed: Keyed = w.keyed
    pairs = w.ctx.dac_pairs
    dac_ders, dac_keys, dac_serials, dac_points = [], [], [], []
    for i, row in chunk:
        pair = row.get("dac") or (pairs[i] if pairs is not None else None)
        if pair is not None:
            der, key, serial, point = pair
            dac_ders.append(der)
            dac_keys.append(key)
            dac_serials.append(serial)
            dac_points.append(point)
        else:
            scalar = int.from_bytes(keyed.derive("dac_key", i, 40), "big") % (P256_ORDER - 1) + 1
            dac_ders.append(None)
            dac_keys.append(scalar.to_bytes(32, "big"))
            dac_serials.append(w.ctx.serial_prefix << 32 | (i + 1))
            dac_points.append(None)
    public_point = spake2p.p256_point
    for k, point in enumerate(dac_points):
        if point is None:
            dac_points[k] = public_point(int.from_bytes(dac_keys[k], "big"))
    issue = w.template.issue
    for k, der in enumerate(dac_ders):
        if der is None:
            dac_ders[k] = issue(dac_serials[k], dac_points[k], deterministic=True)
    return dac_ders, dac_keys, dac_serials, dac_points


def _checked_factory_data(chunk, serials, passcodes, discs, salts, uids, verifiers, dac_ders, dac_keys) -> list:
    """The chunk's factory data, each checked (the fields common to the batch once per worker)."""
    w = worker()
    vid, pid, it = w.ctx.vid, w.ctx.pid, w.ctx.spake2_it
    include_passcode = w.ctx.include_passcode
    fds = [FactoryData(
        sn=serials[k], vendor_id=vid, product_id=pid, vendor_name=w.ctx.vendor_name,
        product_name=w.ctx.product_name, date=w.ctx.date, hw_ver=w.ctx.hw_ver, hw_ver_str=w.ctx.hw_ver_str,
        sw_ver_str=w.ctx.sw_ver_str, dac_cert=dac_ders[k], dac_key=dac_keys[k], pai_cert=w.ctx.pai_der,
        passcode=passcodes[k] if include_passcode else None, spake2_it=it, spake2_salt=salts[k],
        spake2_verifier=verifiers[k], discriminator=discs[k], rd_uid=uids[k], enable_key=w.ctx.enable_key,
        product_finish=w.ctx.product_finish, primary_color=w.ctx.primary_color, user=row.get("user"),
    ) for k, (_, row) in enumerate(chunk)]
    for fd in fds:
        if w.validated:  # the constant fields were checked with the worker's first device
            fd.validate_fields(VARYING)
        else:
            fd.validate(check_verifier=False, verifier_computed=True)
            w.validated = True
    return fds


def _encode_images(fds: list, serials: list, passcodes: list, dac_points: list) -> tuple[list, list]:
    """Each device's JSON text and its images in the batch's format: (file name, one image per device)."""
    w = worker()
    fmt = w.ctx.format
    if fmt == "nrfconnect":
        render = w.doc_template.render
        docs = [render(fd) for fd in fds]
        json_texts = [text for text, _ in docs]
        size = w.ctx.size
        for (_, image), serial in zip(docs, serials):
            if len(image) > size:
                raise InvalidInput(f"device {serial}", f"factory data needs {len(image)} bytes, the partition holds {size}")
        offset = w.ctx.offset
        images = [("factory_data.hex", [nrfconnect.to_intel_hex_fast(image, offset) for _, image in docs]),
                  ("factory_data.bin", [image for _, image in docs])]
    else:
        json_texts = [json.dumps(fd.to_doc()).encode("ascii") for fd in fds]
        if fmt == "nxp":
            images = [("factory_data.bin", [_nxp_image(fd, p, w.ctx.cd_der) for fd, p in zip(fds, passcodes)])]
        elif fmt == "telink":
            bins = _each(fds, serials, passcodes, lambda fd, p: telink.encode(fd, {"cd": w.ctx.cd_der, "size": w.ctx.size}))
            images = [("factory_data.hex", [nrfconnect.to_intel_hex_fast(b, w.ctx.offset) for b in bins]),
                      ("factory_data.bin", bins)]
        elif fmt == "ti":
            regions = _each(fds, serials, passcodes, lambda fd, p: ti.encode(fd, {"passcode": p, "base": w.ctx.offset}))
            images = [("factory_data.hex", [ti.to_hex(r, w.ctx.offset) for r in regions])]
        elif fmt == "bouffalolab":
            images = [("factory_data.bin", _each(fds, serials, passcodes, lambda fd, p: bouffalolab.encode(
                fd, {"passcode": p, "cd": w.ctx.cd_der, "aes_key": w.ctx.aes_key,
                     # the reference's IV shape (12 random bytes, 4 zero bytes), derived so a resumed run repeats it
                     "iv": w.keyed.derive("aes_iv:" + fd.sn, 0, 12) + bytes(4) if w.ctx.aes_key else None})))]
        else:
            images = [("partition.bin", [_esp32_image(fd, pt, w.ctx.cd_der) for fd, pt in zip(fds, dac_points)])]
    return json_texts, images


def _write_devices(serials, json_texts, images, dac_ders, key_ders, texts, pngs, discs, passcodes, manuals, qrs,
                   salts, uids, dac_serials) -> list[str]:
    """The files of prepared devices (each staged, then renamed into place) and their manifest rows."""
    w = worker()
    vid, pid, it = w.ctx.vid, w.ctx.pid, w.ctx.spake2_it
    # the files: each device staged, then renamed into place
    batch_dir = w.ctx.batch_dir
    staging = os.path.join(batch_dir, STAGING)
    for k, serial in enumerate(serials):
        here = os.path.join(staging, serial)
        try:
            os.mkdir(here, 0o755)
        except FileExistsError:  # left by an earlier attempt at this device in this run
            remove_tree(here)
            os.mkdir(here, 0o755)
        write_new(here, "factory_data.json", json_texts[k], True)
        for name, datas in images:
            write_new(here, name, datas[k], True)
        write_new(here, "onboarding.txt", texts[k], True)
        if pngs is not None:
            write_new(here, "onboarding.png", pngs[k], True)
        write_new(here, "DAC_cert.der", dac_ders[k], False)
        write_new(here, "DAC_key.der", key_ders[k], True)
        final = os.path.join(batch_dir, serial)
        try:
            os.rename(here, final)
        except OSError:  # a directory of that name is in the way (the run removed it; someone made it again)
            remove_tree(final)
            os.rename(here, final)
    # the manifest rows
    secrets_out = w.ctx.secrets_in_manifest
    vid_text, pid_text, it_text = f"0x{vid:04X}", f"0x{pid:04X}", str(it)
    return [csv_text([[serial, vid_text, pid_text, str(discs[k]),
                       str(passcodes[k]) if secrets_out else "", manuals[k] if secrets_out else "",
                       qrs[k] if secrets_out else "", it_text, base64.b64encode(salts[k]).decode(),
                       uids[k].hex() if uids[k] else "", f"{dac_serials[k]:x}",
                       hashlib.sha256(dac_ders[k]).hexdigest(), serial]])
            for k, serial in enumerate(serials)]


def _each(fds: list, serials: list, passcodes: list, encode) -> list[bytes]:
    """``encode(device, passcode)`` for each device; an error names the device."""
    out = []
    for fd, serial, passcode in zip(fds, serials, passcodes):
        try:
            out.append(encode(fd, passcode))
        except InvalidInput as e:
            raise InvalidInput(f"device {serial}", str(e)) from None
    return out


def _nxp_image(fd, passcode: int, cd_der: bytes) -> bytes:
    """The NXP binary of one device (the same entries ``matter-factory-data nxp`` writes)."""
    return nxp.encode(fd, {"passcode": passcode, "cd": cd_der})


def _esp32_image(fd, dac_point: bytes, cd_der: bytes | None) -> bytes:
    """The NVS partition of one device (esp-matter-mfg-tool's keys and order)."""
    return esp32.encode(fd, {"dac_pub_key": dac_point, "cd": cd_der})


# ---------------------------------------------------------------- driver


def _serial_of(spec: Spec, index: int, rows: list | None) -> str:
    if rows is not None and rows[index].get("serial"):
        return rows[index]["serial"]
    return spec.serial_pattern.format(vid=spec.vendor_id, pid=spec.product_id, n=spec.serial_start + index)


def _recover_manifest(path: str) -> int:
    """Rows already recorded (the header line is not a row)."""
    return max(0, complete_lines(path) - 1)


def spec_of(req: BatchRequest) -> Spec:
    """The batch a request describes, its options checked one by one."""
    if (req.count is None) == (req.csv is None):
        raise InvalidInput("--count/--csv", "give exactly one of them")
    check_date(req.date, "--date")
    offset = req.offset if req.offset is not None else DEFAULT_OFFSETS.get(req.format, 0xFB000)
    if offset < 0 or req.size <= 0 or offset + req.size > 1 << 32:
        raise InvalidInput("--offset/--size", f"0x{offset:x} + 0x{req.size:x} is not a partition in the "
                                              f"32-bit flash address space")
    if req.format == "ti" and offset not in ti.BASES.values():
        raise InvalidInput("--offset", f"0x{offset:x}: TI devices link their factory data at "
                                       f"{' or '.join(f'0x{b:X} ({n})' for n, b in ti.BASES.items())}")
    aes_key = None
    if req.aes128_key is not None:
        if req.format != "bouffalolab":
            raise InvalidInput("--aes128_key", "only --format bouffalolab encrypts (the DAC key in the MFD's secured block)")
        try:
            aes_key = bytes.fromhex(req.aes128_key)
        except ValueError:
            aes_key = b""
        if len(aes_key) != 16:
            raise InvalidInput("--aes128_key", "must be 32 hex digits (the device's 16-byte eFuse AES key)")
    if req.jobs is not None and not 1 <= req.jobs <= 1024:
        raise InvalidInput("--jobs", f"{req.jobs} is not 1..1024")
    valid_from = None
    if req.valid_from:
        valid_from = attestation.parse_valid_from(req.valid_from)
    return Spec(
        vendor_id=req.vendor_id, product_id=req.product_id, vendor_name=req.vendor_name,
        product_name=req.product_name, date=req.date, hw_ver=req.hw_ver, hw_ver_str=req.hw_ver_str,
        sw_ver_str=req.sw_ver_str, spake2_it=req.spake2_it, salt_len=req.salt_len, format=req.format,
        offset=offset, size=req.size, serial_pattern=req.serial_pattern, serial_start=req.serial_start,
        count=req.count, include_passcode=req.include_passcode,
        enable_key=bytes.fromhex(req.enable_key) if req.enable_key else None, rd_uid=not req.no_rd_uid,
        unique_discriminators=req.unique_discriminators,
        product_finish=PRODUCT_FINISHES[req.product_finish] if req.product_finish else None,
        primary_color=PRODUCT_COLORS[req.product_color] if req.product_color else None,
        png=not req.no_png, secrets_in_manifest=not req.no_secrets_in_manifest,
        valid_from=valid_from.isoformat() if valid_from else None, lifetime=req.lifetime,
        aes_key=aes_key, aes_key_sha256=hashlib.sha256(aes_key).hexdigest() if aes_key else None,
    )


def run(req: BatchRequest, report) -> dict:
    """Produce (or finish) a batch; returns a summary."""
    spec = spec_of(req)
    _check_spec(spec, req)
    pai_der, pai, pai_scalar, cd_der = _credentials(spec, req, report)
    rows, csv_digest, dac_pairs = _devices(spec, req, report, pai)
    # the DACs' validity: inside the PAI's, from the manufacturing date unless --valid_from says otherwise
    not_before, not_after = dac_validity(spec, pai)
    seed_key = hashlib.sha256(b"matter-factory-data seed:" + req.seed.encode()).digest() if req.seed is not None \
        else None
    batch_dir = os.path.join(req.out, f"{spec.vendor_id:04x}_{spec.product_id:04x}")
    ctx = _worker_context(spec, rows, batch_dir, seed_key, pai_der, pai_scalar, cd_der, dac_pairs, not_before,
                          not_after)
    # every option is checked on real devices before the first byte is written: the first and the last
    # (the longest generated serial), made in memory
    probe_devices(ctx, [(i, rows[i] if rows is not None else {}) for i in sorted({0, spec.count - 1})])

    # the batch directory, locked for this run, and its state
    state_path = os.path.join(batch_dir, STATE_FILE)
    manifest_path = os.path.join(batch_dir, MANIFEST)
    fingerprint = spec.fingerprint(pai_der, csv_digest, req.dac_dir, req.seed)
    _make_batch_dir(req.out, batch_dir)
    lock = RunLock(batch_dir, LOCK_FILE, "batch")
    try:
        return _run_locked(spec, req, report, ctx, rows, batch_dir, state_path, manifest_path, fingerprint,
                           seed_key, lock)
    finally:
        lock.release()


def _check_spec(spec: Spec, req: BatchRequest) -> None:
    """The options that need no file: format, serial pattern, SPAKE2+ parameters."""
    if spec.format in ("nxp", "bouffalolab") and not req.cd:
        raise InvalidInput("--cd", f"required with --format {spec.format} (the image carries the Certification "
                                   f"Declaration)")
    if "{n" not in spec.serial_pattern:
        raise InvalidInput("--serial_pattern", "must contain {n} (the device number) so serials are unique")
    try:
        first = spec.serial_pattern.format(vid=spec.vendor_id, pid=spec.product_id, n=spec.serial_start)
        parts = list(string.Formatter().parse(spec.serial_pattern))
    except (KeyError, ValueError, IndexError) as e:
        raise InvalidInput("--serial_pattern", f"{spec.serial_pattern!r} is not a valid pattern ({e})") from None
    if any(c in (literal or "") + (format_spec or "") for literal, _, format_spec, _ in parts for c in "/\\\0"):
        raise InvalidInput("--serial_pattern", f"{spec.serial_pattern!r} would put a path separator into the serial "
                                               f"numbers, which name the device directories")
    # numbers only grow, so padding only shrinks: if the first serial is not a hidden name, none is
    _check_dirname(first, "--serial_pattern")
    spake2p.check_iterations(spec.spake2_it)
    if not spake2p.MIN_SALT_LEN <= spec.salt_len <= spake2p.MAX_SALT_LEN:
        raise InvalidInput("--salt_len", f"must be {spake2p.MIN_SALT_LEN}..{spake2p.MAX_SALT_LEN}, got {spec.salt_len}")


def _credentials(spec: Spec, req: BatchRequest, report) -> tuple:
    """The PAI (checked as an issuer for this VID/PID, under --paa_cert when given), its key's scalar, and the
    CD (checked against the VID/PID and the PAI)."""
    pai_der = keys.load_certificate_der(req.pai_cert, "--pai_cert")
    pai = attestation.load_cert(pai_der, "--pai_cert")
    # the scalar, not a key object: plain key files are read without cryptography's serialization stack,
    # whose import alone costs a noticeable part of a small batch
    pai_scalar = keys.load_signing_ref(req.pai_key, "--pai_key", req.pai_key_password)
    if not attestation.key_matches(pai, pai_scalar):
        raise InvalidInput("--pai_key", "does not match --pai_cert")
    paa = None
    if req.paa_cert:
        paa = attestation.load_cert(keys.load_certificate_der(req.paa_cert, "--paa_cert"), "--paa_cert")
    # the PAI can issue DACs (a CA, under its PAA, unexpired on the manufacturing date) for this VID/PID
    attestation.check_issuer(pai, "pai", spec.date, issuer=paa, warn=report.warn)
    pai_vid, pai_pid = attestation.matter_ids(pai, lenient=True)
    if pai_vid is not None and pai_vid != spec.vendor_id:
        raise InvalidInput("--vendor_id", f"0x{spec.vendor_id:04X} differs from the PAI vendor ID 0x{pai_vid:04X}")
    if pai_pid is not None and pai_pid != spec.product_id:
        raise InvalidInput("--product_id", f"0x{spec.product_id:04X} differs from the PAI product ID 0x{pai_pid:04X}")
    cd_der = None
    if req.cd:
        cd_der = read_bytes(req.cd, "--cd")
        content = cd.parse(cd_der, "--cd").content
        problems = cd.check_against_certificates(content, _FakeDac(spec.vendor_id, spec.product_id), pai)
        if content.vendor_id != spec.vendor_id or spec.product_id not in content.product_ids:
            problems.insert(0, f"the CD is for vendor 0x{content.vendor_id:04X}, products "
                               f"{', '.join(f'0x{p:04X}' for p in content.product_ids)}")
        if problems:
            raise InvalidInput("--cd", problems[0])
    return pai_der, pai, pai_scalar, cd_der


def _devices(spec: Spec, req: BatchRequest, report, pai) -> tuple:
    """The per-device inputs: CSV rows (and the CSV's digest), pre-provisioned DAC pairs; sets the count."""
    rows = None
    csv_digest = None
    if req.csv:
        def bad_row(line: str) -> None:
            if req.skip_bad_rows:
                report.warn(f"skipped {line}")
            else:
                print(f"{report.prog}: error: {line}", file=sys.stderr)

        rows = read_csv_rows(req.csv, pai, bad_row, req.skip_bad_rows)
        csv_digest = hashlib.sha256(read_bytes(req.csv, "--csv")).hexdigest()
        spec.count = len(rows)
    if not spec.count or spec.count < 1:
        raise InvalidInput("--count", "give --count N (N >= 1) or --csv FILE")
    if spec.unique_discriminators and spec.count > 4096:
        raise InvalidInput("--unique_discriminators", f"{spec.count} devices cannot have unique 12-bit discriminators "
                                                      f"(at most 4096)")
    dac_pairs = None
    if req.dac_dir:
        files = dac_dir_pairs(req.dac_dir)
        if len(files) < spec.count:
            raise InvalidInput("--dac_dir", f"holds {len(files)} DAC pairs for {spec.count} devices")
        dac_pairs = [load_dac_pair(c, k, pai, os.path.basename(c)) for c, k in files[: spec.count]]
    check_one_dac_per_device(dac_pairs, rows, req)
    if req.seed is not None:
        if not 0xFFF1 <= spec.vendor_id <= 0xFFF4 and not req.force:
            raise InvalidInput("--seed", f"derives every key and passcode from the seed: refused for the production "
                                         f"vendor ID 0x{spec.vendor_id:04X} (use --force to insist)")
        report.warn("=" * 20 + " --seed: every DAC key, passcode and salt of this batch can be recomputed from the "
                    "seed; use it for test batches only " + "=" * 20)
    return rows, csv_digest, dac_pairs


def _worker_context(spec: Spec, rows, batch_dir: str, seed_key, pai_der: bytes, pai_scalar: int | str, cd_der, dac_pairs,
                    not_before, not_after) -> dict:
    """What every worker needs (plain values only: it may cross a process boundary)."""
    return BatchContext(
        key=seed_key or secrets.token_bytes(32), vid=spec.vendor_id, pid=spec.product_id,
        vendor_name=spec.vendor_name,
        product_name=spec.product_name, date=spec.date, hw_ver=spec.hw_ver, hw_ver_str=spec.hw_ver_str,
        sw_ver_str=spec.sw_ver_str, spake2_it=spec.spake2_it, salt_len=spec.salt_len,
        serial_pattern=spec.serial_pattern, serial_start=spec.serial_start, count=spec.count,
        include_passcode=spec.include_passcode, enable_key=spec.enable_key, rd_uid=spec.rd_uid,
        product_finish=spec.product_finish, primary_color=spec.primary_color, png=spec.png,
        secrets_in_manifest=spec.secrets_in_manifest, offset=spec.offset, size=spec.size,
        batch_dir=batch_dir,
        pai_der=pai_der, pai_scalar=pai_scalar, cn=f"{spec.vendor_name} {spec.product_name}"[:64],
        not_before=not_before, not_after=not_after, serial_prefix=1, dac_pairs=dac_pairs,
        format=spec.format, cd_der=cd_der, aes_key=spec.aes_key,
        fixed_passcodes=frozenset(r["passcode"] for r in rows if "passcode" in r) if rows else frozenset(),
        fixed_discriminators=frozenset(r["discriminator"] for r in rows if "discriminator" in r) if rows else frozenset(),
    )


def _make_batch_dir(out: str, batch_dir: str) -> None:
    if not os.path.isdir(out):
        try:
            os.makedirs(out)
        except OSError as e:
            raise OperationFailed(f"--out: cannot create '{out}': {e.strerror or e}") from None
    try:
        os.mkdir(batch_dir)
    except FileExistsError:
        pass
    except OSError as e:
        raise OperationFailed(f"--out: cannot create '{batch_dir}': {e.strerror or e}") from None


def dac_validity(spec: Spec, pai):
    """(notBefore, notAfter) of a batch's DACs: from --valid_from or the manufacturing date at 00:00:00 UTC,
    for --lifetime days or until the PAI ends; outside the PAI's validity is an error, not a silent change."""

    if spec.valid_from is None:
        not_before = attestation.date_start(spec.date)
        if not_before < pai.not_before:
            raise InvalidInput("--date", f"{spec.date} is before the PAI's notBefore "
                                         f"{pai.not_before:%Y-%m-%d %H:%M:%S} UTC: the DACs would start before their "
                                         f"PAI (give a later --date, or --valid_from)")
    else:
        not_before = datetime.datetime.fromisoformat(spec.valid_from)
        if not_before < pai.not_before:
            raise InvalidInput("--valid_from", f"{not_before:%Y-%m-%d %H:%M:%S} is before the PAI's notBefore "
                                               f"{pai.not_before:%Y-%m-%d %H:%M:%S} UTC: a DAC must start within its PAI")
    _, not_after = attestation.validity(not_before, spec.lifetime)
    if spec.lifetime is None:
        not_after = min(not_after, pai.not_after)
    elif not_after > pai.not_after:
        raise InvalidInput("--lifetime", f"{spec.lifetime} days from {not_before:%Y-%m-%d} end "
                                         f"{not_after:%Y-%m-%d %H:%M:%S} UTC, after the PAI "
                                         f"({pai.not_after:%Y-%m-%d %H:%M:%S} UTC)")
    if not_before > pai.not_after:
        raise InvalidInput("--valid_from", f"{not_before:%Y-%m-%d} is after the PAI's notAfter")
    return not_before, not_after


def _clear_dir(path: str) -> None:
    """Remove everything in a batch directory but its lock."""
    for name in os.listdir(path):
        if name == LOCK_FILE:
            continue
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            remove_tree(full)
        else:
            os.unlink(full)


def _run_locked(spec: Spec, req: BatchRequest, report, ctx: BatchContext, rows, batch_dir: str, state_path: str, manifest_path: str,
                fingerprint: str, seed_key: bytes | None, lock: RunLock) -> dict:
    state = read_state(state_path)
    if state is not None and state.get("fingerprint") != fingerprint:
        if not req.overwrite:
            raise OperationFailed(f"{batch_dir} holds a different batch; use --overwrite to replace it "
                                  f"(or choose another --out)")
        _clear_dir(batch_dir)
        state = None
    if state is None and set(os.listdir(batch_dir)) - {LOCK_FILE}:
        if not req.overwrite:
            raise OperationFailed(f"{batch_dir} exists and is not a batch of this tool; use --overwrite to replace it")
        _clear_dir(batch_dir)
    if state is not None and state.get("complete"):
        done = _recover_manifest(manifest_path) if os.path.exists(manifest_path) else 0
        if done == spec.count:
            return {"devices": spec.count, "new": 0, "seconds": 0.0, "manifest": manifest_path, "batch_dir": batch_dir}
        raise OperationFailed(f"{manifest_path} lists {done} devices but the batch is marked complete with "
                              f"{spec.count}: the directory was changed by hand")
    if state is None:
        key = seed_key or secrets.token_bytes(32)
        state = {"fingerprint": fingerprint, "count": spec.count, "key": key.hex(), "complete": False}
        write_state(state_path, state)
    key = bytes.fromhex(state["key"])
    keyed = Keyed(key)
    serial_prefix = int.from_bytes(keyed.derive("dac-serial-prefix", 0, 4), "big") & 0x7FFFFFFF or 1

    secret_manifest = spec.secrets_in_manifest
    if not os.path.exists(manifest_path):
        fd = os.open(manifest_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret_manifest else 0o644)
        os.write(fd, (MANIFEST_HEADER + "\n").encode())
        os.fsync(fd)
        os.close(fd)
    done = _recover_manifest(manifest_path)
    staging = fresh_staging(os.path.join(batch_dir, STAGING))
    # devices written but not yet recorded are made again, identically (one directory listing, not a probe
    # per device: a fresh batch has nothing to remove)
    present = {name for name in os.listdir(batch_dir) if not name.startswith(".") and name not in (MANIFEST, "CD.der")}
    if present:
        for i in range(done, spec.count):
            name = _serial_of(spec, i, rows)
            if name in present:
                remove_tree(os.path.join(batch_dir, name))
    cd_der = ctx.cd_der
    if cd_der is not None:
        write_atomic(os.path.join(batch_dir, "CD.der"), cd_der)
    ctx = ctx._replace(key=key, serial_prefix=serial_prefix)
    if spec.count > 4096 and not spec.unique_discriminators:
        report.warn(f"{spec.count} devices share 4096 discriminators: each value is used at most "
                    f"{-(-spec.count // 4096)} times")

    jobs = job_count(req.jobs, spec.count - done)
    start = time.monotonic()
    made = produce(_Worker, ctx, make_devices, done=done, count=spec.count, jobs=jobs,
                   record_path=manifest_path, sync_root=batch_dir, progress=Progress(spec.count, done, req.quiet,
                                                                          signing=_token_of(req.pai_key)),
                   chunk_of=lambda lo, hi: [(i, rows[i] if rows is not None else {}) for i in range(lo, hi)])
    try:
        os.rmdir(staging)  # empty once every device is in place
    except OSError:
        remove_tree(staging, ignore_errors=True)
    state = {"fingerprint": fingerprint, "count": spec.count, "complete": True}  # the key is no longer needed
    write_state(state_path, state)
    sync_filesystem(batch_dir)
    return {"devices": spec.count, "new": made, "seconds": time.monotonic() - start, "manifest": manifest_path,
            "batch_dir": batch_dir}


class _FakeDac:
    """Stands for the DACs a batch will issue (VID/PID in the subject) in the CD checks."""

    def __init__(self, vid: int, pid: int):
        self.subject = _FakeName({"1.3.6.1.4.1.37244.2.1": f"{vid:04X}", "1.3.6.1.4.1.37244.2.2": f"{pid:04X}"})


class _FakeName:
    def __init__(self, values: dict):
        self.values = values

    def get(self, oid: str) -> list:
        return [self.values[oid]] if oid in self.values else []
