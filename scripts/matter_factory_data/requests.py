"""Typed requests: what every door (the CLI, Kconfig ``.config`` files, CMake, gn, west, ``demo`` and Python
code) hands to the library. The field names are the command-line option names (``--vendor_id`` is
``vendor_id``); values are already typed (integers, bytes). The library never sees argv or argparse.

A field without a default is required. The library checks every value again: a request built in Python gets
the same one-line errors as the command line. Requests are ``NamedTuple``s (typed, immutable, with defaults):
``dataclasses`` would add 15 ms to every command's start, a tenth of a whole single-device run.
"""

from __future__ import annotations

from typing import NamedTuple


class NrfRequest(NamedTuple):
    """One nRF Connect (Zephyr) device: the JSON document, and with ``offset``/``size`` the CBOR partition as
    HEX and BIN (``matter-factory-data json``, ``generate_factory_data.py``, the CMake/gn/Kconfig builds)."""

    output: str  # output prefix: writes PREFIX.json (and .hex/.bin/.txt/.png); a trailing .json is optional
    sn: str  # serial number (at most 32 bytes)
    date: str  # manufacturing date, YYYY-MM-DD
    hw_ver: int  # hardware version number (0..65535)
    hw_ver_str: str  # hardware version string (1..64 bytes)
    spake2_it: int  # SPAKE2+ PBKDF2 iterations (1000..100000)
    spake2_salt: bytes  # SPAKE2+ salt, Base64 (16..32 bytes)
    discriminator: int  # 12-bit discriminator (0..4095)
    schema: str | None = None  # JSON Schema file to validate the output against
    include_passcode: bool = False  # also store the passcode in the factory data
    overwrite: bool = False  # replace existing output files
    vendor_id: int | None = None  # vendor ID, e.g. 0xFFF1
    product_id: int | None = None  # product ID, e.g. 0x8000
    vendor_name: str | None = None  # vendor name (at most 32 bytes)
    product_name: str | None = None  # product name (at most 32 bytes)
    sw_ver_str: str | None = None  # software version string (1..64 bytes; optional, stored after hw_ver_str)
    product_url: str | None = None  # product web page (at most 256 bytes)
    product_label: str | None = None  # product label (at most 64 bytes)
    part_number: str | None = None  # part number (at most 32 bytes)
    product_finish: str | None = None  # product finish (Matter ProductFinishEnum)
    product_color: str | None = None  # primary colour (Matter ColorEnum: black, navy, green, teal, maroon, purple, ol
    legacy_colors: bool = False  # use the nRF reference tool"s colour values (brass 18, cooper 19) instead of the Mat
    passcode: int | None = None  # setup passcode; the verifier is computed from it
    spake2_verifier: bytes | None = None  # SPAKE2+ verifier, Base64 (97 bytes); checked against --passcode when both 
    rd_uid: str | None = None  # rotating device ID unique ID, hex (16..32 bytes)
    generate_rd_uid: bool = False  # generate a random 16-byte rd_uid
    enable_key: str | None = None  # test event trigger enable key, hex (16 bytes)
    user: str | None = None  # extra user data as a JSON object, e.g. "{"name": "value", "n": 1}"
    user_hex_as_bytes: bool = False  # store "hex:..." strings inside --user as bytes (readable only via GetUserData)
    generate_onboarding: bool = False  # also write PREFIX.txt (codes) and PREFIX.png (QR)
    dac_cert: str | None = None  # DAC certificate, DER or PEM
    dac_key: str | None = None  # DAC private key, DER or PEM (SEC1 or PKCS#8)
    dac_key_password: str | None = None  # password of an encrypted DAC key
    pai_cert: str | None = None  # PAI certificate, DER or PEM
    gen_certs: bool = False  # generate a test PAI and DAC in-process (no chip-cert)
    gen_cd: bool = False  # generate CD.der (a Certification Declaration) in-process
    cd_type: int = 1  # CD certification type: 0 development, 1 provisional (default), 2 official
    device_type: int = 0  # CD device type ID (default 0)
    paa_cert: str | None = None  # PAA certificate that signs the generated PAI (and checks given chains)
    paa_key: str | None = None  # PAA private key
    cd_signing_cert: str | None = None  # certificate of the CD signing key
    cd_signing_key: str | None = None  # CD signing key
    chip_cert_path: str | None = None  # accepted for compatibility and ignored (no chip-cert is needed)
    strict: bool = False  # treat certificate profile deviations as errors
    offset: int | None = None  # partition address; with --size also writes PREFIX.hex and PREFIX.bin
    size: int | None = None  # partition size in bytes (the image must fit, terminator byte included)
    format: str = "nrfconnect"  # layout of .hex/.bin: nrfconnect, telink, ti or bouffalolab
    cd: str | None = None  # Certification Declaration (DER) the telink and bouffalolab layouts store


