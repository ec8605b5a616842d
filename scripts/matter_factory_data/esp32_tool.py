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
import io
import os
import secrets
import struct
import uuid
import zlib

from . import attestation, onboarding, spake2p
from .errors import InvalidInput, OperationFailed
from .fileio import read_bytes
from .formats import esp32

FILE_KEYS = ("dac-cert", "dac-key", "dac-pub-key", "pai-cert", "cert-dclrn")
FINISHES = ["other", "matte", "satin", "polished", "rugged", "fabric"]
COLORS = ["black", "navy", "green", "teal", "maroon", "purple", "olive", "gray", "blue", "lime", "aqua", "red",
          "fuchsia", "yellow", "white", "nickel", "chrome", "brass", "copper", "silver", "gold"]
CALENDARS = ["Buddhist", "Chinese", "Coptic", "Ethiopian", "Gregorian", "Hebrew", "Indian", "Islamic", "Japanese",
             "Korean", "Persian", "Taiwanese"]


def _csv_text(rows: list[list[str]], crlf: bool) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    return buf.getvalue().encode()


def _write(path: str, data: bytes, secret: bool = False) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


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


def list_entries(args) -> list[tuple[str, str, object]]:
    """The calendar/locale/fixed-label/supported-mode keys, in the reference's order."""
    out: list[tuple[str, str, object]] = []
    if args.calendar_types:
        mask = 0
        for name in args.calendar_types:
            if name not in CALENDARS:
                raise InvalidInput("--calendar-types", f"{name!r} is not one of {', '.join(CALENDARS)}")
            mask |= 1 << CALENDARS.index(name)
        out.append(("cal-types", "u32", mask))
    if args.locales:
        out.append(("locale-sz", "u32", len(args.locales)))
        out += [(f"locale/{i:x}", "string", loc) for i, loc in enumerate(args.locales)]
    if args.fixed_labels:
        per_ep: dict[int, list[tuple[str, str]]] = {}
        for item in args.fixed_labels:
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
    if args.supported_modes:
        per_ep2: dict[int, list] = {}
        for item in args.supported_modes:
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


def _user_csv(args) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """(schema: (namespace, key, encoding), one values dict per device) from --csv/--mcsv."""
    if bool(args.csv) != bool(args.mcsv):
        raise InvalidInput("--csv/--mcsv", "give both or neither")
    if not args.csv:
        return [], []
    schema, ns = [], esp32.NAMESPACE
    for line_no, row in enumerate(csv.reader(read_bytes(args.csv, "--csv").decode().splitlines()), start=1):
        if not row or not row[0].strip():
            continue
        name, typ = row[0].strip(), (row[1].strip() if len(row) > 1 else "")
        if typ == "namespace":
            ns = name
            continue
        if typ not in ("data", "file") or len(row) < 3:
            raise InvalidInput(f"{args.csv}:{line_no}", "rows are key,type,encoding (type data or file) or name,namespace,")
        enc = row[2].strip()
        if enc not in ("string", "binary", "hex2bin", "base64", "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"):
            raise InvalidInput(f"{args.csv}:{line_no}", f"unknown encoding {enc!r}")
        if len(name) > 15:
            raise InvalidInput(f"{args.csv}:{line_no}", f"key {name!r} is longer than 15 characters")
        schema.append((ns, name, enc if typ == "data" else "binary:file"))
    values = list(csv.DictReader(io.StringIO(read_bytes(args.mcsv, "--mcsv").decode())))
    for i, row in enumerate(values, start=2):
        for ns_, key, _ in schema:
            if key not in row:
                raise InvalidInput(f"{args.mcsv}:{i}", f"no value for {key!r}")
    return schema, values


