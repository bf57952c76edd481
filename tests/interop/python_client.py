#!/usr/bin/python3
"""Interop client: signs through signetd over mTLS with a stack nobody on the Signet team wrote.

Debian's python3-grpcio and python3-protobuf carry the calls (the stubs are generated at build time
from proto/signet/v1/signer.proto by protoc's Python plugin, see tests/CMakeLists.txt) and
python3-cryptography checks every Content-Signature. Run it with Debian's interpreter,
/usr/bin/python3 -I (a pyenv python3 on PATH does not see /usr/lib/python3/dist-packages).

Modes:
  default          for each signer p256/p384/p521: GetSigner, Sign three inputs (text, binary with
                   NUL and 0xff bytes, 10 KiB), verify each signature, header and x5u, check that a
                   tampered input and the input without the template do not verify.
  --expect-denied  every signer's Sign must fail with PERMISSION_DENIED.
  --check-deps     only import the packages and the generated code.

The last line on stdout is a one-line JSON summary. Exit status: 0 all checks passed, 1 a check
failed (the reasons go to stderr as "FAIL: ..." lines and into the summary), 2 usage error, 3 a
Debian package or the generated code is missing.
"""

import argparse
import base64
import json
import os
import re
import sys

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_MISSING = 3

TEMPLATE = b"Content-Signature:\x00"
B64URL_NO_PAD = re.compile(r"[A-Za-z0-9_-]+")
RPC_TIMEOUT_SECONDS = 30
P384_X5U = "https://x5u.signet.test/p384.pem"

# signer id -> (SignerInfo.curve, half-signature bytes, header parameter, x5u the harness configures)
SIGNERS = {
    "p256": ("P-256", 32, "p256ecdsa", ""),
    "p384": ("P-384", 48, "p384ecdsa", P384_X5U),
    "p521": ("P-521", 66, "p521ecdsa", ""),
}


def log(msg):
    print(f"python_client: {msg}", file=sys.stderr, flush=True)


def summary(obj):
    print(json.dumps(obj, sort_keys=True, separators=(",", ":")), flush=True)


def import_deps(gen_dir):
    """Imports Debian's packages and the generated stubs; exits 3 with a how-to-fix message if absent."""
    mods = {}
    try:
        import grpc
        import google.protobuf
        import cryptography
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        from cryptography.hazmat.primitives.serialization import load_der_public_key
    except ImportError as e:
        log(f"MISSING DEPENDENCY: {e} (interpreter {sys.executable}, python {sys.version.split()[0]}).")
        log("Install Debian's python3-grpcio python3-protobuf python3-cryptography: run ops/install-deps.sh")
        summary({"ok": False, "error": "missing-dependency", "detail": str(e)})
        sys.exit(EXIT_MISSING)
    mods.update(grpc=grpc, protobuf=google.protobuf, cryptography=cryptography,
                InvalidSignature=InvalidSignature, hashes=hashes, ec=ec,
                encode_dss_signature=encode_dss_signature, load_der_public_key=load_der_public_key)
    if not os.path.isdir(os.path.join(gen_dir, "signet", "v1")):
        log(f"MISSING GENERATED CODE: no signet/v1 under --gen-dir {gen_dir}; "
            "build the signet_python_proto target (it runs protoc with grpc_python_plugin)")
        summary({"ok": False, "error": "missing-generated-code", "detail": gen_dir})
        sys.exit(EXIT_MISSING)
    sys.path.insert(0, gen_dir)
    try:
        from signet.v1 import signer_pb2, signer_pb2_grpc
    except ImportError as e:
        log(f"cannot import the generated code from {gen_dir}: {e}")
        summary({"ok": False, "error": "missing-generated-code", "detail": str(e)})
        sys.exit(EXIT_MISSING)
    mods.update(pb=signer_pb2, pb_grpc=signer_pb2_grpc)
    return mods


def versions(m):
    return {
        "python": sys.version.split()[0],
        "grpc": m["grpc"].__version__,
        "protobuf": m["protobuf"].__version__,
        "cryptography": m["cryptography"].__version__,
        "grpc_path": os.path.dirname(m["grpc"].__file__),
    }


def read(path):
    with open(path, "rb") as f:
        return f.read()


