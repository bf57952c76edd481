#include "common/digest.h"

#include "common/openssl_error.h"

namespace signet {
namespace {

// A built-in digest that cannot be fetched means OpenSSL's default provider is missing: nothing
// Signet computes after that could be trusted.
const EVP_MD* Fetch(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) OpenSslInvariantFailure(name);
  return md;
}

}  // namespace

const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = Fetch("SHA2-256");
  return md;
}

const EVP_MD* Sha384Md() {
  static const EVP_MD* const md = Fetch("SHA2-384");
  return md;
}

const EVP_MD* Sha512Md() {
  static const EVP_MD* const md = Fetch("SHA2-512");
  return md;
}

}  // namespace signet
