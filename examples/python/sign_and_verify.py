#!/usr/bin/python3 -I
"""Signs through signetd over mutual TLS and verifies the Content-Signature like Firefox would.

Debian's stack only: /usr/bin/python3 with python3-grpcio and python3-protobuf for the call (the stubs
are generated into a temporary directory at each run by protoc and grpc_python_plugin, from
protobuf-compiler and protobuf-compiler-grpc), python3-cryptography for every check. A pyenv or venv
python3 on PATH does not see Debian's packages: run this file as it is (its first line is
/usr/bin/python3) or with /usr/bin/python3.

Steps:
  1. GetSigner, then Sign the input over mTLS (--ca, --cert, --key).
  2. Fetch the certificate chain from the result's x5u URL over HTTPS (trusting --x5u-ca, else the
     system's CAs).
  3. Check the chain with Firefox's rules: three PEM certificates (end entity, intermediate, root),
     each valid now, each issued and signed by the next, the root self-signed, the intermediate and
     root CAs, the root's SHA-256 (of its DER) equal to --root-sha256, the end entity marked for
     codeSigning and named --ee-name (a DNS subjectAltName).
  4. Verify the ECDSA signature (r||s, base64url) with the end entity's key over
     "Content-Signature:\\x00" || input, with SHA-256/384/512 for P-256/384/521, and check that a
     one-bit change of the input does not verify.

--tamper flips one bit of the input after signing and verifies that instead: the run must then FAIL
(exit 1), which shows that the verification really looks at the data.

Exit status: 0 verified; 1 a check failed ("FAIL: rule <name>: ..." on stderr); 2 usage;
3 a Debian package is missing; 4 the call or the x5u fetch failed.
"""

import argparse
import base64
import datetime
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4

TEMPLATE = b"Content-Signature:\x00"
MAX_CHAIN_BYTES = 128 * 1024  # real chains are about 6 KiB; signetd and Firefox bound them too
RPC_TIMEOUT_SECONDS = 30
FETCH_TIMEOUT_SECONDS = 15
PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----")
B64URL_NO_PAD = re.compile(r"[A-Za-z0-9_-]+")
ROLES = ("end entity", "intermediate", "root")
INSTALL_HINT = ("install Debian's python3-grpcio python3-protobuf python3-cryptography protobuf-compiler "
                "protobuf-compiler-grpc (ops/install-deps.sh does), and run this script with /usr/bin/python3")


class CheckFailed(Exception):
    """A Content-Signature rule failed: exit 1."""

    def __init__(self, rule, message):
        super().__init__(f"rule {rule}: {message}")


class Unavailable(Exception):
    """The call or the x5u fetch did not work: exit 4."""


def say(label, text):
    print(f"{label + ':':<12} {text}", flush=True)


def ok(text):
    print(f"  ok   {text}", flush=True)


def fail_exit(code, text):
    print(f"FAIL: {text}", file=sys.stderr, flush=True)
    return code


# ---- dependencies and generated stubs ------------------------------------------------------------------

def import_crypto_and_grpc():
    try:
        import grpc  # noqa: F401  (python3-grpcio)
        import google.protobuf  # noqa: F401  (python3-protobuf)
        import cryptography  # noqa: F401  (python3-cryptography)
    except ImportError as e:
        print(f"MISSING DEPENDENCY: {e} (interpreter {sys.executable}); {INSTALL_HINT}", file=sys.stderr)
        sys.exit(EXIT_MISSING)