class NxpRequest(NamedTuple):
    """One NXP device: the TLV factory data image (``matter-factory-data nxp``)."""

    it: int  # SPAKE2+ iteration count (1000..100000)
    salt: bytes  # SPAKE2+ salt, Base64 (16..32 bytes)
    passcode: int  # setup passcode
    discriminator: int  # discriminator (0..4095)
    vid: int  # vendor ID
    pid: int  # product ID
    vendor_name: str  # vendor name (at most 32 bytes)
    product_name: str  # product name (at most 32 bytes)
    hw_version: int  # hardware version (0..65535)
    hw_version_str: str  # hardware version string (at most 64 bytes)
    cert_declaration: str  # Certification Declaration (DER)
    pai_cert: str  # PAI certificate (DER or PEM)
    out: str  # output file
    dac_cert: str | None = None  # DAC certificate (DER or PEM)
    dac_key: str | None = None  # DAC private key (DER or PEM, SEC1 or PKCS#8), or an SSS/ELS blob
    dac_key_password: str | None = None  # password of an encrypted DAC key
    dac_key_use_sss_blob: bool = False  # store --dac_key verbatim: an SSS (56 bytes) or ELS (48 bytes) blob
    allow_blob_length: bool = False  # accept a blob of another length
    spake2p_path: str | None = None  # accepted for compatibility and ignored (the verifier is computed here)
    spake2p_verifier: bytes | None = None  # SPAKE2+ verifier, Base64; checked against the passcode
    aes128_key: str | None = None  # encrypt with AES-128-ECB (32 hex digits)
    aes256_key: str | None = None  # encrypt with AES-256-ECB (64 hex digits)
    date: str | None = None  # manufacturing date YYYY-MM-DD
    part_number: str | None = None  # part number (at most 32 bytes)
    product_url: str | None = None  # product URL (at most 256 bytes)
    product_label: str | None = None  # product label (at most 64 bytes)
    serial_num: str | None = None  # serial number (at most 32 bytes)
    unique_id: str | None = None  # rotating device ID unique ID: stored as its ASCII characters, like NXP"s tool
    unique_id_hex: bool = False  # store --unique_id hex-decoded (16..32 bytes) instead
    product_finish: str | None = None  # product finish
    product_primary_color: str | None = None  # product primary colour
    hw_params: bool = False  # wrap in the K32W1/MCXW71 HWParameters APP_FACT_DATA record
    EL2GO_bin: str | None = None  # EdgeLock 2GO secure objects blob (RW61x)
    EL2GO_DAC_KEY_ID: int | None = None  # EL2GO DAC key ID
    EL2GO_DAC_CERT_ID: int | None = None  # EL2GO DAC certificate ID
    pad16: bool = False  # pad a plain payload with zeros to a multiple of 16 (the FwkImpl and Zephyr readers need it)
    platform: str | None = None  # check the platform"s limits and print how to flash it
    address: int | None = None  # flash address (required for rt1060/rt1170 and K32W1 without --hw_params)
    hex: str | None = None  # also write an Intel HEX file of the image at the platform"s address
    allow_id_mismatch: bool = False  # allow --vid/--pid to differ from the certificates and the CD
    overwrite: bool = False  # replace an existing --out file (and its hw_params file)


