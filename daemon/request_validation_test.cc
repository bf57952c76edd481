#include "daemon/request_validation.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::daemon {
namespace {

using ::testing::HasSubstr;

TEST(RequestValidationTest, SignerIdBound) {
  LimitsConfig limits;
  EXPECT_TRUE(CheckSignerId(limits, "normandy").ok());
  EXPECT_TRUE(CheckSignerId(limits, std::string(128, 'a')).ok());
  absl::Status empty = CheckSignerId(limits, "");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "signer_id: 0 bytes; must be 1..128");
  EXPECT_EQ(CheckSignerId(limits, std::string(129, 'a')).message(), "signer_id: 129 bytes; must be 1..128");
}

TEST(RequestValidationTest, ItemCount) {
  LimitsConfig limits;
  limits.max_items_per_call = 3;
  EXPECT_TRUE(CheckItemCount(limits, "inputs", 1).ok());
  EXPECT_TRUE(CheckItemCount(limits, "inputs", 3).ok());
  EXPECT_EQ(CheckItemCount(limits, "inputs", 0).message(), "inputs: 0 items; a call carries 1..3");
  EXPECT_EQ(CheckItemCount(limits, "digests", 4).message(), "digests: 4 items; a call carries 1..3");
}

TEST(RequestValidationTest, RequestId) {
  EXPECT_TRUE(CheckRequestId("").ok());
  EXPECT_TRUE(CheckRequestId("client-chosen-id").ok());
  EXPECT_TRUE(CheckRequestId(std::string(128, '~')).ok());
  EXPECT_EQ(CheckRequestId(std::string(129, 'x')).message(),
            "request_id: 129 bytes, over the 128-byte bound");
  for (const std::string& bad :
       std::vector<std::string>{"has space", "tab\t", std::string("nul\0", 4), "\x7f", "caf\xc3\xa9"}) {
    EXPECT_EQ(CheckRequestId(bad).message(), "request_id: only printable ASCII without spaces") << bad;
  }
}

TEST(RequestValidationTest, ItemSizeAndDigestLength) {
  LimitsConfig limits;
  limits.max_item_bytes = 100;
  EXPECT_TRUE(CheckItem(limits, "inputs", 0, "x", false, "p384", EcCurve::kP384).ok());
  EXPECT_EQ(CheckItem(limits, "inputs", 1, "", false, "p384", EcCurve::kP384).message(),
            "inputs[1]: 0 bytes; an item must be 1..100 bytes");
  EXPECT_EQ(CheckItem(limits, "inputs", 2, std::string(101, 'x'), false, "p384", EcCurve::kP384).message(),
            "inputs[2]: 101 bytes; an item must be 1..100 bytes");
  EXPECT_TRUE(CheckItem(limits, "digests", 0, std::string(48, 'd'), true, "p384", EcCurve::kP384).ok());
  EXPECT_TRUE(CheckItem(limits, "digests", 0, std::string(32, 'd'), true, "p256", EcCurve::kP256).ok());
  EXPECT_TRUE(CheckItem(limits, "digests", 0, std::string(64, 'd'), true, "p521", EcCurve::kP521).ok());
  EXPECT_THAT(CheckItem(limits, "digests", 0, std::string(32, 'd'), true, "p384", EcCurve::kP384).message(),
              HasSubstr("digests[0]: 32 bytes; signer 'p384' (P-384) signs a 48-byte SHA-384 digest"));
}

}  // namespace
}  // namespace signet::daemon