def generate_stubs(proto_dir, out_dir):
    """protoc + grpc_python_plugin: signet/v1/signer_pb2.py and signer_pb2_grpc.py under out_dir."""
    protoc = shutil.which("protoc") or "/usr/bin/protoc"
    plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
    for tool, package in ((protoc, "protobuf-compiler"), (plugin, "protobuf-compiler-grpc")):
        if not os.access(tool, os.X_OK):
            print(f"MISSING DEPENDENCY: {os.path.basename(tool)} (Debian package {package}); {INSTALL_HINT}",
                  file=sys.stderr)
            sys.exit(EXIT_MISSING)
    proto = os.path.join(proto_dir, "signet", "v1", "signer.proto")
    if not os.path.isfile(proto):
        print(f"FAIL: no {proto}; pass --proto-dir (the repository's proto/ folder)", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    run = subprocess.run([protoc, f"-I{proto_dir}", f"--python_out={out_dir}", f"--grpc_out={out_dir}",
                          f"--plugin=protoc-gen-grpc={plugin}", "signet/v1/signer.proto"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        print(f"FAIL: protoc could not generate the stubs: {run.stderr.strip()}", file=sys.stderr)
        sys.exit(EXIT_MISSING)
    sys.path.insert(0, out_dir)
    from signet.v1 import signer_pb2, signer_pb2_grpc
    return signer_pb2, signer_pb2_grpc


# ---- small helpers -------------------------------------------------------------------------------------

def read_file(path, what):
    """The file's bytes; a file that cannot be read is a usage error naming the argument."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        print(f"FAIL: cannot read {what} {path}: {e.strerror}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def colon_hex(digest):
    return ":".join(f"{b:02X}" for b in digest)


def parse_pin(text):
    """64 hex digits, optionally as 32 colon-separated pairs, either case -> 32 bytes."""
    t = text.strip()
    if ":" in t:
        pairs = t.split(":")
        if len(pairs) != 32 or any(len(p) != 2 for p in pairs):
            raise ValueError("expected 32 colon-separated pairs (AB:CD:...)")
        t = "".join(pairs)
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", t):
        raise ValueError("expected 64 hex digits, optionally as 32 colon-separated pairs (AB:CD:...)")
    return bytes.fromhex(t)


def b64url_decode(s):
    if not B64URL_NO_PAD.fullmatch(s):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def name_of(cert):
    return cert.subject.rfc4514_string()


# ---- the x5u chain -------------------------------------------------------------------------------------

def fetch_chain(url, x5u_ca_pem):
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise CheckFailed("x5u", f"{url!r} is not an https:// URL (Firefox fetches chains only over HTTPS)")
    try:
        ctx = ssl.create_default_context(cadata=x5u_ca_pem.decode("ascii")) if x5u_ca_pem \
            else ssl.create_default_context()
    except (ssl.SSLError, UnicodeDecodeError) as e:
        raise Unavailable(f"--x5u-ca holds no usable PEM certificate: {e}") from e
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=FETCH_TIMEOUT_SECONDS) as resp:
            body = resp.read(MAX_CHAIN_BYTES + 1)
    except (OSError, ValueError) as e:  # URLError, HTTPError, ssl.SSLError, timeouts are all OSError
        raise Unavailable(f"fetching the chain from {url}: {e}") from e
    if len(body) > MAX_CHAIN_BYTES:
        raise CheckFailed("size", f"the chain at {url} is larger than {MAX_CHAIN_BYTES} bytes")
    return body


def parse_chain(pem):
    from cryptography import x509
    blocks = PEM_BLOCK.findall(pem)
    if pem.count(b"-----BEGIN") != len(blocks) or PEM_BLOCK.sub(b"", pem).strip():
        raise CheckFailed("format", "the chain must hold only PEM CERTIFICATE blocks")
    if len(blocks) != 3:
        raise CheckFailed("count", f"the chain holds {len(blocks)} certificates; it must hold 3 "
                                   "(end entity, intermediate, root)")
    try:
        return [x509.load_pem_x509_certificate(b) for b in blocks]
    except ValueError as e:
        raise CheckFailed("format", f"a certificate does not parse: {e}") from e


def signed_by(cert, issuer_key):
    """True when issuer_key's ECDSA signature over cert's TBS bytes verifies."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec
    if not isinstance(issuer_key, ec.EllipticCurvePublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        issuer_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        return True
    except InvalidSignature:
        return False


def validity(cert):
    """(notBefore, notAfter) as aware UTC datetimes, on cryptography before and after 42."""
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    utc = datetime.timezone.utc
    return cert.not_valid_before.replace(tzinfo=utc), cert.not_valid_after.replace(tzinfo=utc)


def extension(cert, cls):
    from cryptography import x509
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def verify_chain(certs, pin, ee_name, now):
    """Firefox's rules for a Content-Signature chain; returns the end entity's public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    for role, cert in zip(ROLES, certs):
        begin, end = validity(cert)
        if now < begin:
            raise CheckFailed("validity", f"the {role} certificate is not valid until {begin:%Y-%m-%dT%H:%M:%SZ}")
        if now > end:  # notAfter is inclusive (RFC 5280)
            raise CheckFailed("validity", f"the {role} certificate expired at {end:%Y-%m-%dT%H:%M:%SZ}")
    ok(f"validity: all three certificates valid now ({now:%Y-%m-%dT%H:%M:%SZ}); "
       f"end entity until {validity(certs[0])[1]:%Y-%m-%dT%H:%M:%SZ}")

    for i in range(2):
        if certs[i].issuer != certs[i + 1].subject:
            raise CheckFailed("chain-order", f"the {ROLES[i]} was issued by {certs[i].issuer.rfc4514_string()}, "
                                             f"but the next certificate is {name_of(certs[i + 1])}")
        if not signed_by(certs[i], certs[i + 1].public_key()):
            raise CheckFailed("issuer-signature", f"the {ROLES[i]}'s signature does not verify with the "
                                                  f"{ROLES[i + 1]}'s public key")
        ok(f"issuer-signature: {ROLES[i]} [{name_of(certs[i])}] signed by the {ROLES[i + 1]}")
    root = certs[2]
    if root.issuer != root.subject or not signed_by(root, root.public_key()):
        raise CheckFailed("root-self-signed", f"the root [{name_of(root)}] is not self-signed")
    ok(f"root-self-signed: [{name_of(root)}]")

    for role, cert in zip(ROLES[1:], certs[1:]):
        bc = extension(cert, x509.BasicConstraints)
        if bc is None or not bc.ca:
            raise CheckFailed("ca", f"the {role} is not a CA (basicConstraints CA:TRUE)")
    bc = extension(certs[0], x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise CheckFailed("ca", "the end entity is a CA certificate")
    ok("ca: intermediate and root are CAs, the end entity is not")

    root_sha256 = hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).digest()
    if root_sha256 != pin:
        raise CheckFailed("root-pin", f"the root's SHA-256 is {colon_hex(root_sha256)} but the pinned value "
                                      f"is {colon_hex(pin)}")
    ok(f"root-pin: root SHA-256 {colon_hex(root_sha256)}")

    eku = extension(certs[0], x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise CheckFailed("code-signing-eku", "the end entity's extendedKeyUsage does not include codeSigning")
    ok("code-signing-eku: the end entity is for codeSigning")

    san = extension(certs[0], x509.SubjectAlternativeName)
    dns = san.get_values_for_type(x509.DNSName) if san is not None else []
    if ee_name.lower() not in (d.lower() for d in dns):
        raise CheckFailed("ee-name", f"the end entity's DNS names are {dns}; none is {ee_name!r}")
    ok(f"ee-name: {ee_name}")

    key = certs[0].public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        raise CheckFailed("ee-key", "the end entity's key is not ECDSA on P-256, P-384 or P-521")
    return key


# cryptography's curve name -> (NIST name, header parameter, half-signature bytes, hash)
CURVES = {
    "secp256r1": ("P-256", "p256ecdsa", 32, "SHA256"),
    "secp384r1": ("P-384", "p384ecdsa", 48, "SHA384"),
    "secp521r1": ("P-521", "p521ecdsa", 66, "SHA512"),
}


def signature_verifies(key, der_sig, data, hash_name):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        key.verify(der_sig, TEMPLATE + data, ec.ECDSA(getattr(hashes, hash_name)()))
        return True
    except InvalidSignature:
        return False


def verify_signature(key, result, data):
    """The header's curve parameter and the r||s signature, against the end entity's key."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    curve, param, half, hash_name = CURVES[key.curve.name]
    header = result.content_signature
    want_header = f"x5u={result.x5u};{param}={result.signature}"
    if header != want_header:
        raise CheckFailed("signature", f"the header {header!r} does not name the end entity's curve "
                                       f"({param}) with this signature and x5u")
    try:
        raw = b64url_decode(result.signature)
    except ValueError as e:
        raise CheckFailed("signature", f"the signature is {e}") from e
    if len(raw) != 2 * half:
        raise CheckFailed("signature", f"the signature is {len(raw)} bytes; {param} needs r||s of 2x{half}")
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    if not signature_verifies(key, der, data, hash_name):
        raise CheckFailed("signature", f"the signature does not verify over 'Content-Signature:\\x00' || the "
                                       f"{len(data)}-byte input with the end entity's key ({param}, SHA-{hash_name[3:]})")
    ok(f"signature: ECDSA {curve} with SHA-{hash_name[3:]} over 'Content-Signature:\\x00' || input")
    return der, hash_name


# ---- main ----------------------------------------------------------------------------------------------

def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="signetd's gRPC address, host:port")
    ap.add_argument("--ca", required=True, help="PEM CA that verifies signetd's server certificate")
    ap.add_argument("--cert", required=True, help="PEM client certificate (mTLS)")
    ap.add_argument("--key", required=True, help="PEM client private key (mTLS)")
    ap.add_argument("--signer", required=True, help="signer id (a contentsignaturepki signer, it has an x5u)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="file to sign ('-' for stdin)")
    src.add_argument("--text", help="text to sign (UTF-8)")
    ap.add_argument("--root-sha256", required=True,
                    help="pinned SHA-256 of the root certificate's DER: 64 hex digits or AB:CD:... pairs")
    ap.add_argument("--ee-name", required=True,
                    help="DNS name the end-entity certificate must carry (the signer's ee_name)")
    ap.add_argument("--x5u-ca", help="PEM CA bundle for the HTTPS x5u fetch (default: the system's CAs)")
    ap.add_argument("--tamper", action="store_true",
                    help="flip one bit of the input after signing and verify that: the run must FAIL")
    ap.add_argument("--proto-dir", default=os.path.join(here, "..", "..", "proto"),
                    help="folder holding signet/v1/signer.proto (default: the repository's proto/)")
    args = ap.parse_args()
    try:
        args.pin = parse_pin(args.root_sha256)
    except ValueError as e:
        ap.error(f"--root-sha256: {e}")
    if len(args.target) > 255 or not re.fullmatch(r"[^\s]+:[0-9]+", args.target):
        ap.error("--target must be host:port")
    return args


def main():
    args = parse_args()
    import_crypto_and_grpc()
    import grpc
    from cryptography.hazmat.primitives import serialization

    ca, client_key = read_file(args.ca, "--ca"), read_file(args.key, "--key")
    client_cert = read_file(args.cert, "--cert")
    x5u_ca = read_file(args.x5u_ca, "--x5u-ca") if args.x5u_ca else None
    if args.input == "-":
        data = sys.stdin.buffer.read()
        source = "stdin"
    elif args.input is not None:
        data = read_file(args.input, "--input")
        source = args.input
    else:
        data = args.text.encode()
        source = "--text"
    if not data:
        return fail_exit(EXIT_USAGE, "the input is empty (signetd signs 1 byte or more)")

    with tempfile.TemporaryDirectory(prefix="signet-stubs-") as gen:
        pb, pb_grpc = generate_stubs(os.path.abspath(args.proto_dir), gen)
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=client_key,
                                             certificate_chain=client_cert)
        try:
            with grpc.secure_channel(args.target, creds) as channel:
                stub = pb_grpc.SignerStub(channel)
                info = stub.GetSigner(pb.GetSignerRequest(signer_id=args.signer), timeout=RPC_TIMEOUT_SECONDS)
                say("signer", f"{info.signer_id} ({info.type}, {info.curve}, {info.signature_param}), "
                              f"key id {info.key_id}")
                resp = stub.Sign(pb.SignRequest(signer_id=args.signer, inputs=[data], include_public_key=True,
                                                request_id="example-python"), timeout=RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as e:
            return fail_exit(EXIT_UNAVAILABLE, f"call to {args.target}: {e.code().name}: {e.details()}")

    item = resp.items[0] if len(resp.items) == 1 else None
    if item is None or item.WhichOneof("outcome") != "result":
        err = item.error if item is not None else None
        detail = f"code {err.code}: {err.message}" if err is not None else f"{len(resp.items)} items"
        return fail_exit(EXIT_UNAVAILABLE, f"Sign returned no signature ({detail})")
    result = item.result
    say("signed", f"{source} ({len(data)} bytes), request id {resp.request_id}, key id {result.key_id}")
    say("header", f"Content-Signature: {result.content_signature}")
    if not result.x5u:
        return fail_exit(EXIT_FAILED, f"rule x5u: signer {args.signer!r} returned no x5u URL; this example "
                                      "verifies contentsignaturepki signers, whose chains are published")

    if args.tamper:
        data = bytearray(data)
        data[len(data) // 2] ^= 0x01
        data = bytes(data)
        say("tamper", f"flipped one bit of byte {len(data) // 2}: the verification below must FAIL")

    try:
        say("x5u", result.x5u)
        pem = fetch_chain(result.x5u, x5u_ca)
        certs = parse_chain(pem)
        say("chain", f"{len(pem)} bytes, 3 certificates (end entity, intermediate, root)")
        now = datetime.datetime.now(datetime.timezone.utc)
        key = verify_chain(certs, args.pin, args.ee_name, now)
        spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if result.public_key != spki:  # include_public_key was set: Sign returns the SPKI of the key that signed
            raise CheckFailed("ee-key", "the key that signed (Sign's public_key) is not the end entity's key")
        ok("ee-key: the key that signed is the end entity's")
        der, hash_name = verify_signature(key, result, data)
        flipped = bytearray(data)
        flipped[0] ^= 0x80
        if signature_verifies(key, der, bytes(flipped), hash_name) or signature_verifies(key, der, data[1:],
                                                                                         hash_name):
            raise CheckFailed("signature", "the signature ALSO verifies over modified input")
        ok("tamper: the same signature does not verify over a one-bit change or a shorter input")
    except CheckFailed as e:
        return fail_exit(EXIT_FAILED, str(e))
    except Unavailable as e:
        return fail_exit(EXIT_UNAVAILABLE, str(e))
    print(f"OK: Content-Signature verifies ({CURVES[key.curve.name][0]}) with a chain from x5u under the pinned root",
          flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
