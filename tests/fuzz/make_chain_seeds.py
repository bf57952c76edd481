#!/usr/bin/env python3
"""Writes the generated seeds of tests/fuzz/corpus/chain/: Content-Signature chains (P-384 root and
intermediate with a name constraint, end entity normandy.content-signature.mozilla.org) valid at
fuzz_chain's fixed time, in its input format "PEM" or "PEM\\0SIGNATURE\\0DATA":
  generated*.{pem,bin}  chains that pass every rule, with signatures over a short text (P-256, P-521 EE);
  rule-*.pem            chains that each break one rule of signing/chain.h after issuer-signature, so
                        the fuzzer starts from inputs that reach every rule (a mutated certificate no
                        longer passes issuer-signature).
Debian's python3-cryptography only; fresh keys on every run (the committed seeds are one such run)."""
import base64
import datetime
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "chain"
EE_NAME = "normandy.content-signature.mozilla.org"
NOT_BEFORE = datetime.datetime(2020, 1, 1)
NOT_AFTER = datetime.datetime(2030, 1, 1)
DATA = b'{"data":[],"last_modified":"1603992731957"}'


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Signet Fuzz"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(subject, issuer, public_key, issuer_key, ca, pathlen=None, extra=(), eku=(ExtendedKeyUsageOID.CODE_SIGNING,),
         key_cert_sign=None, not_after=NOT_AFTER):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
         .serial_number(x509.random_serial_number()).not_valid_before(NOT_BEFORE).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False,
                                      key_cert_sign=ca if key_cert_sign is None else key_cert_sign,
                                      crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    for ext, critical in extra:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA384())


def chain(ee_key=None, ee_ca=False, ee_eku=(ExtendedKeyUsageOID.CODE_SIGNING,), ee_name=EE_NAME,
          ee_not_after=NOT_AFTER, subtree=".content-signature.mozilla.org", root_pathlen=1, inter_key_cert_sign=True,
          inter_eku=(ExtendedKeyUsageOID.CODE_SIGNING,), order=(0, 1, 2)):
    root_key = ec.generate_private_key(ec.SECP384R1())
    int_key = ec.generate_private_key(ec.SECP384R1())
    ee_key = ee_key or ec.generate_private_key(ec.SECP256R1())
    root = cert(name("Signet Fuzz Root"), name("Signet Fuzz Root"), root_key.public_key(), root_key, True,
                root_pathlen)
    inter = cert(name("Signet Fuzz Intermediate"), root.subject, int_key.public_key(), root_key, True, 0,
                 [(x509.NameConstraints(permitted_subtrees=[x509.DNSName(subtree)], excluded_subtrees=None), True)],
                 eku=inter_eku, key_cert_sign=inter_key_cert_sign)
    ee = cert(name(ee_name), inter.subject, ee_key.public_key(), int_key, ee_ca, 0 if ee_ca else None,
              [(x509.SubjectAlternativeName([x509.DNSName(ee_name)]), False)], eku=ee_eku, not_after=ee_not_after)
    certs = (ee, inter, root)
    return b"".join(certs[i].public_bytes(serialization.Encoding.PEM) for i in order), ee_key


def signature(key, hash_alg, field_bytes):
    r, s = decode_dss_signature(key.sign(b"Content-Signature:\x00" + DATA, ec.ECDSA(hash_alg)))
    return base64.urlsafe_b64encode(r.to_bytes(field_bytes, "big") + s.to_bytes(field_bytes, "big")).rstrip(b"=")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    pem, key = chain()
    sig = signature(key, hashes.SHA256(), 32)
    (OUT / "generated.pem").write_bytes(pem)
    (OUT / "generated-signed.bin").write_bytes(pem + b"\0" + sig + b"\0" + DATA)
    header = b"x5u=https://example.com/chain.pem;p256ecdsa=" + sig
    (OUT / "generated-header-signed.bin").write_bytes(pem + b"\0" + header + b"\0" + DATA)
    pem, key = chain(ee_key=ec.generate_private_key(ec.SECP521R1()))
    (OUT / "generated-p521-signed.bin").write_bytes(pem + b"\0" + signature(key, hashes.SHA512(), 66) + b"\0" + DATA)

    rules = {
        "rule-validity-ee-expired": dict(ee_not_after=datetime.datetime(2020, 2, 1)),
        "rule-chain-order-swapped": dict(order=(1, 0, 2)),
        "rule-ca-ee-is-ca": dict(ee_ca=True),
        "rule-ca-root-pathlen-0": dict(root_pathlen=0),
        "rule-ca-intermediate-no-keycertsign": dict(inter_key_cert_sign=False),
        "rule-code-signing-eku-ee-none": dict(ee_eku=()),
        "rule-code-signing-eku-intermediate-serverauth": dict(inter_eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
        "rule-ee-name-other": dict(ee_name="remote-settings.content-signature.mozilla.org"),
        "rule-name-constraints-outside": dict(subtree=".example.org"),
        "rule-ee-key-rsa": dict(ee_key=rsa.generate_private_key(public_exponent=65537, key_size=1024)),
    }
    for file, options in rules.items():
        (OUT / f"{file}.pem").write_bytes(chain(**options)[0])


if __name__ == "__main__":
    main()