class Esp32Request(NamedTuple):
    """A run of the ``esp32`` drop-in (esp-matter-mfg-tool's options): NVS partitions, esp_secure_cert
    partitions, onboarding codes and CSV reports for ``count`` devices."""

    vendor_id: int  # vendor ID
    product_id: int  # product ID
    count: int = 1  # number of devices (default 1)
    target: str = "esp32"  # chip target (kept for compatibility)
    size: int = 24576  # NVS partition size (default 0x6000)
    encrypt: bool = False  # encrypt the NVS partition (writes a keys partition)
    nvs_key: str | None = None  # NVS encryption keys: a keys partition file or 128 hex digits (default: fresh)
    log_level: str = "info"  # log level
    outdir: str = "out"  # output root
    no_bin: bool = False  # CSVs, certificates and codes, no NVS image
    no_secure_cert_bin: bool = False  # never write an esp_secure_cert partition
    jobs: int | None = None  # worker processes (default: every core)
    passcode: int | None = None  # fixed passcode (forces -n 1)
    discriminator: int | None = None  # fixed discriminator, 0..4095 (forces -n 1)
    commissioning_flow: int = 0  # 0 standard, 1 user-intent, 2 custom
    discovery_mode: int = 2  # discovery bitmask (default 2, BLE)
    enable_dynamic_passcode: bool = False  # no verifier, no onboarding codes
    salt: bytes | None = None  # SPAKE2+ salt, Base64 (with --verifier and --passcode)
    verifier: bytes | None = None  # SPAKE2+ verifier, Base64 (checked)
    iteration_count: int = 10000  # PBKDF2 iterations (default 10000)
    commissionable_data_in_secure_cert: bool = False  # discriminator, iterations, salt and verifier in esp_secure_cer
    dac_in_secure_cert: bool = False  # DAC, its key and the PAI in <uuid>_esp_secure_cert.bin instead of NVS
    lifetime: int = 36500  # certificate lifetime in days (default 36500)
    valid_from: str | None = None  # notBefore: YYYY-MM-DD [HH:MM:SS] (default now)
    cn_prefix: str = "ESP32"  # CN prefix of a generated PAI (--paa)
    cert: str | None = None  # CA certificate: the PAA (--paa) or PAI (--pai)
    key: str | None = None  # CA private key
    cert_dclrn: str | None = None  # Certification Declaration (DER), stored as cert-dclrn
    dac_cert: str | None = None  # an existing DAC (with --dac-key and --pai; forces -n 1)
    dac_key: str | None = None  # its private key
    ds_peripheral: bool = False  # the DAC key is for the ECDSA DS peripheral (esp_secure_cert; needs --efuse-key-id a
    efuse_key_id: int = -1  # eFuse key block of the DS key, 0..5
    port: str | None = None  # not supported: eFuses are burnt with espefuse.py, not by this tool
    pwd: str | None = None  # password of an encrypted -k or --dac-key
    paa: bool = False  # -c/-k are a PAA: a PAI is generated, then the DACs
    pai: bool = False  # -c/-k are a PAI that signs the DACs
    vendor_name: str | None = None  # vendor name
    product_name: str | None = None  # product name
    hw_ver: int | None = None  # hardware version
    hw_ver_str: str | None = None  # hardware version string
    mfg_date: str | None = None  # manufacturing date YYYY-MM-DD
    serial_num: str | None = None  # serial number (forces -n 1)
    enable_rotating_device_id: bool = False  # store a rotating device ID unique ID
    rd_id_uid: str | None = None  # that unique ID, 32 hex digits (forces -n 1)
    rd_id_uid_in_secure_cert: bool = False  # the rotating device ID unique ID in esp_secure_cert (needs all three --*
    product_finish: str | None = None  # product finish (matte, satin, ...)
    product_color: str | None = None  # primary colour (black, navy, ...)
    part_number: str | None = None  # part number
    product_label: str | None = None  # product label
    product_url: str | None = None  # product URL
    mqtt_host: str | None = None  # ESP RainMaker MQTT host (namespace rmaker_creds)
    csv: str | None = None  # extra NVS keys: schema (key,type,encoding; name,namespace,)
    mcsv: str | None = None  # extra NVS keys: one row of values per device
    calendar_types: list[str] | None = None  # supported calendar types
    locales: list[str] | None = None  # supported locales
    fixed_labels: list[str] | None = None  # <endpoint hex>/<label>/<value> ...
    supported_modes: list[str] | None = None  # <mode>/<label>/<endpoint>[/<value>\<mfg>, ...] ...


