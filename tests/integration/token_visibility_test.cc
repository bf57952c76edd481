// Objects another process stores on a SoftHSM token while this process reads the token's objects:
// each keeps the template its creator stored. A replica reads every certificate on the token each
// reload interval while `signet rotate` (another process) stores a new one. SoftHSM 2.6.1 writes a new
// object in steps, and a read of its attributes between two steps used to write the object back with
// its defaults (empty label and CKA_ID) over the creator's template, for every process: the rotated
// key was never served. pkcs11::FindObjects now leaves out objects whose CKA_TOKEN is not yet true
// (pkcs11/objects.h); without that, each of three runs of this test lost one or more of the 60.
#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "gtest/gtest.h"
#include "pkcs11/certificate.h"
#include "tests/testing/process.h"
#include "tests/testing/softhsm_token.h"

namespace signet {
namespace {

constexpr int kCertificates = 60;

TEST(TokenVisibilityTest, CertificatesAnotherProcessStoresWhileWeReadKeepTheirLabelIdAndValue) {
  auto hsm = testing::SoftHsmToken::Create();  // "signet-test", SOFTHSM2_CONF set for the writer too
  ASSERT_TRUE(hsm.ok()) << hsm.status();
  auto pool = (*hsm)->Pool(3);
  ASSERT_TRUE(pool.ok()) << pool.status();

  // Two readers, as a replica's refresh and a second replica would be, list every certificate and read
  // its value, CKA_ID and label, over and over, for as long as the writer runs.
  auto list = [&] {
    return (*pool)->Run([](pkcs11::Session& s) { return pkcs11::FindCertificates(s, std::nullopt); });
  };
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        list().ok() ? reads.fetch_add(1) : errors.fetch_add(1);
      }
    });
  }
  const std::string der_file = (*hsm)->dir() + "/written.der";
  testing::ProcessOptions opts;
  opts.dir = (*hsm)->dir();
  opts.timeout = std::chrono::seconds(100);
  testing::ProcessResult writer =
      testing::RunProcess({SIGNET_TOKEN_WRITER_BINARY, std::to_string(kCertificates), der_file}, opts);
  stop.store(true);
  for (auto& t : readers) t.join();
  ASSERT_EQ(writer.exit_code, 0) << writer;
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);

  std::ifstream in(der_file, std::ios::binary);
  const std::vector<uint8_t> der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(der.empty());
  // What is on the token now, for this process and any other: every certificate as its writer stored it.
  auto certs = list();
  ASSERT_TRUE(certs.ok()) << certs.status();
  std::map<std::string, const pkcs11::CertificateObject*> by_label;
  for (const auto& c : *certs) by_label[c.label] = &c;
  EXPECT_EQ(certs->size(), static_cast<size_t>(kCertificates));
  for (int i = 0; i < kCertificates; ++i) {
    const std::string label = "visibility/" + std::to_string(i);
    auto it = by_label.find(label);
    if (it == by_label.end()) {
      ADD_FAILURE() << label << " is not on the token (" << certs->size() << " certificates; "
                    << by_label.count("") << " with an empty label)";
      continue;
    }
    EXPECT_EQ(it->second->id, std::vector<uint8_t>{static_cast<uint8_t>(i)}) << label;
    EXPECT_EQ(it->second->der, der) << label;
  }
}

}  // namespace
}  // namespace signet
