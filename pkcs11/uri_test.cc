#include "pkcs11/uri.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::pkcs11 {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

TEST(ParseTokenSelector, BareLabelSerialAndLabelForms) {
  EXPECT_EQ(*ParseTokenSelector("signet")->token, "signet");
  EXPECT_EQ(*ParseTokenSelector("label=a b")->token, "a b");
  EXPECT_EQ(*ParseTokenSelector("serial=0123abcd")->serial, "0123abcd");
  EXPECT_FALSE(ParseTokenSelector("").ok());
  EXPECT_FALSE(ParseTokenSelector("serial=").ok());
  EXPECT_THAT(Msg(ParseTokenSelector(std::string(33, 'x')).status()), HasSubstr("longer than 32 bytes"));
}

TEST(ParseTokenSelector, Rfc7512Uri) {
  auto sel = ParseTokenSelector(
      "pkcs11:token=My%20Token;serial=42;manufacturer=SoftHSM%20project;object=ee%2F1;id=%01%02;type=private"
      "?pin-source=file:/etc/pin&module-path=/usr/lib/softhsm/libsofthsm2.so");
  ASSERT_TRUE(sel.ok()) << sel.status();
  EXPECT_EQ(*sel->token, "My Token");
  EXPECT_EQ(*sel->serial, "42");
  EXPECT_EQ(*sel->manufacturer, "SoftHSM project");
  EXPECT_EQ(*sel->object, "ee/1");
  EXPECT_EQ(*sel->id, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(*sel->type, "private");
  EXPECT_EQ(*sel->pin_source, "file:/etc/pin");
  EXPECT_EQ(*sel->module_path, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_TRUE(ParseTokenSelector("pkcs11:").ok());
  EXPECT_EQ(*ParseTokenSelector("pkcs11:slot-id=7")->slot_id, 7u);
}

TEST(ParseTokenSelector, RejectsBadUris) {
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=a?pin-value=1234").status()), HasSubstr("pin-value is refused"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=a?pin-value=1234").status()), ::testing::Not(HasSubstr("1234")));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:colour=red").status()), HasSubstr("unknown path attribute 'colour'"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=a?x=1").status()), HasSubstr("unknown query attribute 'x'"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=a;token=b").status()), HasSubstr("'token' given twice"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token").status()), HasSubstr("is not name=value"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=%4").status()), HasSubstr("truncated %-escape"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=%zz").status()), HasSubstr("bad %-escape"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:slot-id=x").status()), HasSubstr("is not a number"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:type=gizmo").status()), HasSubstr("unknown type 'gizmo'"));
  EXPECT_THAT(Msg(ParseTokenSelector("pkcs11:token=" + std::string(5000, 'a')).status()), HasSubstr("longer than"));
}

// Found by fuzz_ceremony (tests/fuzz/regressions/ceremony/pkcs11-uri-echoes-raw-bytes): attribute names
// and values (a %-escape decodes to any byte) reached the messages raw.
TEST(ParseTokenSelector, MessagesEscapeUriBytes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"pkcs11:token=a?mo\xff\xffule-path=/x", "unknown query attribute 'mo\\xff\\xffule-path'"},
      {"pkcs11:x\x01y=1", "unknown path attribute 'x\\x01y'"},
      {"pkcs11:type=%0a", "unknown type '\\n'"},
      {"pkcs11:slot-id=1%00", "'1\\x00' is not a number"},
      {"pkcs11:tok\x1f-n", "attribute 'tok\\x1f-n' is not name=value"},
      {"pkcs11:t\xc3\xa9=%zz", "attribute 't\\xc3\\xa9': bad %-escape"},
      {"lab\nel-" + std::string(40, 'x'), "token label 'lab\\nel-xxxx"},
  };
  for (const auto& [uri, expected] : cases) {
    const std::string m = Msg(ParseTokenSelector(uri).status());
    EXPECT_THAT(m, HasSubstr(expected)) << uri;
    for (char c : m) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << m;
  }
}

TEST(SelectToken, UniqueMatchOrListsWhatIsPresent) {
  std::vector<TokenInfo> tokens = {
      {.slot = 1, .label = "a", .serial = "s1", .flags = CKF_TOKEN_INITIALIZED},
      {.slot = 2, .label = "a", .serial = "s2", .flags = CKF_TOKEN_INITIALIZED},
      {.slot = 3, .label = "", .serial = "", .flags = 0},
  };
  TokenSelector by_label;
  by_label.token = "a";
  auto ambiguous = SelectToken(tokens, by_label);
  EXPECT_EQ(ambiguous.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(ambiguous.status()), HasSubstr("matches 2 tokens"));
  by_label.serial = "s2";
  EXPECT_EQ(SelectToken(tokens, by_label)->slot, 2u);
  TokenSelector missing;
  missing.token = "b";
  EXPECT_THAT(Msg(SelectToken(tokens, missing).status()), HasSubstr("present: 'a' (serial s1), 'a' (serial s2)"));
}

}  // namespace
}  // namespace signet::pkcs11
