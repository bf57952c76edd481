// CRLs for tests, built with OpenSSL the way a CA would issue them: v2, sorted, signed.
#ifndef SIGNET_TESTS_TESTING_TEST_CRL_H_
#define SIGNET_TESTS_TESTING_TEST_CRL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/openssl_ptr.h"

namespace signet::testing {

struct CrlSpec {
  const X509* issuer = nullptr;       // its subject is the CRL's issuer name
  const EVP_PKEY* signing_key = nullptr;  // normally the issuer's key; another key forges the CRL
  std::vector<const X509*> revoked;   // revoked by serial number
  absl::Time this_update = absl::Now() - absl::Minutes(5);
  std::optional<absl::Time> next_update = absl::Now() + absl::Hours(24 * 7);
  bool der = false;                   // DER instead of PEM
};

// The CRL as PEM ("X509 CRL") or DER bytes; aborts the test binary on an OpenSSL failure.
std::string MakeCrl(const CrlSpec& spec);

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_TEST_CRL_H_
