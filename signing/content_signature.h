// Firefox Content-Signature: ECDSA over HASH("Content-Signature:\0" || data), HASH being SHA-256/384/512 for
// P-256/384/521. The signature travels as base64url (no padding) of r||s, each left-padded to the field size,
// in a header value "x5u=<url>;p384ecdsa=<sig>". This file knows nothing of keys' storage (see signer.h).
#ifndef SIGNET_SIGNING_CONTENT_SIGNATURE_H_
#define SIGNET_SIGNING_CONTENT_SIGNATURE_H_

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ec_curve.h"

namespace signet::signing {

// "Content-Signature:" and one NUL byte: 19 bytes, prepended to the data before hashing.
inline constexpr std::string_view kContentSignaturePrefix{"Content-Signature:\0", 19};

// Upper bound on a header value ParseHeader accepts.
inline constexpr size_t kMaxHeaderBytes = 16384;

// HASH(kContentSignaturePrefix || data) with the curve's hash (EcCurveInfo::md); digest_bytes long.
std::vector<uint8_t> ContentSignatureDigest(EcCurve curve, std::span<const uint8_t> data);

// OK iff digest_len is the curve's digest size; otherwise InvalidArgument, e.g.
// "digest is 32 bytes; P-384 (p384ecdsa) signs a 48-byte SHA-384 digest".
absl::Status CheckDigestLength(EcCurve curve, size_t digest_len);

// raw_rs must be exactly 2 * field_bytes (r||s); returns its base64url encoding, no padding.
absl::StatusOr<std::string> EncodeSignature(EcCurve curve, std::span<const uint8_t> raw_rs);

// Strict base64url decode (bounded) of a signature, which must be exactly 2 * field_bytes long.
absl::StatusOr<std::vector<uint8_t>> DecodeSignature(EcCurve curve, std::string_view b64);

// ECDSA-Sig-Value (DER SEQUENCE { r INTEGER, s INTEGER }, as OpenSSL and PKCS#11 wrappers produce) to fixed
// r||s. Rejects anything but canonical DER, trailing data, r or s that is zero, negative or longer than
// field_bytes.
absl::StatusOr<std::vector<uint8_t>> DerToRawSignature(EcCurve curve, std::span<const uint8_t> der);

// Fixed r||s (exactly 2 * field_bytes) to ECDSA-Sig-Value DER. Rejects r or s equal to zero.
absl::StatusOr<std::vector<uint8_t>> RawToDerSignature(EcCurve curve, std::span<const uint8_t> raw_rs);

struct ContentSignatureHeader {
  std::string x5u;  // empty: no x5u parameter
  EcCurve curve = EcCurve::kP384;
  std::string signature;  // base64url r||s, as in the header
};

// "x5u=<url>;p384ecdsa=<sig>", or "p384ecdsa=<sig>" when x5u is empty. Fields are copied verbatim: the caller
// must not put ';' in x5u (URLs Signet serves never contain one).
std::string BuildHeader(const ContentSignatureHeader& h);

// Parses a header value of at most kMaxHeaderBytes: ';'-separated "name=value" parameters, optional spaces
// or tabs around each part. Names (case-sensitive): x5u (at most once), exactly one of
// p256ecdsa/p384ecdsa/p521ecdsa (whose value must pass DecodeSignature for that curve), and keyid (older
// Autograph format; accepted and ignored). Anything else, a missing '=', an empty name or value, or an empty
// parameter (e.g. ";;") is InvalidArgument naming the problem.
absl::StatusOr<ContentSignatureHeader> ParseHeader(std::string_view value);

// Verifies raw r||s over a precomputed digest. InvalidArgument for malformed input (not an EC key, key on
// another curve, wrong digest or signature length, r or s zero); Unauthenticated("signature does not verify")
// for a well-formed signature that does not verify.
absl::Status VerifyDigest(EVP_PKEY* public_key, EcCurve curve, std::span<const uint8_t> digest,
                          std::span<const uint8_t> raw_rs);

// ContentSignatureDigest + DecodeSignature + VerifyDigest.
absl::Status VerifyData(EVP_PKEY* public_key, EcCurve curve, std::span<const uint8_t> data,
                        std::string_view signature_b64);

}  // namespace signet::signing

#endif  // SIGNET_SIGNING_CONTENT_SIGNATURE_H_
