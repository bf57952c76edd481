// token_writer COUNT DER_OUT: another process storing certificates on the test token while a test
// reads the same token (tests/integration/token_visibility_test.cc). Logs in to the token labelled
// "signet-test" of $SOFTHSM2_CONF with the test PIN, makes one self-signed P-256 certificate, writes
// its DER to DER_OUT, and stores it COUNT times, as "visibility/<i>" with CKA_ID = i (one byte), with
// pkcs11::StoreCertificate, as `signet rotate` does, 5 ms apart.
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "common/openssl_ptr.h"
#include "common/secret.h"
#include "keymgmt/x509_builder.h"
#include "pkcs11/certificate.h"
#include "pkcs11/module.h"
#include "pkcs11/token.h"
#include "tests/testing/test_pins.h"

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "token_writer: %s\n", what.c_str());
  return 1;
}

// Built with keymgmt's X.509 blocks, as Signet's own certificates are; CheckOpenSsl aborts on failure.
signet::X509Ptr SelfSigned() {
  namespace km = signet::keymgmt;
  signet::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  km::CheckOpenSsl(key != nullptr, "EVP_EC_gen(P-256)");
  signet::X509NamePtr name(X509_NAME_new());
  km::CheckOpenSsl(
      name != nullptr &&
          X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("visibility"), -1, -1, 0) == 1,
      "X509_NAME_add_entry_by_txt");
  const absl::Time now = absl::Now();
  auto validity = km::ValidateValidity(now, now + absl::Hours(1));
  km::CheckOpenSsl(validity.ok(), "ValidateValidity");
  signet::X509Ptr cert = km::NewCertificate(name.get(), key.get(), *validity);
  km::CheckOpenSsl(X509_set_issuer_name(cert.get(), name.get()) == 1, "X509_set_issuer_name");
  if (!km::SignCertificate(cert.get(), key.get(), EVP_sha256()).ok()) return nullptr;
  return cert;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return Fail("usage: token_writer COUNT DER_OUT");
  const int count = std::atoi(argv[1]);
  if (count < 1 || count > 200) return Fail("COUNT must be 1..200");
  signet::X509Ptr cert = SelfSigned();
  if (!cert) return Fail("cannot make a self-signed certificate");
  const std::string der = signet::keymgmt::CertDer(cert.get());
  std::ofstream(argv[2], std::ios::binary).write(der.data(), static_cast<std::streamsize>(der.size()));

  auto module = signet::pkcs11::Module::Load(SIGNET_SOFTHSM_MODULE);
  if (!module.ok()) return Fail(std::string(module.status().message()));
  signet::pkcs11::TokenSelector sel;
  sel.token = "signet-test";
  auto token =
      signet::pkcs11::Token::Login(*module, sel, signet::SecretBuffer(signet::testing::kTestUserPin));
  if (!token.ok()) return Fail(std::string(token.status().message()));
  auto session = (*token)->OpenSession(/*read_write=*/true);
  if (!session.ok()) return Fail(std::string(session.status().message()));
  for (int i = 0; i < count; ++i) {
    const uint8_t id = static_cast<uint8_t>(i);
    const std::string label = "visibility/" + std::to_string(i);
    if (auto s = signet::pkcs11::StoreCertificate(
            *session, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(der.data()), der.size()),
            std::span<const uint8_t>(&id, 1), label);
        !s.ok()) {
      return Fail(label + ": " + std::string(s.message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return 0;
}
