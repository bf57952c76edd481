#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/chain/generated-*: a Content-Signature chain (P-384 root and intermediate with
a name constraint, P-256 end entity normandy.content-signature.mozilla.org), valid at fuzz_chain's fixed
time, and a signature over a short text, in fuzz_chain's input format "PEM\\0SIGNATURE\\0DATA".
Debian's python3-cryptography only; fresh keys on every run (the committed seeds are one such run)."""
import base64
import datetime
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "chain"
EE_NAME = "normandy.content-signature.mozilla.org"
NOT_BEFORE = datetime.datetime(2020, 1, 1)
NOT_AFTER = datetime.datetime(2030, 1, 1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Signet Fuzz"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(subject, issuer, public_key, issuer_key, ca, pathlen=None, extra=()):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
         .serial_number(x509.random_serial_number()).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                      crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False))
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA384() if isinstance(issuer_key.curve, ec.SECP384R1) else hashes.SHA256())


def main():
    root_key = ec.generate_private_key(ec.SECP384R1())
    int_key = ec.generate_private_key(ec.SECP384R1())
    ee_key = ec.generate_private_key(ec.SECP256R1())
    root = cert(name("Signet Fuzz Root"), name("Signet Fuzz Root"), root_key.public_key(), root_key, True, 1)
    inter = cert(name("Signet Fuzz Intermediate"), root.subject, int_key.public_key(), root_key, True, 0,
                 [(x509.NameConstraints(permitted_subtrees=[x509.DNSName(".content-signature.mozilla.org")],
                                        excluded_subtrees=None), True)])
    ee = cert(name(EE_NAME), inter.subject, ee_key.public_key(), int_key, False,
              extra=[(x509.SubjectAlternativeName([x509.DNSName(EE_NAME)]), False)])
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (ee, inter, root))

    data = b'{"data":[],"last_modified":"1603992731957"}'
    der = ee_key.sign(b"Content-Signature:\x00" + data, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=")

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "generated.pem").write_bytes(pem)
    (OUT / "generated-signed.bin").write_bytes(pem + b"\0" + sig + b"\0" + data)
    header = b"x5u=https://example.com/chain.pem;p256ecdsa=" + sig
    (OUT / "generated-header-signed.bin").write_bytes(pem + b"\0" + header + b"\0" + data)
    print("root SHA-256:", root.fingerprint(hashes.SHA256()).hex(":").upper())


if __name__ == "__main__":
    main()
