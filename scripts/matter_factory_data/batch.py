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
import hashlib
import hmac
import json
import os
import secrets
import string
import sys
import time

from . import spake2p
from .errors import InvalidInput, OperationFailed

MANIFEST_HEADER = ("serial,vendor_id,product_id,discriminator,passcode,manual_code,qr_code,spake2_it,spake2_salt,"
                   "rd_uid,dac_serial,dac_sha256,path")
DEFAULT_SERIAL_PATTERN = "{vid:04X}{pid:04X}-{n:06d}"
STATE_FILE = ".batch.json"
STAGING = ".staging"
MANIFEST = "manifest.csv"
SYNC_GROUP = 256
CSV_COLUMNS = ("serial", "passcode", "discriminator", "spake2_salt", "rd_uid", "dac_cert", "dac_key")
P256_ORDER = spake2p.P256_ORDER
# the factory data fields that differ between a batch's devices (the others are the same for all)
VARYING = ("sn", "dac_cert", "dac_key", "passcode", "spake2_salt", "spake2_verifier", "discriminator", "rd_uid", "user")
PASSCODE_DOMAIN = spake2p.MAX_PASSCODE - len([p for p in spake2p.INVALID_PASSCODES if 1 <= p <= spake2p.MAX_PASSCODE])
_INVALID_SORTED = sorted(p for p in spake2p.INVALID_PASSCODES if 1 <= p <= spake2p.MAX_PASSCODE)


# ---------------------------------------------------------------- derivations


class Keyed:
    """HKDF-Expand (RFC 5869) and small keyed permutations from one 32-byte batch key."""

    def __init__(self, key: bytes):
        self.prk = hmac.new(b"matter-factory-data batch", key, hashlib.sha256).digest()
        self._round_keys: dict = {}

    def derive(self, label: str, index: int, length: int) -> bytes:
        info = f"{label}:{index}".encode()
        out, block, counter = b"", b"", 1
        while len(out) < length:
            block = hmac.digest(self.prk, block + info + bytes([counter]), "sha256")
            out += block
            counter += 1
        return out[:length]

    def permute(self, label: str, value: int, domain: int) -> int:
        """A keyed permutation of range(domain): a 4-round Feistel network (keyed BLAKE2s round function)
        with cycle walking."""
        bits = max(2, (domain - 1).bit_length())
        half = (bits + 1) // 2
        mask = (1 << half) - 1
        rounds = self._round_keys.get(label)
        if rounds is None:  # the keyed round functions, keyed once (a copy costs less than keying again)
            key = self.derive(label, -1, 32)
            rounds = self._round_keys[label] = [hashlib.blake2s(digest_size=8, key=key, person=bytes([r]))
                                                for r in range(4)]
        x = value
        while True:
            left, right = x >> half, x & mask
            for keyed in rounds:
                h = keyed.copy()
                h.update(right.to_bytes(8, "big"))
                left, right = right, left ^ (int.from_bytes(h.digest(), "big") & mask)
            x = (left << half) | right
            if x < domain:
                return x


def passcode_from_rank(rank: int) -> int:
    """The rank-th valid passcode (0-based) in increasing order."""
    value = rank + 1
    for bad in _INVALID_SORTED:
        if value >= bad:
            value += 1
    return value


# ---------------------------------------------------------------- the batch description


class Spec:
    """Everything that defines a batch (and its fingerprint), plus how to run it."""

    IDENTITY = ("vendor_id", "product_id", "vendor_name", "product_name", "date", "hw_ver", "hw_ver_str",
                "sw_ver_str", "spake2_it", "salt_len", "format", "offset", "size", "serial_pattern", "serial_start",
                "count", "include_passcode", "enable_key", "rd_uid", "unique_discriminators", "product_finish",
                "primary_color", "png", "secrets_in_manifest", "valid_from", "lifetime")

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
    import csv

    from .fileio import read_bytes
    from .model import parse_hex

    text = read_bytes(path, "--csv").decode("utf-8-sig", errors="replace")
    reader = csv.reader(text.splitlines())
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
    rows, serials, passcodes, discs, bad = [], set(), set(), set(), 0
    for line_no, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        where = f"{path}:{line_no}"
        try:
            if len(fields) != len(header):
                raise InvalidInput(where, f"has {len(fields)} fields, the header has {len(header)} (missing column?)")
            row = {h: f.strip() for h, f in zip(header, fields)}
            out: dict = {"line": line_no}
            if row.get("serial"):
                s = row["serial"]
                if len(s.encode()) > 32:
                    raise InvalidInput(f"{where}: serial", f"{s!r} is longer than 32 bytes")
                if s in serials:
                    raise InvalidInput(f"{where}: serial", f"{s!r} appears twice")
                _check_dirname(s, f"{where}: serial")
                out["serial"] = s
            if row.get("passcode"):
                p = _csv_int(row, "passcode", where, 10)
                try:
                    spake2p.check_passcode(p)
                except InvalidInput as e:
                    raise InvalidInput(f"{where}: passcode", e.rule) from None
                if p in passcodes:
                    raise InvalidInput(f"{where}: passcode", "appears twice")
                out["passcode"] = p
            if row.get("discriminator"):
                d = _csv_int(row, "discriminator", where, 0)
                if not 0 <= d <= 4095:
                    raise InvalidInput(f"{where}: discriminator", f"{d} is out of range (allowed 0..4095)")
                if d in discs:
                    raise InvalidInput(f"{where}: discriminator", "appears twice")
                out["discriminator"] = d
            if row.get("spake2_salt"):
                try:
                    salt = base64.b64decode(row["spake2_salt"], validate=True)
                except ValueError:
                    raise InvalidInput(f"{where}: spake2_salt", "is not valid Base64") from None
                spake2p.check_salt(salt, f"{where}: spake2_salt")
                out["spake2_salt"] = salt
            if row.get("rd_uid"):
                uid = parse_hex(row["rd_uid"], f"{where}: rd_uid")
                if not 16 <= len(uid) <= 32:
                    raise InvalidInput(f"{where}: rd_uid", f"must be 16..32 bytes, got {len(uid)}")
                out["rd_uid"] = uid
            if row.get("dac_cert") or row.get("dac_key"):
                base = os.path.dirname(os.path.abspath(path))
                out["dac"] = load_dac_pair(os.path.join(base, row.get("dac_cert", "")),
                                           os.path.join(base, row.get("dac_key", "")), pai, where)
            user = {h[5:]: row[h] for h in header if h.startswith("user.") and row[h] != ""}
            if user:
                out["user"] = user
        except InvalidInput as e:
            report_bad(str(e))
            bad += 1
            continue
        serials.add(out.get("serial"))
        passcodes.add(out.get("passcode"))
        discs.add(out.get("discriminator"))
        rows.append(out)
    if bad and not skip_bad:
        raise InvalidInput(path, f"{bad} bad row(s); fix them or use --skip_bad_rows (nothing was produced)")
    if not rows:
        raise InvalidInput(path, "has no usable rows")
    return rows


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
    from . import attestation, keys

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


