#include "keymgmt/cli_args.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::keymgmt {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

const FlagSpec kSpec{{"label", "curve"}, {"force"}};

TEST(CliArgs, ParsesBothFormsAndPositionals) {
  auto a = CliArgs::Parse({"--label", "k1", "--curve=P-256", "--force", "extra"}, kSpec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a->Get("label"), "k1");
  EXPECT_EQ(*a->Get("curve"), "P-256");
  EXPECT_TRUE(a->Has("force"));
  EXPECT_EQ(a->positionals(), std::vector<std::string>{"extra"});
  EXPECT_FALSE(a->Get("missing").has_value());
  EXPECT_THAT(Msg(a->Require("missing").status()), HasSubstr("--missing is required"));
}

TEST(CliArgs, RejectsUnknownRepeatedAndMalformedFlags) {
  EXPECT_THAT(Msg(CliArgs::Parse({"--colour", "red"}, kSpec).status()), HasSubstr("unknown flag --colour"));
  EXPECT_THAT(Msg(CliArgs::Parse({"--label", "a", "--label", "b"}, kSpec).status()), HasSubstr("--label given twice"));
  EXPECT_THAT(Msg(CliArgs::Parse({"--label"}, kSpec).status()), HasSubstr("--label needs a value"));
  EXPECT_THAT(Msg(CliArgs::Parse({"--force=yes"}, kSpec).status()), HasSubstr("--force takes no value"));
  EXPECT_THAT(Msg(CliArgs::Parse({"--label", std::string(5000, 'x')}, kSpec).status()), HasSubstr("longer than 4096"));
}

TEST(CliArgs, RefusesPinsOnTheCommandLine) {
  for (const char* flag : {"--pin", "--pin=1234", "--so-pin", "--so-pin=1234"}) {
    auto a = CliArgs::Parse({flag, "1234"}, kSpec);
    ASSERT_FALSE(a.ok()) << flag;
    EXPECT_THAT(Msg(a.status()), HasSubstr("never given on the command line"));
    EXPECT_THAT(Msg(a.status()), ::testing::Not(HasSubstr("1234")));
  }
}

}  // namespace
}  // namespace signet::keymgmt