def run(args, report) -> str:
    vid, pid = args.vendor_id, args.product_id
    for option, value in (("--vendor-id", vid), ("--product-id", pid)):
        if not 0 <= value <= 0xFFFF:
            raise InvalidInput(option, f"0x{value:X} does not fit 16 bits")
    schema, mrows = _user_csv(args)
    count = len(mrows) if mrows else args.count
    single = [o for o, v in (("--passcode", args.passcode), ("--discriminator", args.discriminator),
                             ("--dac-key", args.dac_key), ("--serial-num", args.serial_num),
                             ("--rd-id-uid", args.rd_id_uid), ("--salt", args.salt), ("--verifier", args.verifier))
              if v is not None]
    if single and count != 1:
        raise InvalidInput(single[0], f"fixes a per-device value: use -n 1 (got {count})")
    if count < 1:
        raise InvalidInput("-n", "must be at least 1")
    if args.size % 4096:
        raise InvalidInput("--size", f"0x{args.size:x} is not a multiple of 4096")
    if args.dac_in_secure_cert or args.commissionable_data_in_secure_cert or args.rd_id_uid_in_secure_cert \
            or args.ds_peripheral:
        raise OperationFailed("esp_secure_cert partitions are not produced by this version; leave out the "
                              "--*-in-secure-cert and --ds-peripheral options")
    spake2p.check_iterations(args.iteration_count, "--iteration-count")
    if args.passcode is not None:
        spake2p.check_passcode(args.passcode, "--passcode")
    if args.discriminator is not None and not 0 <= args.discriminator <= 0xFFF:
        raise InvalidInput("--discriminator", f"{args.discriminator} is out of range (allowed 0..4095)")
    if (args.salt is None) != (args.verifier is None) or (args.salt is not None and args.passcode is None):
        if args.salt is not None or args.verifier is not None:
            raise InvalidInput("--salt/--verifier", "give --salt, --verifier and --passcode together")
    if args.salt is not None:
        spake2p.check_salt(args.salt, "--salt")
        if spake2p.generate_verifier(args.passcode, args.salt, args.iteration_count) != args.verifier:
            raise InvalidInput("--verifier", "does not match --passcode, --salt and --iteration-count")
    if args.commissioning_flow not in (0, 1, 2):
        raise InvalidInput("--commissioning-flow", "must be 0, 1 or 2")
    if not 0 < args.discovery_mode <= 0x3E or args.discovery_mode & ~0x3E:
        raise InvalidInput("--discovery-mode", f"{args.discovery_mode} is not a valid discovery bitmask (bits 1-5)")
    if args.serial_num is not None and not 1 <= len(args.serial_num) <= 32:
        raise InvalidInput("--serial-num", "must be 1..32 characters")
    rd_uid_fixed = None
    if args.rd_id_uid is not None:
        try:
            rd_uid_fixed = bytes.fromhex(args.rd_id_uid)
        except ValueError:
            raise InvalidInput("--rd-id-uid", "is not a hex string") from None
        if len(rd_uid_fixed) != 16:
            raise InvalidInput("--rd-id-uid", "must be 32 hex digits (16 bytes)")
    if args.mfg_date is not None:
        d = args.mfg_date
        if not (len(d) in (8, 10, 16, 18) and d[:4].isdigit()):
            raise InvalidInput("--mfg-date", f"{d!r} is not YYYY-MM-DD or YYYYMMDD (plus up to 8 vendor characters)")
    extra_nvs = list_entries(args)
    for name, value, limit in (("--vendor-name", args.vendor_name, 32), ("--product-name", args.product_name, 32),
                               ("--hw-ver-str", args.hw_ver_str, 64), ("--part-number", args.part_number, 32),
                               ("--product-label", args.product_label, 64), ("--product-url", args.product_url, 256)):
        if value is not None and not 1 <= len(value.encode()) <= limit:
            raise InvalidInput(name, f"must be 1..{limit} bytes")

    # attestation
    ca_cert = ca_key = pai_der = None
    password = args.pwd.encode() if args.pwd else None
    if args.paa or args.pai:
        from . import keys, provisioning

        supplied_dac = bool(args.dac_cert or args.dac_key)
        if not args.cert or (not args.key and not supplied_dac):
            raise InvalidInput("-c/-k", "--paa/--pai need the CA certificate (-c) and key (-k)")
        if args.key:
            ca_cert, ca_key = provisioning.load_ca(args.cert, args.key, "ca", password)
        else:
            from cryptography import x509

            ca_cert = x509.load_der_x509_certificate(keys.load_certificate_der(args.cert, "-c"))
        valid_from = parse_valid_from(args.valid_from) if args.valid_from else \
            datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        if args.paa:
            pai_key = attestation.generate_p256_key()
            ca_cert = attestation.issue_certificate("pai", f"{args.cn_prefix} PAI 00", pai_key.public_key(), ca_key,
                                                    ca_cert, vid=vid, pid=pid, valid_from=valid_from,
                                                    lifetime_days=args.lifetime + 1)
            ca_key = pai_key
        pai_der = attestation.der(ca_cert)
        pai = attestation.load_cert(pai_der, "PAI")
        errors, _ = attestation.profile_findings(pai, "pai")
        if errors:
            raise InvalidInput("-c", errors[0])
        pai_vid, pai_pid = attestation.matter_ids(pai, lenient=True)
        if pai_vid != vid or (pai_pid is not None and pai_pid != pid):
            raise InvalidInput("-v/-p", f"0x{vid:04X}/0x{pid:04X} differ from the PAI's vendor/product ID")
        fixed_dac = None
        if args.dac_cert or args.dac_key:
            if not (args.dac_cert and args.dac_key) or not args.pai:
                raise InvalidInput("--dac-cert/--dac-key", "give both, with --pai -c <PAI>")
            dac_der = keys.load_certificate_der(args.dac_cert, "--dac-cert")
            scalar = keys.load_dac_scalar(args.dac_key, "--dac-key", password)
            result = attestation.check_chain(attestation.load_cert(dac_der, "--dac-cert"), pai, None, scalar, vid, pid)
            result.raise_or_warn(report.warn, False)
            fixed_dac = (dac_der, scalar)
    elif args.dac_cert or args.dac_key:
        raise InvalidInput("--dac-cert/--dac-key", "need --pai -c <PAI>")
    cd_der = read_bytes(args.cert_dclrn, "--cert-dclrn") if args.cert_dclrn else None

    # per-device values (secrets; unique discriminators up to 4096 devices, unique passcodes)
    rng = secrets.SystemRandom()
    if args.discriminator is not None:
        discs = [args.discriminator]
    elif count <= 4096:
        discs = rng.sample(range(4096), count)
    else:
        base = rng.sample(range(4096), 4096)
        discs = [base[i % 4096] for i in range(count)]
    passcodes, seen = [], set()
    while len(passcodes) < count:
        p = args.passcode if args.passcode is not None else spake2p.random_passcode()
        if p in seen and args.passcode is None:
            continue
        seen.add(p)
        passcodes.append(p)

    out_root = os.path.join(args.outdir, f"{vid:x}_{pid:x}")
    staging = os.path.join(out_root, "staging")
    os.makedirs(staging, exist_ok=True)
    if pai_der is not None:
        _write(os.path.join(staging, "pai_cert.der"), pai_der)
    cd_value = args.cert_dclrn
    config_rows = [[esp32.NAMESPACE, "namespace", ""]]
    master_header: list[str] = []
    master_rows: list[list[str]] = []
    pin_rows = [["Index", "PIN Code", "Iteration Count", "Salt", "Verifier", "Discriminator"]] \
        if not args.enable_dynamic_passcode else [["Index", "Iteration Count", "Salt", "Discriminator"]]
    summary_rows: list[list[str]] = []
    cn_rows = [["CN", "certs"]]
    now = datetime.datetime.now()
    for index in range(count):
        dev_uuid = str(uuid.uuid4())
        ddir = os.path.join(out_root, dev_uuid)
        internal = os.path.join(ddir, "internal")
        passcode, disc = passcodes[index], discs[index]
        salt = args.salt if args.salt is not None else os.urandom(32)
        verifier = None if args.enable_dynamic_passcode else spake2p.generate_verifier(passcode, salt, args.iteration_count)
        row_override = mrows[index] if mrows else {}
        serial = args.serial_num if args.serial_num is not None else secrets.token_hex(16)
        values = dict(discriminator=disc, iteration_count=args.iteration_count, salt=salt, vendor_id=vid,
                      vendor_name=args.vendor_name, product_id=pid, product_name=args.product_name,
                      hw_ver=args.hw_ver, hw_ver_str=args.hw_ver_str, date=args.mfg_date,
                      rd_uid=(rd_uid_fixed or os.urandom(16)) if args.enable_rotating_device_id else None,
                      product_finish=FINISHES.index(args.product_finish) if args.product_finish else None,
                      product_color=COLORS.index(args.product_color) if args.product_color else None,
                      part_number=args.part_number, serial=serial, verifier=verifier, cd=cd_der,
                      product_label=args.product_label, product_url=args.product_url)
        files = {}
        if ca_cert is not None:
            if fixed_dac is not None:
                dac_der, scalar = fixed_dac
            else:
                key = attestation.generate_p256_key()
                scalar = key.private_numbers().private_value
                vf = parse_valid_from(args.valid_from) if args.valid_from else \
                    datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                dac_der = attestation.der(attestation.issue_certificate(
                    "dac", dev_uuid, key.public_key(), ca_key, ca_cert, vid=vid, pid=pid, valid_from=vf,
                    lifetime_days=args.lifetime + 1, serial=attestation.random_serial()))
            point = attestation.public_point(scalar)
            values.update(dac_cert=dac_der, dac_key=scalar.to_bytes(32, "big"), dac_pub_key=point, pai_cert=pai_der)
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography import x509

            key_obj = ec.derive_private_key(scalar, ec.SECP256R1())
            files = {
                "DAC_cert.der": (dac_der, False),
                "DAC_cert.pem": (attestation.pem(x509.load_der_x509_certificate(dac_der)), False),
                "DAC_key.der": (attestation.key_der(key_obj), True),
                "DAC_key.pem": (_pkcs8_pem(key_obj), True),
                "DAC_private_key.bin": (scalar.to_bytes(32, "big"), True),
                "DAC_public_key.bin": (point, False),
                "PAI_cert.der": (pai_der, False),
            }
            cn_rows.append([dev_uuid, attestation.pem(x509.load_der_x509_certificate(dac_der)).decode()])
        # user --csv keys: chip-factory ones in place or appended, other namespaces after
        entries = esp32.chip_factory_entries(values)
        namespaces = [(esp32.NAMESPACE, entries)]
        for ns, key, enc in schema:
            raw = row_override.get(key, "")
            value: object = raw
            if enc == "binary:file":
                value, enc = read_bytes(raw, f"--mcsv {key}"), "binary"
            elif enc in ("u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"):
                value = int(raw, 0)
            elif enc == "hex2bin":
                value, enc = bytes.fromhex(raw), "binary"
            elif enc == "base64":
                value, enc = base64.b64decode(raw), "binary"
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
        if extra_nvs:
            pos = next((i for i, e in enumerate(entries) if e[0] in ("product-label", "product-url")), len(entries))
            entries[pos:pos] = extra_nvs
        if args.mqtt_host:
            namespaces.insert(1, ("rmaker_creds", [("mqtt_host", "string", args.mqtt_host)]))
        # the NVS image
        if not args.no_bin:
            if args.encrypt:
                nvs_key = _nvs_key(args)
                image = _encrypted_partition(namespaces, args.size, nvs_key)
                keys_part = nvs_key + struct.pack("<I", zlib.crc32(nvs_key, 0xFFFFFFFF) & 0xFFFFFFFF)
                keys_part += b"\xff" * (4096 - len(keys_part))
                _write(os.path.join(ddir, f"{dev_uuid}-keys-partition.bin"), keys_part, True)
            else:
                image = esp32.partition(namespaces, args.size)
            _write(os.path.join(ddir, f"{dev_uuid}-partition.bin"), image, True)
        for name, (data, secret) in files.items():
            _write(os.path.join(internal, name), data, secret)
        _write(os.path.join(internal, "partition.csv"), _partition_csv(namespaces, internal, staging, cd_value), True)
        qr = manual = ""
        if not args.enable_dynamic_passcode:
            payload = onboarding.SetupPayload(vid, pid, disc, passcode, flow=args.commissioning_flow,
                                              rendezvous=args.discovery_mode)
            qr, manual = onboarding.qr_code(payload), onboarding.manual_code(payload)
            _write(os.path.join(ddir, f"{dev_uuid}-onb_codes.csv"),
                   _csv_text([["qrcode", "manualcode", "discriminator", "passcode"],
                              [qr, manual_code_text(manual), str(disc), str(passcode)]], False), True)
            from .qrimage import qr_png

            _write(os.path.join(ddir, f"{dev_uuid}-qrcode.png"), qr_png(qr, scale=6), True)
        flat = [(k, e, v) for _, items in namespaces for k, e, v in items]
        if not master_header:
            master_header = [k for k, _, _ in flat]
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
        master_row = [_csv_value(k, v, internal, staging, cd_value) for k, _, v in flat]
        master_rows.append(master_row)
        pin_rows.append([str(index), str(passcode), str(args.iteration_count), base64.b64encode(salt).decode(),
                         base64.b64encode(verifier).decode(), str(disc)] if verifier is not None else
                        [str(index), str(args.iteration_count), base64.b64encode(salt).decode(), str(disc)])
        summary_rows.append(master_row + ([str(passcode), qr, manual_code_text(manual)] if qr else []))
    _write(os.path.join(staging, "config.csv"), _csv_text(config_rows, False))
    _write(os.path.join(staging, "master.csv"), _csv_text([master_header] + master_rows, False), True)
    _write(os.path.join(staging, "pin_disc.csv"), _csv_text(pin_rows, False), True)
    stamp = now.strftime("%Y-%m-%d-%H-%M-%S")
    summary = os.path.join(out_root, f"summary-{stamp}.csv")
    header = master_header + (["pincode", "qrcode", "manualcode"] if not args.enable_dynamic_passcode else [])
    _write(summary, _csv_text([header] + summary_rows, True), True)
    _write(os.path.join(out_root, f"cn_dacs-{now.strftime('%Y-%m-%d-%H-%M-%S-%f')}.csv"), _csv_text(cn_rows, True))
    return summary


