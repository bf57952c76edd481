#include "common/digest.h"

#include <openssl/evp.h>

#include <string>
#include <thread>
#include <vector>

#include "common/hex.h"
#include "common/sha256.h"
#include "gtest/gtest.h"

namespace signet {
namespace {

std::string HexDigest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return "EVP_Digest failed";
  return HexEncode(std::span<const uint8_t>(out, len));
}

// FIPS 180-4's "abc" examples: a digest that is fetched, not rebuilt, must still be the right one.
TEST(DigestTest, FetchedDigestsGiveTheStandardAnswers) {
  EXPECT_EQ(HexDigest(Sha256Md(), "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexDigest(Sha384Md(), "abc"),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
            "8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(HexDigest(Sha512Md(), "abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// One object per process, whichever thread asks first: the point is not to look it up again.
TEST(DigestTest, EachDigestIsFetchedOnceForTheWholeProcess) {
  std::vector<const EVP_MD*> seen(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = Sha384Md(); });
  }
  for (auto& t : threads) t.join();
  for (const EVP_MD* md : seen) EXPECT_EQ(md, Sha384Md());
  EXPECT_EQ(Sha256Md(), Sha256Md());
  EXPECT_NE(Sha256Md(), Sha384Md());
  EXPECT_NE(Sha256Md(), EVP_sha256());  // a fetched implementation, not the legacy placeholder
  EXPECT_EQ(EVP_MD_get_size(Sha256Md()), 32);
  EXPECT_EQ(EVP_MD_get_size(Sha512Md()), 64);
}

}  // namespace
}  // namespace signet
