// The certificate chain behind a Content-Signature x5u URL, verified by the rules Firefox applies: three PEM
// certificates (end entity, intermediate, root), a root pinned by its SHA-256, the codeSigning EKU, and an
// end entity named by a DNS SAN and holding the ECDSA key that signs. Knows nothing of where chains are
// stored or fetched from.
//
// Every rule failure is InvalidArgument whose message starts with "rule <name>: ". The names are stable
// identifiers (tests, docs and operators match on them), checked in this order, most fundamental first:
//   size, format, count                                  ParseChainPem
//   validity, chain-order, issuer-signature, root-self-signed, ca, root-pin, code-signing-eku, ee-name,
//   name-constraints, ee-key                              VerifyChain
//   signature                                            VerifyContentSignatureWithChain
#ifndef SIGNET_SIGNING_CHAIN_H_
#define SIGNET_SIGNING_CHAIN_H_

#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ec_curve.h"
#include "common/openssl_ptr.h"

namespace signet::signing {

// Bound on a chain file or x5u body; real chains are about 6 KiB.
inline constexpr size_t kMaxChainBytes = size_t{128} * 1024;

struct CertChain {
  X509Ptr ee;
  X509Ptr intermediate;
  X509Ptr root;
};

struct ChainPolicy {
  std::vector<uint8_t> root_sha256;  // 32 bytes: SHA-256 of the root's DER (the pin)
  std::string ee_name;               // expected DNS SAN of the end entity
  absl::Time at;                     // verification time (injected; callers pass absl::Now())
};

struct VerifiedChain {
  EvpPkeyPtr ee_public_key;
  EcCurve curve;
  absl::Time ee_not_after, intermediate_not_after, root_not_after;
};

// "AB:CD:..." (exactly 32 colon-separated pairs) or "abcd..." (64 digits), either case -> 32 bytes; anything
// else is InvalidArgument naming the problem.
absl::StatusOr<std::vector<uint8_t>> ParseSha256Fingerprint(std::string_view text);

// Upper-case colon-separated SHA-256 of the DER, e.g. "4C:35:...".
std::string CertSha256Fingerprint(const X509* cert);

// Rules size, format, count: at most kMaxChainBytes; exactly three "-----BEGIN CERTIFICATE-----" blocks, in
// the order end entity, intermediate, root, with only whitespace between and around them. Each block must be
// strict base64 (padded, line breaks allowed) of exactly one DER certificate with well-formed extensions.
absl::StatusOr<CertChain> ParseChainPem(std::string_view pem);

// Rules validity .. ee-key, in the order listed above; the first failure is returned.
absl::StatusOr<VerifiedChain> VerifyChain(const CertChain& chain, const ChainPolicy& policy);

// ParseChainPem + VerifyChain.
absl::StatusOr<VerifiedChain> VerifyChainPem(std::string_view pem, const ChainPolicy& policy);

// The chain rules, then rule signature: `signature` is a bare base64url r||s (taken to be on the EE key's
// curve) or, if it contains '=' (which unpadded base64url never does), a whole header value
// "x5u=...;p384ecdsa=..." (ParseHeader) whose curve must be the EE key's. It must decode and verify over
// data with the EE key. A signature that does not verify is InvalidArgument too, like every rule.
absl::Status VerifyContentSignatureWithChain(std::string_view chain_pem, const ChainPolicy& policy,
                                             std::span<const uint8_t> data, std::string_view signature);

}  // namespace signet::signing

#endif  // SIGNET_SIGNING_CHAIN_H_