class BatchRequest(NamedTuple):
    """A production batch (``matter-factory-data batch``): ``count`` devices (or one per ``csv`` row) with
    fresh DACs signed by the PAI, written under ``out/<vid>_<pid>/`` with a manifest; resumable."""
    vendor_id: int  # vendor ID
    product_id: int  # product ID
    vendor_name: str  # vendor name
    product_name: str  # product name
    date: str  # manufacturing date YYYY-MM-DD (the DACs start on it)
    pai_cert: str  # PAI certificate that signs the DACs
    pai_key: str  # PAI private key
    out: str  # output directory (the batch goes to OUT/<vid>_<pid>)
    count: int | None = None  # number of devices (or csv)
    csv: str | None = None  # one row per device, fixing any of its values
    skip_bad_rows: bool = False  # leave out bad CSV rows instead of stopping
    serial_pattern: str = "{vid:04X}{pid:04X}-{n:06d}"  # serial pattern with {vid}, {pid} and the device number {n}
    serial_start: int = 1  # first device number
    dac_dir: str | None = None  # pre-provisioned DACs: NAME-Cert.der + NAME-Key.der pairs, used in name order
    hw_ver: int = 0  # hardware version
    hw_ver_str: str = "1.0"  # hardware version string
    sw_ver_str: str | None = None  # software version string
    spake2_it: int = 1000  # SPAKE2+ iterations
    salt_len: int = 32  # SPAKE2+ salt length in bytes
    enable_key: str | None = None  # test event trigger enable key (hex, 16 bytes)
    no_rd_uid: bool = False  # store no rotating device ID unique ID
    include_passcode: bool = False  # also store the passcode in the factory data
    product_finish: str | None = None  # product finish (matte, satin, ...)
    product_color: str | None = None  # primary colour (black, navy, ...)
    unique_discriminators: bool = False  # fail instead of sharing discriminators beyond 4096 devices
    pai_key_password: str | None = None  # password of an encrypted PAI key
    paa_cert: str | None = None  # PAA certificate: the PAI must chain to it
    cd: str | None = None  # Certification Declaration: checked against VID/PID and copied to the batch
    valid_from: str | None = None  # DAC notBefore, "YYYY-MM-DD [HH:MM:SS]" UTC (default: the manufacturing date)
    lifetime: int | None = None  # DAC validity in days (default: until the PAI expires)
    format: str = "nrfconnect"  # image format: nrfconnect, nxp, esp32, telink, ti or bouffalolab
    aes128_key: str | None = None  # bouffalolab: AES-128 key, 32 hex digits, that encrypts each DAC key
    offset: int | None = None  # partition address for .hex (default: nrfconnect 0xFB000, telink 0xFF000, ti 0xFE800)
    size: int = 0x1000  # partition size
    no_png: bool = False  # no onboarding.png (faster)
    no_secrets_in_manifest: bool = False  # leave passcode, manual_code and qr_code empty in the manifest
    jobs: int | None = None  # worker processes (default: every core)
    seed: str | None = None  # derive every value from this seed: byte-identical test batches
    force: bool = False  # allow seed with a production vendor ID
    overwrite: bool = False  # replace a different batch in the same directory
    quiet: bool = False  # no progress output


class NxpCertsRequest(NamedTuple):
    """A test PAA (unless given), PAI and DAC, and optionally a CD, with the file names of NXP's
    generate_certs.py (``matter-factory-data certs generate``)."""
    output: str  # output directory
    vendor_id: int  # vendor ID
    product_id: int  # product ID
    vendor_name: str  # vendor name (CN = vendor name + " " + product name)
    product_name: str  # product name
    chip_cert_path: str | None = None  # accepted for compatibility and ignored
    gen_cd: bool = False  # also generate Chip-Test-CD-<VID>-<PID>.der
    cd_type: int = 1  # CD certification type
    device_type: int = 0  # CD device type
    paa_cert: str | None = None  # PAA certificate (a PAA is generated unless both paa_cert and paa_key)
    paa_key: str | None = None  # PAA key
    cd_signing_cert: str | None = None  # CD signing certificate (default: the fallback rule)
    cd_signing_key: str | None = None  # CD signing key
    valid_from: str = "2023-01-01 00:00:00"  # notBefore
    lifetime: int = 7305  # validity in days
    overwrite: bool = False  # replace existing files