def _pkcs8_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization as s

    return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())


def _nvs_key(args) -> bytes:
    """The 64-byte XTS key pair: --nvs-key (a keys partition or 128 hex digits), else fresh from secrets."""
    if not args.nvs_key:
        return secrets.token_bytes(64)
    data = read_bytes(args.nvs_key, "--nvs-key")
    if len(data) >= 68 and struct.unpack_from("<I", data, 64)[0] == zlib.crc32(data[:64], 0xFFFFFFFF) & 0xFFFFFFFF:
        return data[:64]
    try:
        key = bytes.fromhex(data.decode().strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 64:
        raise InvalidInput("--nvs-key", "must be an NVS keys partition or 128 hex digits (XTS key + tweak key)")
    return key


def _encrypted_partition(namespaces, size: int, key: bytes) -> bytes:
    from esp_idf_nvs_partition_gen import nvs_partition_gen as gen

    buf = io.BytesIO()
    nvs = gen.nvs_open(buf, size - 4096, gen.Page.VERSION2, is_encrypt=True, key=key)
    for name, items in namespaces:
        gen.write_entry(nvs, name, "namespace", "", "")
        for k, enc, value in items:
            gen.write_entry(nvs, k, "data", enc, value)
    gen.nvs_close(nvs)
    return buf.getvalue()


def _file_path(key: str, internal: str, staging: str, cd_value: str | None) -> str | None:
    return {"dac-cert": os.path.join(internal, "DAC_cert.der"),
            "dac-key": os.path.join(internal, "DAC_private_key.bin"),
            "dac-pub-key": os.path.join(internal, "DAC_public_key.bin"),
            "pai-cert": os.path.join(staging, "pai_cert.der"), "cert-dclrn": cd_value}.get(key)


def _csv_value(key: str, value, internal: str, staging: str, cd_value: str | None) -> str:
    path = _file_path(key, internal, staging, cd_value)
    if path is not None:
        return path if key == "cert-dclrn" else os.path.abspath(path)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _partition_csv(namespaces, internal: str, staging: str, cd_value: str | None) -> bytes:
    rows = [["key", "type", "encoding", "value"]]
    for ns, items in namespaces:
        rows.append([ns, "namespace", "", ""])
        for key, enc, value in items:
            path = _file_path(key, internal, staging, cd_value)
            if path is not None:
                rows.append([key, "file", "binary", path if key == "cert-dclrn" else os.path.abspath(path)])
            elif isinstance(value, bytes):
                rows.append([key, "data", "hex2bin", value.hex()])
            else:
                rows.append([key, "data", enc, str(value)])
    return _csv_text(rows, True)
