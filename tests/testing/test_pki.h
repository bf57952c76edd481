// A Content-Signature PKI brought up the way security officers do it: two SoftHSM tokens (offline and
// online) in one throwaway SoftHSM instance, and the root and intermediate ceremonies run for real,
// with the token PINs entered as officers' Shamir shares.
#ifndef SIGNET_TESTS_TESTING_TEST_PKI_H_
#define SIGNET_TESTS_TESTING_TEST_PKI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "keymgmt/ceremony.h"
#include "tests/testing/softhsm_token.h"

namespace signet::testing {

inline constexpr char kOfflineToken[] = "signet-offline";
inline constexpr char kOnlineToken[] = "signet-online";
inline constexpr char kRootLabel[] = "test-root";
inline constexpr char kIntermediateLabel[] = "test-intermediate";
inline constexpr char kPermittedSubtree[] = ".content-signature.signet.test";
inline constexpr char kEeName[] = "remote-settings.content-signature.signet.test";

// The whole file (at most 1 MiB), or "" if it cannot be read.
std::string ReadTestFile(const std::string& path);

// A PinPrompt that splits `pin` into n shares with threshold m and enters the shares numbered in
// `give` (1-based, in that order) through a pipe into keymgmt::PromptPinFromShares, as officers would.
keymgmt::PinPrompt SharesPrompt(std::string pin, int n, int m, std::vector<int> give);

// The officers of the test tokens: 2 of 3 shares of kTestUserPin.
keymgmt::PinPrompt OfficersPrompt();

// Writes `yaml` to <dir>/<file>, parses it with ParseCeremonyScript and runs it at `now`.
absl::StatusOr<keymgmt::CeremonyResult> RunCeremonyYaml(const std::string& dir, const std::string& file,
                                                        const std::string& yaml, absl::Time now,
                                                        keymgmt::PinPrompt prompt = OfficersPrompt());

struct TestPki {
  std::unique_ptr<SoftHsmToken> hsm;  // the offline token is hsm->token()
  std::shared_ptr<pkcs11::Token> online;
  std::string dir;             // hsm->dir()
  std::string root_cert_file;  // <dir>/ceremony/root/test-root.crt.pem
  std::string intermediate_cert_file;
  std::string root_sha256;  // colon form, from the root ceremony
};

// Root valid from `now` for root_validity, intermediate from `now` for intermediate_validity.
absl::StatusOr<TestPki> BringUpTestPki(absl::Time now,
                                       absl::Duration root_validity = absl::Hours(24 * 365 * 10),
                                       absl::Duration intermediate_validity = absl::Hours(24 * 365 * 2));

}  // namespace signet::testing

#endif  // SIGNET_TESTS_TESTING_TEST_PKI_H_
