// signing/chain.h: PEM chain parsing and the Firefox chain verifier, at a fixed time.
// The input is "PEM" or "PEM\0SIGNATURE\0DATA". The chain is verified twice: against the fixed pin of
// tests/vectors/normandy-dev-2021.chain.pem's root, and against the SHA-256 of its own root, so that the
// rules after root-pin are reached by any chain the fuzzer builds; with a signature, the whole
// VerifyContentSignatureWithChain runs too. Every refusal is "rule <name>: ..." and printable.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "signing/chain.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using signet::fuzz::CheckRefusal;
using signet::fuzz::Require;
namespace sg = signet::signing;

// 2020-05-09T14:02:37Z: the normandy chain (and tests/fuzz/corpus/chain's generated one) are valid then.
const absl::Time kAt = absl::FromUnixSeconds(1589032957);
constexpr std::string_view kEeName = "normandy.content-signature.mozilla.org";
constexpr std::string_view kNormandyRootSha256 =
    "4C:35:B1:C3:E3:12:D9:55:E7:78:ED:D0:A7:E7:8A:38:83:04:EF:01:BF:FA:03:29:B2:46:9F:3C:C5:EC:36:04";

void CheckRule(const absl::Status& s) {
  CheckRefusal(s, {"rule size: ", "rule format: ", "rule count: ", "rule validity: ", "rule chain-order: ",
                   "rule issuer-signature: ", "rule root-self-signed: ", "rule ca: ", "rule root-pin: ",
                   "rule code-signing-eku: ", "rule ee-name: ", "rule name-constraints: ", "rule ee-key: ",
                   "rule signature: "});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view pem = input.substr(0, nul);

  absl::StatusOr<sg::CertChain> chain = sg::ParseChainPem(pem);
  signet::fuzz::Note("parse", chain.status());
  if (!chain.ok()) {
    CheckRefusal(chain.status(), {"rule size: ", "rule format: ", "rule count: "});
    return 0;
  }
  Require(chain->ee && chain->intermediate && chain->root, "a parsed chain has three certificates");

  static const std::vector<uint8_t> normandy_pin = *sg::ParseSha256Fingerprint(kNormandyRootSha256);
  sg::ChainPolicy fixed{normandy_pin, std::string(kEeName), kAt};
  absl::StatusOr<sg::VerifiedChain> verified = sg::VerifyChain(*chain, fixed);
  signet::fuzz::Note("verify (normandy pin)", verified.status());
  if (!verified.ok()) CheckRule(verified.status());

  // The chain's own root as the pin; its fingerprint text must parse back to the same digest.
  const std::string own_fingerprint = sg::CertSha256Fingerprint(chain->root.get());
  absl::StatusOr<std::vector<uint8_t>> own_pin = sg::ParseSha256Fingerprint(own_fingerprint);
  Require(own_pin.ok() && own_pin->size() == 32, "CertSha256Fingerprint does not parse back",
          own_fingerprint);
  sg::ChainPolicy own{*own_pin, std::string(kEeName), kAt};
  absl::StatusOr<sg::VerifiedChain> own_verified = sg::VerifyChain(*chain, own);
  signet::fuzz::Note("verify (own root pinned)", own_verified.status());
  if (!own_verified.ok()) {
    CheckRule(own_verified.status());
  } else {
    Require(own_verified->ee_public_key != nullptr, "a verified chain has the ee key");
    Require(own_verified->ee_not_after >= kAt, "a verified chain is valid at the verification time");
  }

  if (nul != std::string_view::npos) {
    const std::string_view rest = input.substr(nul + 1);
    const size_t nul2 = rest.find('\0');
    const std::string_view signature = rest.substr(0, nul2);
    const std::string_view message =
        nul2 == std::string_view::npos ? std::string_view() : rest.substr(nul2 + 1);
    absl::Status s = sg::VerifyContentSignatureWithChain(
        pem, own, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size()),
        signature);
    signet::fuzz::Note("signature", s);
    if (!s.ok()) CheckRule(s);
    Require(s.ok() == false || own_verified.ok(), "a signature verified over a chain that does not");
  }
  return 0;
}
