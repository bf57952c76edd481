#include "signing/base64url.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::signing {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

// Expects InvalidArgument whose message contains every one of `parts`.
void ExpectRejected(std::string_view text, size_t max, std::initializer_list<std::string_view> parts) {
  absl::StatusOr<std::vector<uint8_t>> got = Base64UrlDecode(text, max);
  ASSERT_FALSE(got.ok()) << "accepted '" << text << "'";
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  for (std::string_view part : parts) {
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(std::string(part))) << "for '" << text << "'";
  }
}

// The RFC 4648 section 10 vectors (unpadded), written into a caller's buffer: exactly
// Base64UrlEncodedSize characters, and not one past them.
TEST(Base64UrlTest, EncodeToWritesExactlyEncodedSize) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    const std::vector<uint8_t> bytes = Bytes(plain);
    ASSERT_EQ(Base64UrlEncodedSize(bytes.size()), encoded.size()) << plain;
    std::string out(encoded.size() + 1, '#');
    char* end = Base64UrlEncodeTo(bytes, out.data());
    EXPECT_EQ(end - out.data(), static_cast<ptrdiff_t>(encoded.size())) << plain;
    EXPECT_EQ(out, std::string(encoded) + "#") << plain;
    EXPECT_EQ(Base64UrlEncode(bytes), encoded);
  }
}

TEST(Base64UrlTest, RoundTripsRandomLengths0To100) {
  std::mt19937 rng(20240601);  // NOLINT(cert-msc32-c,cert-msc51-cpp): reproducible test data
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t len = 0; len <= 100; ++len) {
    std::vector<uint8_t> data(len);
    for (auto& b : data) b = static_cast<uint8_t>(byte(rng));
    std::string enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.size(), (len * 4 + 2) / 3) << len;
    EXPECT_EQ(enc.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    absl::StatusOr<std::vector<uint8_t>> dec = Base64UrlDecode(enc, len);
    ASSERT_TRUE(dec.ok()) << len << ": " << dec.status();
    EXPECT_EQ(*dec, data) << len;
  }
}

TEST(Base64UrlTest, Rfc4648VectorsWithoutPadding) {
  const std::pair<std::string_view, std::string_view> kVectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64UrlEncode(Bytes(plain)), encoded);
    absl::StatusOr<std::vector<uint8_t>> dec = Base64UrlDecode(encoded, 100);
    ASSERT_TRUE(dec.ok()) << dec.status();
    EXPECT_EQ(*dec, Bytes(plain));
  }
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  // Standard base64 "+/8=" and "////".
  const std::vector<uint8_t> a = {0xfb, 0xff};
  const std::vector<uint8_t> b = {0xff, 0xff, 0xff};
  const std::vector<uint8_t> c = {0xfb, 0xef, 0xbe};
  EXPECT_EQ(Base64UrlEncode(a), "-_8");
  EXPECT_EQ(Base64UrlEncode(b), "____");
  EXPECT_EQ(Base64UrlEncode(c), "----");
  EXPECT_EQ(*Base64UrlDecode("-_8", 2), a);
  EXPECT_EQ(*Base64UrlDecode("____", 3), b);
  EXPECT_EQ(*Base64UrlDecode("----", 3), c);
}

TEST(Base64UrlTest, RejectsPadding) {
  ExpectRejected("Zg==", 10, {"padding", "offset 2"});
  ExpectRejected("Zm8=", 10, {"padding", "offset 3"});
}

TEST(Base64UrlTest, RejectsStandardBase64Characters) {
  ExpectRejected("+_8", 10, {"'+'", "offset 0", "standard base64"});
  ExpectRejected("-/8", 10, {"'/'", "offset 1", "standard base64"});
}

TEST(Base64UrlTest, RejectsWhitespace) {
  ExpectRejected("Zm9v Yg", 10, {"whitespace", "offset 4"});
  ExpectRejected("Zm9v\nYg", 10, {"whitespace", "offset 4"});
  ExpectRejected("\tZm9vYg", 10, {"whitespace", "offset 0"});
  ExpectRejected("Zm9vYmE\r", 10, {"whitespace", "offset 7"});
}

TEST(Base64UrlTest, RejectsOtherCharacters) {
  ExpectRejected("Zm9v*g", 10, {"invalid character 0x2a", "offset 4"});
  ExpectRejected("Zm\x80v", 10, {"invalid character 0x80", "offset 2"});
  ExpectRejected(std::string_view("Zm\0v", 4), 10, {"invalid character 0x00", "offset 2"});
  ExpectRejected("Zm.v", 10, {"invalid character 0x2e", "offset 2"});
}

TEST(Base64UrlTest, RejectsLengthOneMod4) {
  ExpectRejected("Z", 10, {"length 1", "multiple of 4", "offset 0"});
  ExpectRejected("Zm9vY", 10, {"length 5", "multiple of 4", "offset 4"});
}

TEST(Base64UrlTest, RejectsNonCanonicalTrailingBits) {
  // "Zg" is canonical for "f"; "Zh" has the same first 8 bits and a non-zero trailing nibble.
  ExpectRejected("Zh", 10, {"non-zero trailing bits", "offset 1", "non-canonical"});
  ExpectRejected("Zm9", 10, {"non-zero trailing bits", "offset 2", "non-canonical"});
  ExpectRejected("Zm9vYmF", 10, {"non-zero trailing bits", "offset 6"});
  EXPECT_TRUE(Base64UrlDecode("Zm8", 10).ok());
}

TEST(Base64UrlTest, EnforcesMaxDecodedBytesBeforeDecoding) {
  EXPECT_TRUE(Base64UrlDecode("Zm9vYmFy", 6).ok());
  ExpectRejected("Zm9vYmFy", 5, {"decode to 6 bytes", "limit of 5"});
  ExpectRejected("Zm9vYmE", 4, {"decode to 5 bytes", "limit of 4"});
  // The length check comes first: invalid characters are never looked at.
  ExpectRejected("********", 2, {"limit of 2"});
  EXPECT_TRUE(Base64UrlDecode("", 0).ok());
  ExpectRejected("AA", 0, {"limit of 0"});
}

}  // namespace
}  // namespace signet::signing