def b64url_decode(s):
    if not B64URL_NO_PAD.fullmatch(s):
        raise ValueError(f"not unpadded base64url: {s!r}")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def curve_tools(m, curve_name):
    ec, hashes = m["ec"], m["hashes"]
    return {
        "P-256": (ec.SECP256R1, hashes.SHA256),
        "P-384": (ec.SECP384R1, hashes.SHA384),
        "P-521": (ec.SECP521R1, hashes.SHA512),
    }[curve_name]


def verifies(m, pub, der, message, hash_cls):
    try:
        pub.verify(der, message, m["ec"].ECDSA(hash_cls()))
        return True
    except m["InvalidSignature"]:
        return False


def check_signer(m, stub, signer_id, fails):
    """GetSigner + Sign three inputs + verify. Appends failures to `fails`; returns the signer's report."""
    grpc, pb = m["grpc"], m["pb"]
    want_curve, half, param, want_x5u = SIGNERS[signer_id]
    report = {"curve": want_curve, "verified": 0, "tampered_rejected": 0}

    def fail(msg):
        fails.append(f"{signer_id}: {msg}")
        log(f"FAIL: {signer_id}: {msg}")

    try:
        info = stub.GetSigner(pb.GetSignerRequest(signer_id=signer_id), timeout=RPC_TIMEOUT_SECONDS)
    except grpc.RpcError as e:
        fail(f"GetSigner failed: {e.code().name}: {e.details()}")
        return report
    if info.signer_id != signer_id:
        fail(f"GetSigner returned signer_id {info.signer_id!r}")
    if info.curve != want_curve:
        fail(f"GetSigner curve {info.curve!r}, want {want_curve!r}")
        return report
    if info.signature_param != param:
        fail(f"GetSigner signature_param {info.signature_param!r}, want {param!r}")
    if info.x5u != want_x5u:
        fail(f"GetSigner x5u {info.x5u!r}, want {want_x5u!r}")
    if not re.fullmatch(r"[0-9a-f]+", info.key_id):
        fail(f"GetSigner key_id {info.key_id!r} is not lowercase hex")
    report["key_id"] = info.key_id
    report["x5u"] = info.x5u

    curve_cls, hash_cls = curve_tools(m, want_curve)
    try:
        pub = m["load_der_public_key"](info.public_key)
    except ValueError as e:
        fail(f"GetSigner public_key is not a loadable SPKI DER: {e}")
        return report
    if not isinstance(pub, m["ec"].EllipticCurvePublicKey) or not isinstance(pub.curve, curve_cls):
        fail(f"GetSigner public_key is {type(pub).__name__} {getattr(pub, 'curve', None)}, want {want_curve}")
        return report

    inputs = [
        b"hello from a Python client nobody on the Signet team wrote",
        bytes(range(256)) * 2 + b"\x00\xff\x00",  # every byte value, NULs and 0xff included
        os.urandom(10 * 1024),
    ]
    request_id = f"py-interop-{signer_id}"
    try:
        resp = stub.Sign(pb.SignRequest(signer_id=signer_id, inputs=inputs, include_public_key=True,
                                        request_id=request_id), timeout=RPC_TIMEOUT_SECONDS)
    except grpc.RpcError as e:
        fail(f"Sign failed: {e.code().name}: {e.details()}")
        return report
    if resp.request_id != request_id:
        fail(f"Sign echoed request_id {resp.request_id!r}, want {request_id!r}")
    if len(resp.items) != len(inputs):
        fail(f"Sign returned {len(resp.items)} items for {len(inputs)} inputs")
        return report

    for i, (data, item) in enumerate(zip(inputs, resp.items)):
        where = f"item {i} ({len(data)} bytes)"
        if item.WhichOneof("outcome") != "result":
            err = item.error
            fail(f"{where}: no result; error code {err.code}: {err.message!r}")
            continue
        res = item.result
        if res.key_id != info.key_id:
            fail(f"{where}: key_id {res.key_id!r}, GetSigner said {info.key_id!r}")
        if res.x5u != want_x5u:
            fail(f"{where}: x5u {res.x5u!r}, want {want_x5u!r}")
        if res.public_key != info.public_key:
            fail(f"{where}: public_key differs from GetSigner's (include_public_key was set)")
        want_header = (f"x5u={want_x5u};" if want_x5u else "") + f"{param}={res.signature}"
        if res.content_signature != want_header:
            fail(f"{where}: content_signature {res.content_signature!r}, want {want_header!r}")
        try:
            raw = b64url_decode(res.signature)
        except ValueError as e:
            fail(f"{where}: {e}")
            continue
        if len(raw) != 2 * half:
            fail(f"{where}: signature is {len(raw)} bytes, want r||s of 2x{half}")
            continue
        r = int.from_bytes(raw[:half], "big")
        s = int.from_bytes(raw[half:], "big")
        der = m["encode_dss_signature"](r, s)
        if verifies(m, pub, der, TEMPLATE + data, hash_cls):
            report["verified"] += 1
        else:
            fail(f"{where}: signature does not verify over 'Content-Signature:\\x00' || input "
                 f"with {hash_cls.name} (r={r:x}, s={s:x})")
            continue
        tampered = bytearray(data)
        tampered[len(tampered) // 2] ^= 0x01
        if verifies(m, pub, der, TEMPLATE + bytes(tampered), hash_cls):
            fail(f"{where}: the signature ALSO verifies over a tampered input")
        elif verifies(m, pub, der, data, hash_cls):
            fail(f"{where}: the signature verifies over the input without the Content-Signature template")
        else:
            report["tampered_rejected"] += 1
    return report


def run_allowed(m, stub, target):
    fails = []
    signers = {sid: check_signer(m, stub, sid, fails) for sid in SIGNERS}
    verified = sum(r["verified"] for r in signers.values())
    ok = not fails and verified == 3 * len(SIGNERS)
    if not fails and not ok:
        fails.append(f"only {verified} signatures verified")
    summary({"ok": ok, "mode": "sign", "target": target, "verified": verified,
             "tampered_rejected": sum(r["tampered_rejected"] for r in signers.values()),
             "signers": signers, "failures": fails, "versions": versions(m)})
    if ok:
        log(f"OK: {verified} Content-Signatures from {len(SIGNERS)} signers verified with cryptography")
    return EXIT_OK if ok else EXIT_FAILED


def run_expect_denied(m, stub, target):
    grpc, pb = m["grpc"], m["pb"]
    fails = []
    outcomes = {}
    for sid in SIGNERS:
        try:
            stub.Sign(pb.SignRequest(signer_id=sid, inputs=[b"must not be signed"]), timeout=RPC_TIMEOUT_SECONDS)
            outcomes[sid] = "OK"
            fails.append(f"{sid}: Sign succeeded; expected PERMISSION_DENIED")
        except grpc.RpcError as e:
            outcomes[sid] = e.code().name
            if e.code() != grpc.StatusCode.PERMISSION_DENIED:
                fails.append(f"{sid}: Sign failed with {e.code().name} ({e.details()}); expected PERMISSION_DENIED")
    for f in fails:
        log(f"FAIL: {f}")
    ok = not fails
    summary({"ok": ok, "mode": "expect-denied", "target": target, "outcomes": outcomes, "failures": fails,
             "versions": versions(m)})
    if ok:
        log(f"OK: all {len(SIGNERS)} signers refused with PERMISSION_DENIED")
    return EXIT_OK if ok else EXIT_FAILED


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen-dir", required=True, help="directory holding the generated signet/v1/*_pb2*.py")
    ap.add_argument("--check-deps", action="store_true", help="only check the imports and exit")
    ap.add_argument("--target", help="host:port of signetd's gRPC listener")
    ap.add_argument("--ca", help="PEM CA bundle that verifies the server certificate")
    ap.add_argument("--cert", help="PEM client certificate")
    ap.add_argument("--key", help="PEM client private key")
    ap.add_argument("--expect-denied", action="store_true",
                    help="succeed only if every Sign fails with PERMISSION_DENIED")
    args = ap.parse_args()
    if not args.check_deps:
        missing = [f"--{n}" for n in ("target", "ca", "cert", "key") if not getattr(args, n)]
        if missing:
            ap.error(f"required: {' '.join(missing)}")

    m = import_deps(args.gen_dir)
    if args.check_deps:
        summary({"ok": True, "mode": "check-deps", "versions": versions(m)})
        return EXIT_OK

    grpc = m["grpc"]
    creds = grpc.ssl_channel_credentials(root_certificates=read(args.ca), private_key=read(args.key),
                                         certificate_chain=read(args.cert))
    # A loopback test: never route through a proxy the environment may name.
    with grpc.secure_channel(args.target, creds, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = m["pb_grpc"].SignerStub(channel)
        if args.expect_denied:
            return run_expect_denied(m, stub, args.target)
        return run_allowed(m, stub, args.target)


if __name__ == "__main__":
    sys.exit(main())