def check_one_dac_per_device(dac_pairs: list | None, rows: list | None, args) -> None:
    """The same DAC certificate or key given for two devices is refused before any work."""
    seen_cert: dict = {}
    seen_key: dict = {}
    given = [(f"--dac_dir pair {i + 1}", pair) for i, pair in enumerate(dac_pairs or [])]
    given += [(f"{args.csv} device {i + 1} ({row.get('serial') or 'no serial'})", row["dac"])
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

_W: dict = {}


def _worker_init(ctx: dict) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from . import attestation

    _worker_close()
    _W.update(ctx)
    _W["pai_key"] = ec.derive_private_key(ctx["pai_scalar"], ec.SECP256R1())
    _W["keyed"] = Keyed(ctx["key"])
    _W["template"] = attestation.DacTemplate(ctx["pai_der"], _W["pai_key"], ctx["vid"], ctx["pid"], ctx["cn"],
                                             ctx["not_before"], ctx["not_after"])
    from . import onboarding
    from .formats import nrfconnect
    from .model import FactoryData
    _W["modules"] = (onboarding, nrfconnect, FactoryData)
    _W["doc_template"] = nrfconnect.DocTemplate(VARYING)
    _W["validated"] = False
    _W["key_der"] = attestation.key_der_from_scalar
    if ctx["png"]:
        from .qrimage import BATCH_MASK, qr_png

        _W["qr_png"], _W["qr_mask"] = qr_png, BATCH_MASK
    if os.path.isdir(os.path.join(ctx["batch_dir"], STAGING)):  # not for the probe, which writes nothing
        _W["batch_fd"] = os.open(ctx["batch_dir"], os.O_RDONLY | os.O_DIRECTORY)
        _W["staging_fd"] = os.open(os.path.join(ctx["batch_dir"], STAGING), os.O_RDONLY | os.O_DIRECTORY)


def _worker_close() -> None:
    for name in ("batch_fd", "staging_fd"):
        if name in _W:
            os.close(_W[name])
    _W.clear()


def passcode_of(index: int) -> int:
    """The index-th device's passcode: a keyed permutation of the valid passcodes, skipping values a CSV row
    fixed (the candidates index, index + N, index + 2N, ... belong to this device alone)."""
    keyed, fixed, count = _W["keyed"], _W["fixed_passcodes"], _W["count"]
    k = index
    while True:
        value = passcode_from_rank(keyed.permute("passcode", k, PASSCODE_DOMAIN))
        if value not in fixed:
            return value
        k += count


def discriminator_of(index: int) -> int:
    """Unique discriminators while the batch has at most 4096 devices; beyond, each value is used
    floor(N/4096) or ceil(N/4096) times."""
    keyed, fixed, count = _W["keyed"], _W["fixed_discriminators"], _W["count"]
    if count > 4096:
        return keyed.permute("discriminator", index % 4096, 4096)
    k = index
    while k < 4096:
        value = keyed.permute("discriminator", k, 4096)
        if value not in fixed:
            return value
        k += count
    raise InvalidInput("discriminator", "no unused discriminator is left for this device (too many fixed in the CSV)")


def _remove_tree(path: str, ignore_errors: bool = False) -> None:
    import shutil  # only when something is to be removed: its import costs a few ms of every run's start

    shutil.rmtree(path, ignore_errors=ignore_errors)


def write_new(dir_fd: int, name: str, data: bytes, secret: bool) -> None:
    """Create ``name`` in the directory ``dir_fd`` (it must not exist) holding ``data``."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644, dir_fd=dir_fd)
    try:
        written = os.write(fd, data)
        if written < len(data):  # rare for regular files: a signal or a full disk
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def make_devices(chunk: list[tuple[int, dict]]) -> list[str]:
    """Write a chunk of devices (each staged, then renamed into place) and return their manifest rows."""
    return _write_devices(*_prepare_devices(chunk))


def probe_devices(ctx: dict, chunk: list[tuple[int, dict]]) -> None:
    """Make ``chunk``'s devices in memory (every value, check, certificate and encoding, no file): a batch
    runs this on its first and last device before it writes anything, so a bad option fails cleanly."""
    from . import attestation

    _worker_init(ctx)
    try:
        prepared = _prepare_devices(chunk)
        for k, (i, _row) in enumerate(chunk):
            attestation.check_issued(prepared[3][k], "dac", ctx["pai_der"], "pai", f"device {prepared[0][k]} DAC",
                                     ctx["date"])
    finally:
        _worker_close()


def _prepare_devices(chunk: list[tuple[int, dict]]) -> tuple:
    """Every value and encoding of a chunk's devices, checked, in memory.

    The work goes phase by phase over the whole chunk (values, PBKDF2, points, certificates, encodings,
    files, rows) rather than device by device: each phase's code then stays warm in the CPU's caches while it
    runs for every device, which measured 40-75 us less per device than one device at a time (about a
    sixth of the work that is not PBKDF2). A device whose values are bad stops the chunk before any file of
    the chunk is written."""
    w = _W
    onboarding, nrfconnect, FactoryData = w["modules"]
    keyed: Keyed = w["keyed"]
    vid, pid, it, fmt = w["vid"], w["pid"], w["spake2_it"], w["format"]
    # the values
    pattern, start = w["serial_pattern"], w["serial_start"]
    serials = [row.get("serial") or pattern.format(vid=vid, pid=pid, n=start + i) for i, row in chunk]
    passcodes = [row.get("passcode") or passcode_of(i) for i, row in chunk]
    discs = [row["discriminator"] if "discriminator" in row else discriminator_of(i) for i, row in chunk]
    salt_len = w["salt_len"]
    salts = [row.get("spake2_salt") or keyed.derive("salt", i, salt_len) for i, row in chunk]
    with_uid = w["rd_uid"]
    uids = [row.get("rd_uid") or (keyed.derive("rd_uid", i, 16) if with_uid else None) for i, row in chunk]
    # SPAKE2+: PBKDF2, then L = w1 * G
    compute_ws, w0_w1, point_from_scalar = spake2p.compute_ws, spake2p.w0_w1, spake2p.point_from_scalar
    ws = [w0_w1(compute_ws(p, s, it)) for p, s in zip(passcodes, salts)]
    verifiers = [w0.to_bytes(32, "big") + point_from_scalar(w1) for w0, w1 in ws]
    # the DACs: pre-provisioned pairs as they are; the others derived, then issued
    pairs = w["dac_pairs"]
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
            dac_serials.append(w["serial_prefix"] << 32 | (i + 1))
            dac_points.append(None)
    public_point = spake2p.p256_point
    for k, point in enumerate(dac_points):
        if point is None:
            dac_points[k] = public_point(int.from_bytes(dac_keys[k], "big"))
    issue = w["template"].issue
    for k, der in enumerate(dac_ders):
        if der is None:
            dac_ders[k] = issue(dac_serials[k], dac_points[k], deterministic=True)
    # the factory data, checked
    include_passcode = w["include_passcode"]
    fds = [FactoryData(
        sn=serials[k], vendor_id=vid, product_id=pid, vendor_name=w["vendor_name"],
        product_name=w["product_name"], date=w["date"], hw_ver=w["hw_ver"], hw_ver_str=w["hw_ver_str"],
        sw_ver_str=w["sw_ver_str"], dac_cert=dac_ders[k], dac_key=dac_keys[k], pai_cert=w["pai_der"],
        passcode=passcodes[k] if include_passcode else None, spake2_it=it, spake2_salt=salts[k],
        spake2_verifier=verifiers[k], discriminator=discs[k], rd_uid=uids[k], enable_key=w["enable_key"],
        product_finish=w["product_finish"], primary_color=w["primary_color"], user=row.get("user"),
    ) for k, (_, row) in enumerate(chunk)]
    for fd in fds:
        if w["validated"]:  # the constant fields were checked with the worker's first device
            fd.validate_fields(VARYING)
        else:
            fd.validate(check_verifier=False, verifier_computed=True)
            w["validated"] = True
    # the encodings
    payloads = [onboarding.SetupPayload(vid, pid, d, p) for d, p in zip(discs, passcodes)]
    qrs = [onboarding.qr_code(p) for p in payloads]
    manuals = [onboarding.manual_code(p) for p in payloads]
    if fmt == "nrfconnect":
        render = w["doc_template"].render
        docs = [render(fd) for fd in fds]
        json_texts = [text for text, _ in docs]
        size = w["size"]
        for (_, image), serial in zip(docs, serials):
            if len(image) > size:
                raise InvalidInput(f"device {serial}", f"factory data needs {len(image)} bytes, the partition holds {size}")
        offset = w["offset"]
        images = [("factory_data.hex", [nrfconnect.to_intel_hex(image, offset) for _, image in docs]),
                  ("factory_data.bin", [image for _, image in docs])]
    else:
        json_texts = [json.dumps(fd.to_doc()).encode("ascii") for fd in fds]
        if fmt == "nxp":
            images = [("factory_data.bin", [_nxp_image(fd, p, w["cd_der"]) for fd, p in zip(fds, passcodes)])]
        else:
            images = [("partition.bin", [_esp32_image(fd, pt, w["cd_der"]) for fd, pt in zip(fds, dac_points)])]
    texts = [onboarding.onboarding_text(m, q).encode("ascii") for m, q in zip(manuals, qrs)]
    pngs = [w["qr_png"](q, mask=w["qr_mask"]) for q in qrs] if w["png"] else None
    key_der = w["key_der"]
    key_ders = [key_der(int.from_bytes(key, "big"), point) for key, point in zip(dac_keys, dac_points)]
    return (serials, json_texts, images, dac_ders, key_ders, texts, pngs, discs, passcodes, manuals, qrs, salts,
            uids, dac_serials)


def _write_devices(serials, json_texts, images, dac_ders, key_ders, texts, pngs, discs, passcodes, manuals, qrs,
                   salts, uids, dac_serials) -> list[str]:
    """The files of prepared devices (each staged, then renamed into place) and their manifest rows."""
    w = _W
    vid, pid, it = w["vid"], w["pid"], w["spake2_it"]
    # the files: each device staged, then renamed into place
    staging, batch_fd = w["staging_fd"], w["batch_fd"]
    for k, serial in enumerate(serials):
        try:
            os.mkdir(serial, 0o755, dir_fd=staging)
        except FileExistsError:  # left by an earlier attempt at this device in this run
            _remove_tree(os.path.join(w["batch_dir"], STAGING, serial))
            os.mkdir(serial, 0o755, dir_fd=staging)
        # by path from the staging directory (no descriptor of the device directory to open and close)
        here = serial + "/"
        write_new(staging, here + "factory_data.json", json_texts[k], True)
        for name, datas in images:
            write_new(staging, here + name, datas[k], True)
        write_new(staging, here + "onboarding.txt", texts[k], True)
        if pngs is not None:
            write_new(staging, here + "onboarding.png", pngs[k], True)
        write_new(staging, here + "DAC_cert.der", dac_ders[k], False)
        write_new(staging, here + "DAC_key.der", key_ders[k], True)
        try:
            os.rename(serial, serial, src_dir_fd=staging, dst_dir_fd=batch_fd)
        except OSError:  # a directory of that name is in the way (the run removed it; someone made it again)
            _remove_tree(os.path.join(w["batch_dir"], serial))
            os.rename(serial, serial, src_dir_fd=staging, dst_dir_fd=batch_fd)
    # the manifest rows
    secrets_out = w["secrets_in_manifest"]
    vid_text, pid_text, it_text = f"0x{vid:04X}", f"0x{pid:04X}", str(it)
    return [csv_text([[serial, vid_text, pid_text, str(discs[k]),
                       str(passcodes[k]) if secrets_out else "", manuals[k] if secrets_out else "",
                       qrs[k] if secrets_out else "", it_text, base64.b64encode(salts[k]).decode(),
                       uids[k].hex() if uids[k] else "", f"{dac_serials[k]:x}",
                       hashlib.sha256(dac_ders[k]).hexdigest(), serial]])
            for k, serial in enumerate(serials)]


def _nxp_image(fd, passcode: int, cd_der: bytes) -> bytes:
    """The NXP binary of one device (the same entries ``matter-factory-data nxp`` writes)."""
    from .formats import nxp

    entries = {1: fd.spake2_verifier, 2: fd.spake2_salt, 3: fd.spake2_it, 4: fd.dac_key, 5: fd.dac_cert,
               6: fd.pai_cert, 7: fd.discriminator, 8: passcode, 9: fd.vendor_id, 10: fd.product_id,
               11: cd_der, 12: fd.vendor_name, 13: fd.product_name, 14: fd.sn, 15: fd.date, 16: fd.hw_ver,
               17: fd.hw_ver_str}
    if fd.rd_uid is not None:
        entries[18] = fd.rd_uid
    if fd.product_finish is not None:
        entries[22] = fd.product_finish
    if fd.primary_color is not None:
        entries[23] = fd.primary_color
    return nxp.plain_image(nxp.encode_payload(entries))


def _esp32_image(fd, dac_point: bytes, cd_der: bytes | None) -> bytes:
    """The NVS partition of one device (esp-matter-mfg-tool's keys and order)."""
    from .formats import esp32

    values = dict(discriminator=fd.discriminator, iteration_count=fd.spake2_it, salt=fd.spake2_salt,
                  vendor_id=fd.vendor_id, vendor_name=fd.vendor_name, product_id=fd.product_id,
                  product_name=fd.product_name, hw_ver=fd.hw_ver, hw_ver_str=fd.hw_ver_str, date=fd.date,
                  rd_uid=fd.rd_uid, product_finish=fd.product_finish, product_color=fd.primary_color,
                  part_number=fd.part_number, serial=fd.sn, dac_cert=fd.dac_cert, dac_key=fd.dac_key,
                  dac_pub_key=dac_point, pai_cert=fd.pai_cert, verifier=fd.spake2_verifier, cd=cd_der)
    return esp32.partition([(esp32.NAMESPACE, esp32.chip_factory_entries(values))])


def csv_text(rows: list[list[str]], end: str = "\n") -> str:
    """CSV as Python's csv module writes it (minimal quoting). Rows with no comma, quote or line break in any
    field, and no row that is a single empty field (the module quotes that one), are joined directly: that
    is what the module writes for them, at a fraction of the cost."""
    lines = []
    for row in rows:
        line = ",".join(row)
        if line.count(",") != len(row) - 1 or '"' in line or "\r" in line or "\n" in line or row == [""]:
            import csv
            import io

            buf = io.StringIO()
            csv.writer(buf, lineterminator=end).writerows(rows)
            return buf.getvalue()
        lines.append(line + end)
    return "".join(lines)


def chunk_bounds(start: int, stop: int, jobs: int, most: int = 16):
    """(first, end) of each chunk of devices start..stop-1: at most ``most`` devices (about 15 ms of work),
    fewer as the end nears, so the workers run out of work within a device or two of each other."""
    while start < stop:
        size = max(1, min(most, (stop - start) // (jobs * 4)))
        yield start, start + size
        start += size


# ---------------------------------------------------------------- driver


def run_ordered(init, ctx, work, chunks, jobs: int, consume, close=None) -> None:
    """The batch engine: ``work(chunk)`` for every chunk, in ``jobs`` forked worker processes (each set up
    once with ``init(ctx)``), results handed to ``consume`` in chunk order whatever the timing.

    Each worker has two chunks queued (so it never waits for this process) and gets the next one as soon as
    it returns a result, so a worker slowed by anything else on its core simply does fewer chunks. Results
    that arrive early wait here for their turn; with at most two chunks per worker in flight, memory does
    not grow with the number of chunks. A worker's exception is raised here when its chunk's turn comes; a
    worker that dies, or Ctrl-C (which the workers ignore), stops them all. With one job (or one chunk)
    everything runs in this process and ``close`` undoes ``init`` afterwards."""
    import itertools

    source = iter(chunks)
    first = list(itertools.islice(source, 2))
    if jobs == 1 or len(first) < 2:
        init(ctx)
        try:
            for c in itertools.chain(first, source):
                consume(work(c))
        finally:
            if close is not None:
                close()
        return
    import collections
    import select
    import signal

    tasks = enumerate(itertools.chain(first, source))
    sys.stdout.flush()
    sys.stderr.flush()
    pids, to_worker, from_worker = [], [], []
    try:
        for _ in range(jobs):
            task_r, task_w = os.pipe()
            result_r, result_w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker
                for fd in (task_w, result_r, *to_worker, *from_worker):
                    os.close(fd)
                _worker_main(init, ctx, work, task_r, result_w)
            os.close(task_r)
            os.close(result_w)
            pids.append(pid)
            to_worker.append(task_w)
            from_worker.append(result_r)
        in_flight = [collections.deque() for _ in range(jobs)]  # chunks sent to each worker, not yet answered
        done = [False] * jobs  # told there is nothing more, or stopped
        buffers = [bytearray() for _ in range(jobs)]

        spare: collections.deque = collections.deque()  # chunks a stopped worker could not take

        def feed(k: int) -> None:
            if done[k]:
                return
            item = spare.popleft() if spare else next(tasks, None)
            try:
                _send(to_worker[k], item)  # None: the worker finishes what it has and exits
            except BrokenPipeError:  # it stopped (its error or death is read next)
                if item is not None:
                    spare.append(item)
                done[k] = True
                return
            if item is None:
                done[k] = True
            else:
                in_flight[k].append(item[0])

        for k in range(jobs):
            feed(k)
            feed(k)
        waiting: dict = {}  # results that arrived before their turn: chunk -> (ok, result or (error, traceback))
        turn = 0
        running = set(range(jobs))
        while running:
            ready, _, _ = select.select([from_worker[k] for k in running], [], [])
            for fd in ready:
                k = from_worker.index(fd)
                data = os.read(fd, 1 << 16)
                if not data:  # the worker exited; if it still had chunks, it died: reported at their turn
                    running.discard(k)
                    if in_flight[k]:
                        died = OperationFailed("a batch worker process died (killed, or out of memory); run the "
                                               "same command again to finish the batch")
                        waiting[in_flight[k][0]] = (False, (died, None))
                    continue
                buf = buffers[k]
                buf += data
                while len(buf) >= 4 and len(buf) >= 4 + _message_size(buf[:4]):
                    n = _message_size(buf[:4])
                    c, ok, value = _loads(buf[:4], bytes(buf[4 : 4 + n]))
                    del buf[: 4 + n]
                    if c < 0:  # the worker's set-up failed
                        raise value[0] from _RemoteError(value[1])
                    waiting[c] = (ok, value)
                    in_flight[k].popleft()
                    if ok:
                        feed(k)
                    else:  # it has stopped; the error is raised when this chunk's turn comes
                        in_flight[k].clear()
                        done[k] = True
            while turn in waiting:
                ok, value = waiting.pop(turn)
                if not ok:
                    error, remote = value
                    raise error from (_RemoteError(remote) if remote else None)
                consume(value)
                turn += 1
        if waiting or spare or next(tasks, None) is not None:
            raise OperationFailed(f"the batch workers stopped before chunk {turn} was done")
    except BaseException:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise
    finally:
        for fd in (*to_worker, *from_worker):
            os.close(fd)
        for pid in pids:
            os.waitpid(pid, 0)


class _RemoteError(Exception):
    """The traceback of an exception raised in a batch worker."""


def _worker_main(init, ctx, work, tasks: int, results: int) -> None:
    """A forked worker: set up, then do each chunk it is sent and send back (chunk number, ok, result);
    never returns (the parent's cleanup handlers must not run here)."""
    import signal

    code = 0
    c = -1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent handles it
        try:
            init(ctx)
            reader = open(tasks, "rb")
            while True:
                head = reader.read(4)
                if len(head) < 4:
                    break
                task = _loads(head, reader.read(_message_size(head)))
                if task is None:
                    break
                c, chunk = task
                _send(results, (c, True, work(chunk)))
        except BrokenPipeError:
            code = 1
        except BaseException as e:  # noqa: BLE001 (handed to the parent)
            import pickle  # only now: importing it costs each worker a few ms of its start
            import traceback

            code = 1
            try:
                pickle.loads(pickle.dumps(e))
            except Exception:  # noqa: BLE001
                e = OperationFailed(f"batch worker: {type(e).__name__}: {e}")
            _send(results, (c, False, (e, traceback.format_exc())))
    except BaseException:  # noqa: BLE001 (nothing more can be reported)
        code = 1
    finally:
        os._exit(code)


_PICKLED = 1 << 31  # in a message's length word: the message needed pickle (a worker's exception)


def _send(fd: int, message) -> None:
    """One message down a pipe: its length (4 bytes) and its marshal bytes (chunks and results are plain
    lists, tuples, dicts, strings, numbers and bytes), or pickle bytes for anything else."""
    import marshal

    try:
        data, flag = marshal.dumps(message), 0
    except ValueError:
        import pickle

        data, flag = pickle.dumps(message, pickle.HIGHEST_PROTOCOL), _PICKLED
    view = memoryview((len(data) | flag).to_bytes(4, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def _message_size(head: bytes) -> int:
    return int.from_bytes(head, "little") & ~_PICKLED


def _loads(head: bytes, data: bytes):
    if int.from_bytes(head, "little") & _PICKLED:
        import pickle

        return pickle.loads(data)
    import marshal

    return marshal.loads(data)


def _serial_of(spec: Spec, index: int, rows: list | None) -> str:
    if rows is not None and rows[index].get("serial"):
        return rows[index]["serial"]
    return spec.serial_pattern.format(vid=spec.vendor_id, pid=spec.product_id, n=spec.serial_start + index)


def sync_filesystem(path: str) -> None:
    """Make every write to the filesystem holding ``path`` durable: syncfs(2) where the C library has it
    (only that filesystem), else sync(2)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def read_state(path: str) -> dict | None:
    """A run's state file (JSON), or None when there is none."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise OperationFailed(f"cannot read the batch state {path}: {e}") from None


def _write_state(path: str, state: dict) -> None:
    from .fileio import write_atomic

    write_atomic(path, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode(), secret=True)


def complete_lines(path: str) -> int:
    """The complete lines of an append-only record file; a torn last line (power loss mid-append) is cut
    off."""
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return data[:keep].count(b"\n")


def _recover_manifest(path: str) -> int:
    """Rows already recorded (the header line is not a row)."""
    return max(0, complete_lines(path) - 1)


class Progress:
    """A bar with rate and ETA on a terminal (tqdm), plain periodic lines otherwise, nothing when quiet."""

    def __init__(self, total: int, done: int, quiet: bool, label: str = "batch"):
        self.total, self.done, self.quiet, self.label = total, done, quiet, label
        self.start = time.monotonic()
        self.first = done
        self.last_line = self.start
        self.bar = None
        if not quiet and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=done, unit="dev", file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def update(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last_line >= 5 or self.done == self.total:
            rate = (self.done - self.first) / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate else 0
            print(f"{self.label}: {self.done}/{self.total} devices, {rate:.0f} devices/s, ETA {eta:.0f} s",
                  file=sys.stderr, flush=True)
            self.last_line = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(spec: Spec, args, report) -> dict:
    """Produce (or finish) a batch; returns a summary."""
    from . import attestation, keys
    from .fileio import read_bytes

    if spec.format == "nxp" and not args.cd:
        raise InvalidInput("--cd", "required with --format nxp (the NXP image carries the Certification Declaration)")
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

    # credentials
    pai_der = keys.load_certificate_der(args.pai_cert, "--pai_cert")
    pai = attestation.load_cert(pai_der, "--pai_cert")
    # the scalar, not a key object: plain key files are read without cryptography's serialization stack,
    # whose import alone costs a noticeable part of a small batch
    pai_scalar = keys.load_dac_scalar(args.pai_key, "--pai_key", getattr(args, "pai_key_password", None))
    if not attestation.key_matches(pai, pai_scalar):
        raise InvalidInput("--pai_key", "does not match --pai_cert")
    paa = None
    if args.paa_cert:
        paa = attestation.load_cert(keys.load_certificate_der(args.paa_cert, "--paa_cert"), "--paa_cert")
    # the PAI can issue DACs (a CA, under its PAA, unexpired on the manufacturing date) for this VID/PID
    attestation.check_issuer(pai, "pai", spec.date, issuer=paa, warn=report.warn)
    pai_vid, pai_pid = attestation.matter_ids(pai, lenient=True)
    if pai_vid is not None and pai_vid != spec.vendor_id:
        raise InvalidInput("--vendor_id", f"0x{spec.vendor_id:04X} differs from the PAI vendor ID 0x{pai_vid:04X}")
    if pai_pid is not None and pai_pid != spec.product_id:
        raise InvalidInput("--product_id", f"0x{spec.product_id:04X} differs from the PAI product ID 0x{pai_pid:04X}")
    cd_der = None
    if args.cd:
        from . import cd

        cd_der = read_bytes(args.cd, "--cd")
        content = cd.parse(cd_der, "--cd").content
        problems = cd.check_against_certificates(content, _FakeDac(spec.vendor_id, spec.product_id), pai)
        if content.vendor_id != spec.vendor_id or spec.product_id not in content.product_ids:
            problems.insert(0, f"the CD is for vendor 0x{content.vendor_id:04X}, products "
                               f"{', '.join(f'0x{p:04X}' for p in content.product_ids)}")
        if problems:
            raise InvalidInput("--cd", problems[0])

    # devices
    rows = None
    csv_digest = None
    if args.csv:
        def bad_row(line: str) -> None:
            if args.skip_bad_rows:
                report.warn(f"skipped {line}")
            else:
                print(f"{report.prog}: error: {line}", file=sys.stderr)

        rows = read_csv_rows(args.csv, pai, bad_row, args.skip_bad_rows)
        csv_digest = hashlib.sha256(read_bytes(args.csv, "--csv")).hexdigest()
        spec.count = len(rows)
    if not spec.count or spec.count < 1:
        raise InvalidInput("--count", "give --count N (N >= 1) or --csv FILE")
    if spec.unique_discriminators and spec.count > 4096:
        raise InvalidInput("--unique_discriminators", f"{spec.count} devices cannot have unique 12-bit discriminators "
                                                      f"(at most 4096)")
    dac_pairs = None
    if args.dac_dir:
        files = dac_dir_pairs(args.dac_dir)
        if len(files) < spec.count:
            raise InvalidInput("--dac_dir", f"holds {len(files)} DAC pairs for {spec.count} devices")
        dac_pairs = [load_dac_pair(c, k, pai, os.path.basename(c)) for c, k in files[: spec.count]]
    check_one_dac_per_device(dac_pairs, rows, args)
    if args.seed is not None:
        if not 0xFFF1 <= spec.vendor_id <= 0xFFF4 and not args.force:
            raise InvalidInput("--seed", f"derives every key and passcode from the seed: refused for the production "
                                         f"vendor ID 0x{spec.vendor_id:04X} (use --force to insist)")
        report.warn("=" * 20 + " --seed: every DAC key, passcode and salt of this batch can be recomputed from the "
                    "seed; use it for test batches only " + "=" * 20)

    # the DACs' validity: inside the PAI's, from the manufacturing date unless --valid_from says otherwise
    not_before, not_after = dac_validity(spec, pai)
    seed_key = hashlib.sha256(b"matter-factory-data seed:" + args.seed.encode()).digest() if args.seed is not None \
        else None
    batch_dir = os.path.join(args.out, f"{spec.vendor_id:04x}_{spec.product_id:04x}")
    ctx = {
        "key": seed_key or secrets.token_bytes(32), "vid": spec.vendor_id, "pid": spec.product_id,
        "vendor_name": spec.vendor_name,
        "product_name": spec.product_name, "date": spec.date, "hw_ver": spec.hw_ver, "hw_ver_str": spec.hw_ver_str,
        "sw_ver_str": spec.sw_ver_str, "spake2_it": spec.spake2_it, "salt_len": spec.salt_len,
        "serial_pattern": spec.serial_pattern, "serial_start": spec.serial_start, "count": spec.count,
        "include_passcode": spec.include_passcode, "enable_key": spec.enable_key, "rd_uid": spec.rd_uid,
        "product_finish": spec.product_finish, "primary_color": spec.primary_color, "png": spec.png,
        "secrets_in_manifest": spec.secrets_in_manifest, "offset": spec.offset, "size": spec.size,
        "batch_dir": batch_dir,
        "pai_der": pai_der, "pai_scalar": pai_scalar, "cn": f"{spec.vendor_name} {spec.product_name}"[:64],
        "not_before": not_before, "not_after": not_after, "serial_prefix": 1, "dac_pairs": dac_pairs,
        "format": spec.format, "cd_der": cd_der,
        "fixed_passcodes": frozenset(r["passcode"] for r in rows if "passcode" in r) if rows else frozenset(),
        "fixed_discriminators": frozenset(r["discriminator"] for r in rows if "discriminator" in r) if rows else frozenset(),
    }
    # every option is checked on real devices before the first byte is written: the first and the last
    # (the longest generated serial), made in memory
    probe_devices(ctx, [(i, rows[i] if rows is not None else {}) for i in sorted({0, spec.count - 1})])

    # the batch directory, locked for this run, and its state
    state_path = os.path.join(batch_dir, STATE_FILE)
    manifest_path = os.path.join(batch_dir, MANIFEST)
    fingerprint = spec.fingerprint(pai_der, csv_digest, args.dac_dir, args.seed)
    if not os.path.isdir(args.out):
        try:
            os.makedirs(args.out)
        except OSError as e:
            raise OperationFailed(f"--out: cannot create '{args.out}': {e.strerror or e}") from None
    try:
        os.mkdir(batch_dir)
    except FileExistsError:
        pass
    except OSError as e:
        raise OperationFailed(f"--out: cannot create '{batch_dir}': {e.strerror or e}") from None
    lock = BatchLock(batch_dir)
    try:
        return _run_locked(spec, args, report, ctx, rows, batch_dir, state_path, manifest_path, fingerprint,
                           seed_key, lock)
    finally:
        lock.release()


def dac_validity(spec: Spec, pai):
    """(notBefore, notAfter) of a batch's DACs: from --valid_from or the manufacturing date at 00:00:00 UTC,
    for --lifetime days or until the PAI ends; outside the PAI's validity is an error, not a silent change."""
    import datetime

    from . import attestation

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


class BatchLock:
    """One run per batch directory: an exclusive ``flock`` on ``.batch.lock``, which holds the owner's PID
    while the run lasts and is removed when it ends. The kernel drops the lock when its process ends, kill -9
    included, so it can never be left stuck (a file left by a killed run is simply locked again)."""

    NAME = ".batch.lock"

    def __init__(self, batch_dir: str):
        import fcntl

        self.path = os.path.join(batch_dir, self.NAME)
        while True:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    owner = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip()
                except OSError:
                    owner = ""
                os.close(self.fd)
                self.fd = -1
                by = f" by process {owner}" if owner.isdigit() else ""
                raise OperationFailed(f"{batch_dir} is in use{by}: another batch is writing into it; wait for it "
                                      f"to finish (the same command then resumes or confirms the batch)") from None
            try:  # the lock is ours only if the file is still the one at the path (not removed by its last owner)
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(self.fd)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            try:
                os.unlink(self.path)  # while still locked: a waiting run then retries on a new file
            except OSError:
                pass
            os.close(self.fd)  # closing drops the lock
            self.fd = -1


def _clear_dir(path: str) -> None:
    """Remove everything in a batch directory but its lock."""
    for name in os.listdir(path):
        if name == BatchLock.NAME:
            continue
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            _remove_tree(full)
        else:
            os.unlink(full)


def _run_locked(spec: Spec, args, report, ctx: dict, rows, batch_dir: str, state_path: str, manifest_path: str,
                fingerprint: str, seed_key: bytes | None, lock: BatchLock) -> dict:
    state = read_state(state_path)
    if state is not None and state.get("fingerprint") != fingerprint:
        if not args.overwrite:
            raise OperationFailed(f"{batch_dir} holds a different batch; use --overwrite to replace it "
                                  f"(or choose another --out)")
        _clear_dir(batch_dir)
        state = None
    if state is None and set(os.listdir(batch_dir)) - {BatchLock.NAME}:
        if not args.overwrite:
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
        _write_state(state_path, state)
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
    staging = os.path.join(batch_dir, STAGING)
    if os.path.isdir(staging):
        _remove_tree(staging)
    os.mkdir(staging, 0o700)
    # devices written but not yet recorded are made again, identically (one directory listing, not a probe
    # per device: a fresh batch has nothing to remove)
    present = {name for name in os.listdir(batch_dir) if not name.startswith(".") and name not in (MANIFEST, "CD.der")}
    if present:
        for i in range(done, spec.count):
            name = _serial_of(spec, i, rows)
            if name in present:
                _remove_tree(os.path.join(batch_dir, name))
    cd_der = ctx["cd_der"]
    if cd_der is not None:
        from .fileio import write_atomic

        write_atomic(os.path.join(batch_dir, "CD.der"), cd_der)
    ctx["key"] = key
    ctx["serial_prefix"] = serial_prefix
    if spec.count > 4096 and not spec.unique_discriminators:
        report.warn(f"{spec.count} devices share 4096 discriminators: each value is used at most "
                    f"{-(-spec.count // 4096)} times")

    jobs = max(1, min(args.jobs or os.cpu_count() or 1, spec.count - done))  # no idle workers for small batches
    progress = Progress(spec.count, done, args.quiet)
    start = time.monotonic()
    made = 0
    manifest = open(manifest_path, "a", encoding="utf-8")
    pending_rows: list[str] = []

    def flush_rows(final: bool = False) -> None:
        if pending_rows:
            sync_filesystem(batch_dir)  # the devices' files are durable before the manifest names them
            manifest.write("".join(pending_rows))
            manifest.flush()
            os.fsync(manifest.fileno())
            pending_rows.clear()

    def chunks():
        for lo, hi in chunk_bounds(done, spec.count, jobs):
            yield [(i, rows[i] if rows is not None else {}) for i in range(lo, hi)]

    def consume(lines: list[str]) -> None:
        nonlocal made
        pending_rows.extend(lines)
        made += len(lines)
        progress.update(len(lines))
        if len(pending_rows) >= SYNC_GROUP:
            flush_rows()

    try:
        run_ordered(_worker_init, ctx, make_devices, chunks(), jobs, consume, close=_worker_close)
        flush_rows(final=True)
    finally:
        manifest.close()
        progress.close()
    try:
        os.rmdir(staging)  # empty once every device is in place
    except OSError:
        _remove_tree(staging, ignore_errors=True)
    state = {"fingerprint": fingerprint, "count": spec.count, "complete": True}  # the key is no longer needed
    _write_state(state_path, state)
    sync_filesystem(batch_dir)
    return {"devices": spec.count, "new": made, "seconds": time.monotonic() - start, "manifest": manifest_path,
            "batch_dir": batch_dir}


class _FakeDac:
    """Stands for the DACs a batch will issue (VID/PID in the subject) in the CD checks."""

    def __init__(self, vid: int, pid: int):
        from .der import Name  # noqa: F401  (same interface as der.Certificate.subject)

        self.subject = _FakeName({"1.3.6.1.4.1.37244.2.1": f"{vid:04X}", "1.3.6.1.4.1.37244.2.2": f"{pid:04X}"})


class _FakeName:
    def __init__(self, values: dict):
        self.values = values

    def get(self, oid: str) -> list:
        return [self.values[oid]] if oid in self.values else []
