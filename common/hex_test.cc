#include "common/hex.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HexTest, EncodesLowerCase) {
  const std::vector<uint8_t> bytes = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes), "00017f80abff");
}

TEST(HexTest, EncodesEmpty) { EXPECT_EQ(HexEncode({}), ""); }

TEST(HexTest, RoundTripsEveryByteValue) {
  std::vector<uint8_t> all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  const std::string hex = HexEncode(all);
  EXPECT_EQ(hex.size(), 512u);
  auto back = HexDecode(hex);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, all);
}

TEST(HexTest, DecodesEmpty) {
  auto r = HexDecode("");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
}

TEST(HexTest, DecodesUpperAndMixedCase) {
  auto upper = HexDecode("DEADBEEF");
  ASSERT_TRUE(upper.ok()) << upper.status();
  EXPECT_THAT(*upper, ElementsAre(0xde, 0xad, 0xbe, 0xef));
  auto mixed = HexDecode("dEaDbEeF");
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_EQ(*mixed, *upper);
}

TEST(HexTest, ColonsAcceptedWithAllowColons) {
  auto r = HexDecode("AB:CD:0e", /*allow_colons=*/true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre(0xab, 0xcd, 0x0e));
}

TEST(HexTest, ColonsRefusedByDefault) {
  auto r = HexDecode("AB:CD");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("offset 2"));
}

TEST(HexTest, ColonInsideAByteRefused) {
  auto r = HexDecode("A:BCD", /*allow_colons=*/true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("colon inside a byte"));
}

TEST(HexTest, OddLengthRefused) {
  for (const char* s : {"a", "abc", "0102030"}) {
    auto r = HexDecode(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(r.status().message(), HasSubstr("odd")) << s;
  }
  auto with_colons = HexDecode("AB:C", /*allow_colons=*/true);
  EXPECT_FALSE(with_colons.ok());
}

TEST(HexTest, BadCharacterRefusedWithOffset) {
  auto r = HexDecode("00g1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("offset 2"));
  for (const char* s : {"0x00", " 00", "00 ", "0-", "zz", "\xff\xff"}) {
    EXPECT_FALSE(HexDecode(s).ok()) << s;
  }
}

TEST(HexTest, EmbeddedNulRefused) {
  const std::string with_nul = std::string("00") + '\0' + "0";
  EXPECT_FALSE(HexDecode(with_nul).ok());
}

}  // namespace
}  // namespace signet
