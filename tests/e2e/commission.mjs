// End-to-end check: a matter.js device provisioned only from one factory data set, commissioned by a
// matter.js controller with a strict attestation policy and an offline trust store.
//
//   node commission.mjs <case.json>
//
// case.json (written by tests/e2e/harness.py from the decoded, flashed factory data):
//   dac, pai, cd, paa, cd_signer: hex DER; dac_key: hex 32-byte scalar; verifier, salt: hex;
//   iterations, vendor_id, product_id, discriminator, passcode (what the commissioner enters),
//   device_passcode (what the device would use without the factory verifier), port, storage.
// With "mode": "device" only the device runs (for another commissioner): it prints {"ready": true},
// serves until its stdin closes, then prints {"ok": true, paseVerifierUsed, onOff, commissioned}.
// Prints one JSON line: {"ok": true, vendorId, productId, onOff, paseVerifierUsed} or
// {"ok": false, "stage": "...", "error": "..."}.
import { readFileSync } from "node:fs";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
process.env.MATTER_STORAGE_PATH = spec.storage;
process.env.MATTER_MDNS_NETWORKINTERFACE = process.env.MATTER_MDNS_NETWORKINTERFACE ?? "lo";
process.env.MATTER_LOG_LEVEL = process.env.MATTER_LOG_LEVEL ?? "fatal";

const { ServerNode, Environment, Logger, LogLevel } = await import("@matter/main");
const { OnOffLightDevice } = await import("@matter/main/devices/on-off-light");
const { ControllerBehavior } = await import("@matter/main");
const { PaseServer, PeerSet, DclCertificateService } = await import("@matter/protocol");
const { OnOffClient } = await import("@matter/main/behaviors/on-off");
const { BasicInformationClient } = await import("@matter/main/behaviors/basic-information");

Logger.level = process.env.E2E_DEBUG ? LogLevel.INFO : LogLevel.FATAL;

const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const result = { ok: false, stage: "setup" };
const done = (extra) => {
    process.stdout.write(JSON.stringify({ ...result, ...extra }) + "\n");
};

// The device stack always opens basic commissioning with PaseServer.fromPin(passcode, random salt,
// 1000 iterations). A device running from factory data answers PASE from the stored verifier, salt and
// iterations instead; the harness gives the device another passcode, so PASE can only succeed this way.
let verifierUsed = 0;
const fromVerificationValue = PaseServer.fromVerificationValue.bind(PaseServer);
PaseServer.fromPin = async (sessions, _pin, _params) => {
    verifierUsed += 1;
    return fromVerificationValue(sessions, hex(spec.verifier), {
        iterations: spec.iterations,
        salt: hex(spec.salt),
    });
};

const ACCEPTED_FINDINGS = new Set(["CertificationTypeTest", "PaaTrustStoreTimeMismatch"]);
let findingsSeen = [];

let device, controller;
try {
    device = await ServerNode.create({
        id: "device",
        network: { port: spec.port },
        commissioning: { passcode: spec.device_passcode, discriminator: spec.discriminator },
        productDescription: { name: "e2e", deviceType: OnOffLightDevice.deviceType },
        basicInformation: {
            vendorName: "e2e",
            vendorId: spec.vendor_id,
            productName: "e2e",
            productId: spec.product_id,
            serialNumber: "e2e",
            nodeLabel: "e2e",
            productLabel: "e2e",
            hardwareVersion: 1,
            softwareVersion: 1,
        },
        operationalCredentials: {
            certification: {
                privateKey: hex(spec.dac_key),
                certificate: hex(spec.dac),
                intermediateCertificate: hex(spec.pai),
                declaration: hex(spec.cd),
            },
        },
    });
    await device.add(OnOffLightDevice, { id: "light" });
    result.stage = "device-start";
    await device.start();

    if (spec.mode === "device") {
        // Device only (commissioner B runs elsewhere): announce readiness, serve until stdin closes.
        process.stdout.write(JSON.stringify({ ready: true }) + "\n");
        await new Promise((resolve) => {
            process.stdin.on("end", resolve);
            process.stdin.on("close", resolve);
            process.stdin.resume();
        });
        result.ok = true;
        result.stage = "done";
        done({ paseVerifierUsed: verifierUsed, onOff: device.parts.get("light").state.onOff.onOff,
               commissioned: device.state.commissioning.commissioned });
        throw null;
    }

    result.stage = "controller-start";
    controller = await ServerNode.create(ServerNode.RootEndpoint.with(ControllerBehavior), {
        id: "controller",
        network: { port: spec.port + 1 },
        commissioning: { enabled: false },
        controller: { adminFabricLabel: "e2e" },
    });
    const dcl = new DclCertificateService(controller.env, {
        updateInterval: null,
        fetchTestCertificates: false,
        dclConfig: { url: `http://127.0.0.1:${spec.port + 7}` },
        timeout: 200,
    });
    await dcl.construction;
    await dcl.addCertificate(hex(spec.paa), "PAA", { isProduction: true });
    if (spec.cd_signer) {
        await dcl.addCertificate(hex(spec.cd_signer), "CDSigner", { isProduction: true });
    }
    await controller.start();

    const address = { type: "udp", ip: "127.0.0.1", port: spec.port };
    controller.env.get(PeerSet).added.on((peer) => {
        peer.descriptor.operationalAddress = address;
    });

    result.stage = "commission";
    const peer = await controller.peers.forDescriptor({ addresses: [address] });
    await peer.commission({
        passcode: spec.passcode,
        onAttestationFailure: (findings) => {
            findingsSeen = findings.map((f) => `${f.level}:${f.type}`);
            const bad = findings.filter((f) => !ACCEPTED_FINDINGS.has(f.type));
            return bad.length === 0 ? true : `attestation: ${bad.map((f) => `${f.type} (${f.message})`).join("; ")}`;
        },
    });

    result.stage = "operate";
    const basic = peer.stateOf(BasicInformationClient);
    const vendorId = basic.vendorId;
    const productId = basic.productId;
    const light = [...peer.parts].find((part) => part.number === 1);
    await light.commandsOf(OnOffClient).on();
    const onOff = device.parts.get("light").state.onOff.onOff;
    result.ok = true;
    result.stage = "done";
    done({ vendorId, productId, onOff, paseVerifierUsed: verifierUsed, findings: findingsSeen });
} catch (e) {
    // null: device mode, its result line is already printed
    if (e !== null) done({ error: `${e?.constructor?.name}: ${e?.message ?? e}`, paseVerifierUsed: verifierUsed, findings: findingsSeen });
} finally {
    await Promise.allSettled([controller?.close(), device?.close()]);
    process.exit(0);
}