class TelinkRequest(NamedTuple):
    """A run of the ``telink`` drop-in (Telink's ``mfg_tool.py`` options): ``count`` Telink factory data
    images (CBOR in Intel HEX) with their onboarding codes, under ``output/<vid>_<pid>/<sn>/``."""

    vendor_id: int  # vendor ID
    product_id: int  # product ID
    cert_dclrn: str  # Certification Declaration (DER), stored as cert_dclrn
    offset: int  # partition address (the board's factory_partition)
    size: int  # partition size
    count: int = 1  # number of devices (default 1)
    output: str = "out"  # output directory
    spake2_path: str | None = None  # accepted and unused (no helper programs are run)
    chip_tool_path: str | None = None  # accepted and unused
    chip_cert_path: str | None = None  # accepted and unused
    overwrite: bool = False  # replace an existing output directory
    in_tree: bool = False  # write one device's files straight into the output directory
    enable_key: str | None = None  # test event trigger enable key: 32 hex digits
    passcode: int | None = None  # setup passcode (default: a different random one per device)
    spake2_it: int = 1000  # SPAKE2+ iteration count
    discriminator: int | None = None  # discriminator (default: a different random one per device)
    commissioning_flow: int = 0  # 0 standard, 1 user-intent, 2 custom
    discovery_mode: int = 1  # 0 Wi-Fi soft AP, 1 BLE, 2 on-network
    vendor_name: str | None = None  # vendor name
    product_name: str | None = None  # product name
    hw_ver: int | None = None  # hardware version
    hw_ver_str: str | None = None  # hardware version string
    mfg_date: str | None = None  # manufacturing date YYYY-MM-DD
    serial_num: str | None = None  # first serial number, hex (devices count up from it)
    enable_rotating_device_id: bool = False  # store a rotating device ID unique ID
    rd_id_uid: str | None = None  # that unique ID as hex text, 16..32 digits (default: 16 random bytes)
    cert: str | None = None  # CA certificate: the PAA (--paa) or PAI (--pai)
    key: str | None = None  # CA private key
    dac_cert: str | None = None  # an existing DAC (with --dac-key and --pai)
    dac_key: str | None = None  # its private key
    cn_prefix: str = "Telink"  # common name prefix of generated certificates
    lifetime: int = 4294967295  # certificate lifetime in days (4294967295: no expiry)
    valid_from: str | None = None  # notBefore: YYYY-MM-DD [HH:MM:SS] (default: when the run starts)
    paa: bool = False  # -c/-k are a PAA: a PAI is generated, then the DACs
    pai: bool = False  # -c/-k are a PAI that signs the DACs
    product_label: str | None = None  # product label
    product_url: str | None = None  # product URL
    part_number: str | None = None  # part number
    salt: bytes | None = None  # fixed SPAKE2+ salt, Base64, 16..32 bytes (default: 32 random bytes per device)
    jobs: int | None = None  # worker processes (default: every core)
    quiet: bool = False  # no progress output


class TiRequest(NamedTuple):
    """The ``ti`` drop-in (TI's ``create_factory_data.py``): one factory data HEX from its JSON."""

    factory_data_json_file: str  # factory data JSON (an "elements" array of 17 {"<key>": value, "len": n})
    factory_data_hex_file: str  # output Intel HEX
    device_family: str = "cc13x4_26x4"  # cc13x4_26x4 (region at 0xFE800) or cc13x2_26x2 (0xAC000)
    factory_data_schema: str | None = None  # JSON Schema the JSON must also satisfy (the SDK's factory_data.schema)


class BouffaloRequest(NamedTuple):
    """The ``bouffalolab`` drop-in (Bouffalo Lab's ``generate_factory_data.py``, its input bugs fixed): one
    MFD image with its onboarding codes in ``output``."""

    output: str  # output directory
    dac_cert: str | None = None  # DAC certificate (PEM or DER)
    dac_key: str | None = None  # DAC private key (PEM or DER)
    dac_pid: int | None = None  # product ID the DAC must carry (hex)
    passcode: int | None = None  # setup passcode (default: random)
    pai_cert: str | None = None  # PAI certificate
    cd: str | None = None  # Certification Declaration (default: one generated into the output directory)
    sn: str = "Test SN"  # serial number
    discriminator: int | None = None  # discriminator 0..4095 (default: random)
    unique_id: bytes | None = None  # rotating device ID unique ID, Base64 of 16 bytes (default: random)
    spake2p_it: int | None = None  # SPAKE2+ iterations 1000..100000 (default: random, as the reference)
    spake2p_salt: bytes | None = None  # SPAKE2+ salt, Base64 of 16..32 bytes (default: random)
    vendor_id: int = 0x130D  # vendor ID (hex)
    vendor_name: str = "Bouffalo Lab"  # vendor name
    product_id: int = 0x1001  # product ID (hex)
    product_name: str = "Test Product"  # product name
    product_part_no: str | None = None  # part number
    product_url: str | None = None  # product URL
    product_label: str | None = None  # product label
    manufactoring_date: str | None = None  # manufacturing date YYYY-MM-DD
    hardware_version: int | None = None  # hardware version
    hardware_version_string: str | None = None  # hardware version string
    rendezvous: int = 6  # rendezvous bitmask of the QR code (default 6: BLE and on-network)
    key: bytes | None = None  # AES-128 key (hex): encrypt dac_key into the secured block
    iv: bytes | None = None  # AES IV (hex, 16 bytes; default as the reference: 12 random bytes + 4 zero bytes)
    date_encoding: str = "binary"  # manufacturing date as the 4 bytes the device reads, or the reference's string
    cd_cert: str | None = None  # certificate of the key that signs a generated CD
    cd_key: str | None = None  # key that signs a generated CD
    paa_cert: str | None = None  # PAA certificate: the chain is checked against it
    paa_key: str | None = None  # accepted and unused
    pai_key: str | None = None  # PAI key: issues a test DAC when none is given
    chip_cert: str | None = None  # accepted and unused (no chip-cert is needed)
