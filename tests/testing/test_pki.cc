#include "tests/testing/test_pki.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "keymgmt/pin_shares.h"

namespace signet::testing {

std::string ReadTestFile(const std::string& path) { return ReadFileBounded(path, 1 << 20).value_or(""); }

keymgmt::PinPrompt SharesPrompt(std::string pin, int n, int m, std::vector<int> give) {
  return [pin = std::move(pin), n, m,
          give = std::move(give)](const std::string& what) -> absl::StatusOr<SecretBuffer> {
    auto shares = keymgmt::SplitPin(SecretBuffer(pin), n, m);
    if (!shares.ok()) return shares.status();
    std::string input;
    for (int k : give) input.append((*shares)[static_cast<size_t>(k - 1)].reveal()).append("\n");
    int fds[2];
    if (::pipe(fds) != 0) return absl::InternalError("pipe");
    // The input is small enough for the pipe buffer; write all, then close so EOF follows.
    const ssize_t written = ::write(fds[1], input.data(), input.size());
    ::close(fds[1]);
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    auto pin_or = written == static_cast<ssize_t>(input.size())
                      ? keymgmt::PromptPinFromShares(what, fds[0], devnull)
                      : absl::InternalError("short write to the share pipe");
    ::close(fds[0]);
    ::close(devnull);
    return pin_or;
  };
}

keymgmt::PinPrompt OfficersPrompt() { return SharesPrompt(kTestUserPin, 3, 2, {1, 3}); }

absl::StatusOr<keymgmt::CeremonyResult> RunCeremonyYaml(const std::string& dir, const std::string& file,
                                                        const std::string& yaml, absl::Time now,
                                                        keymgmt::PinPrompt prompt) {
  const std::string path = absl::StrCat(dir, "/", file);
  {
    std::ofstream out(path, std::ios::trunc);
    out << yaml;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  auto script = keymgmt::ParseCeremonyScript(yaml, path, dir);
  if (!script.ok()) return script.status();
  keymgmt::CeremonyOptions options;
  options.pin_prompt = std::move(prompt);
  options.now = [now] { return now; };
  return keymgmt::RunCeremony(*script, options);
}

absl::StatusOr<TestPki> BringUpTestPki(absl::Time now, absl::Duration root_validity,
                                       absl::Duration intermediate_validity) {
  TestPki pki;
  auto hsm = SoftHsmToken::Create(kOfflineToken);
  if (!hsm.ok()) return hsm.status();
  pki.hsm = *std::move(hsm);
  auto online = pki.hsm->AddToken(kOnlineToken);
  if (!online.ok()) return online.status();
  pki.online = *std::move(online);
  pki.dir = pki.hsm->dir();

  const std::string root_yaml = absl::StrCat(R"(ceremony: root
name: test-root-ceremony
output_dir: ceremony/root
token: {token: )",
                                             kOfflineToken, ", module: ", SIGNET_SOFTHSM_MODULE, R"(}
key: {label: )",
                                             kRootLabel, R"(, curve: P-384}
certificate:
  subject: {common_name: Signet Test Root, organization: Signet Tests, country: US}
  validity: )",
                                             absl::ToInt64Hours(root_validity), "h\n");
  if (::mkdir(absl::StrCat(pki.dir, "/ceremony").c_str(), 0755) != 0)
    return absl::InternalError("mkdir ceremony");
  auto root = RunCeremonyYaml(pki.dir, "root.yaml", root_yaml, now);
  if (!root.ok()) return root.status();
  pki.root_cert_file = root->outputs.front();
  pki.root_sha256 = root->certificate_sha256;

  const std::string intermediate_yaml = absl::StrCat(R"(ceremony: intermediate
name: test-intermediate-ceremony
output_dir: ceremony/intermediate
root:
  token: {token: )",
                                                     kOfflineToken, ", module: ", SIGNET_SOFTHSM_MODULE, R"(}
  key_label: )",
                                                     kRootLabel, R"(
  certificate: ceremony/root/)",
                                                     kRootLabel, R"(.crt.pem
token: {token: )",
                                                     kOnlineToken, ", module: ", SIGNET_SOFTHSM_MODULE, R"(}
key: {label: )",
                                                     kIntermediateLabel, R"(, curve: P-384}
certificate:
  subject: {common_name: Signet Test Intermediate, organization: Signet Tests, country: US}
  permitted_dns_subtree: )",
                                                     kPermittedSubtree, R"(
  validity: )",
                                                     absl::ToInt64Hours(intermediate_validity), "h\n");
  auto intermediate = RunCeremonyYaml(pki.dir, "intermediate.yaml", intermediate_yaml, now);
  if (!intermediate.ok()) return intermediate.status();
  pki.intermediate_cert_file = intermediate->outputs.front();
  return pki;
}

}  // namespace signet::testing
