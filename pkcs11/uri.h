// How an operator names a token (and optionally an object on it): a label, "serial=...", or an
// RFC 7512 "pkcs11:" URI.
#ifndef SIGNET_PKCS11_URI_H_
#define SIGNET_PKCS11_URI_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pkcs11/module.h"

namespace signet::pkcs11 {

inline constexpr size_t kMaxUriBytes = 4096;

struct TokenSelector {
  // Token attributes; every one that is set must match.
  std::optional<std::string> token;  // label
  std::optional<std::string> serial;
  std::optional<std::string> manufacturer;
  std::optional<std::string> model;
  std::optional<CK_SLOT_ID> slot_id;
  // Object attributes (used by key lookups).
  std::optional<std::string> object;  // CKA_LABEL
  std::optional<std::vector<uint8_t>> id;  // CKA_ID
  std::optional<std::string> type;    // private, public, cert, ...
  // Query attributes.
  std::optional<std::string> pin_source;   // "file:..." or "env:..." style, see common/secret.h
  std::optional<std::string> module_path;

  bool Matches(const TokenInfo& info) const;
  std::string Describe() const;  // for error messages; never contains a PIN
};

// Accepts:
//   "pkcs11:token=signet;serial=abc?pin-source=file:/etc/signet/pin"  (RFC 7512, percent-decoding)
//   "serial=abc"   "label=signet"   "signet" (a bare label)
// A pin-value attribute is refused: a PIN never travels in a URI (argv, logs, process listings).
absl::StatusOr<TokenSelector> ParseTokenSelector(std::string_view text);

// The single token in `tokens` matching `selector`; NotFound or FailedPrecondition (ambiguous)
// errors list the tokens that are present.
absl::StatusOr<TokenInfo> SelectToken(const std::vector<TokenInfo>& tokens, const TokenSelector& selector);

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_URI_H_
