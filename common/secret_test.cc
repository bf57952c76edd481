#include "common/secret.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A value no error message may ever contain.
constexpr char kSecret[] = "s3cr3t-PIN-4711";

// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "signet-secret-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `content` to `name` in the temp dir with exactly `mode`, whatever the umask.
  std::string WriteFile(const std::string& name, const std::string& content, mode_t mode = 0600) {
    std::string path = (dir_ / name).string();
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << content;
    }
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  std::filesystem::path dir_;
};

// --- SecretBuffer ---

TEST(SecretBufferTest, HoldsValue) {
  SecretBuffer s("1234");
  EXPECT_EQ(s.reveal(), "1234");
  EXPECT_EQ(s.size(), 4u);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(s.data()), s.size()), "1234");
}

TEST(SecretBufferTest, DefaultIsEmpty) {
  SecretBuffer s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
}

TEST(SecretBufferTest, MoveConstructionEmptiesSource) {
  SecretBuffer a(kSecret);
  SecretBuffer b(std::move(a));
  EXPECT_EQ(b.reveal(), kSecret);
  EXPECT_TRUE(a.empty());   // NOLINT(*use-after-move,*.Move): the moved-from state is the point.
  EXPECT_EQ(a.size(), 0u);  // NOLINT(*use-after-move,*.Move)
}

TEST(SecretBufferTest, MoveAssignmentEmptiesSourceAndReplacesTarget) {
  SecretBuffer a(kSecret);
  SecretBuffer b("old-value");
  b = std::move(a);
  EXPECT_EQ(b.reveal(), kSecret);
  EXPECT_TRUE(a.empty());  // NOLINT(*use-after-move,*.Move)
}

TEST(SecretBufferTest, MoveOfLongValueKeepsIt) {
  // Longer than any small-string buffer, so the heap path is exercised too.
  std::string long_value(kMaxSecretBytes, 'x');
  SecretBuffer a(long_value);
  SecretBuffer b(std::move(a));
  EXPECT_EQ(b.reveal(), long_value);
  EXPECT_TRUE(a.empty());  // NOLINT(*use-after-move,*.Move)
}

TEST(SecretBufferTest, SelfMoveAssignmentKeepsValue) {
  SecretBuffer a(kSecret);
  SecretBuffer& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.reveal(), kSecret);  // NOLINT(*use-after-move,*.Move)
}

TEST(SecretBufferTest, CloneIsIndependent) {
  SecretBuffer a(kSecret);
  SecretBuffer b = a.Clone();
  EXPECT_EQ(a.reveal(), kSecret);
  EXPECT_EQ(b.reveal(), kSecret);
  EXPECT_NE(a.data(), b.data());
  SecretBuffer sink(std::move(a));
  EXPECT_EQ(b.reveal(), kSecret);
}

// --- ReadSecretFile ---

using ReadSecretFileTest = TempDirTest;

TEST_F(ReadSecretFileTest, ReadsMode0600File) {
  auto r = ReadSecretFile(WriteFile("pin", kSecret));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretFileTest, ReadsMode0400File) {
  auto r = ReadSecretFile(WriteFile("pin", kSecret, 0400));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretFileTest, StripsTrailingNewline) {
  auto r = ReadSecretFile(WriteFile("pin", std::string(kSecret) + "\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretFileTest, StripsTrailingCrLf) {
  auto r = ReadSecretFile(WriteFile("pin", std::string(kSecret) + "\r\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretFileTest, StripsOnlyOneNewline) {
  auto r = ReadSecretFile(WriteFile("pin", "1234\n\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), "1234\n");
}

TEST_F(ReadSecretFileTest, KeepsLoneTrailingCarriageReturn) {
  // Only "\n" or "\r\n" is a line ending; a bare "\r" is part of the secret.
  auto r = ReadSecretFile(WriteFile("pin", "1234\r"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), "1234\r");
}

TEST_F(ReadSecretFileTest, KeepsInnerWhitespace) {
  auto r = ReadSecretFile(WriteFile("pin", " a b \n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), " a b ");
}

TEST_F(ReadSecretFileTest, RefusesGroupReadable0640) {
  std::string path = WriteFile("pin", kSecret, 0640);
  auto r = ReadSecretFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(r.status().message(), HasSubstr("640"));
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

TEST_F(ReadSecretFileTest, RefusesWorldReadable0604) {
  auto r = ReadSecretFile(WriteFile("pin", kSecret, 0604));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

TEST_F(ReadSecretFileTest, RefusesGroupWritable0620) {
  auto r = ReadSecretFile(WriteFile("pin", kSecret, 0620));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ReadSecretFileTest, MissingFileIsNotFoundNamingPath) {
  std::string path = (dir_ / "no-such-pin").string();
  auto r = ReadSecretFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
}

TEST_F(ReadSecretFileTest, RefusesEmptyFile) {
  auto r = ReadSecretFile(WriteFile("pin", ""));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("empty"));
}

TEST_F(ReadSecretFileTest, RefusesFileHoldingOnlyANewline) {
  auto r = ReadSecretFile(WriteFile("pin", "\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ReadSecretFileTest, AcceptsExactlyTheBound) {
  std::string value(kMaxSecretBytes, 'a');
  auto r = ReadSecretFile(WriteFile("pin", value + "\r\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), value);
}

TEST_F(ReadSecretFileTest, RefusesOverBound) {
  std::string value = std::string(kSecret) + std::string(kMaxSecretBytes, 'a');
  auto r = ReadSecretFile(WriteFile("pin", value));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("longer than 256"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

TEST_F(ReadSecretFileTest, RefusesOneByteOverBound) {
  auto r = ReadSecretFile(WriteFile("pin", std::string(kMaxSecretBytes + 1, 'a') + "\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ReadSecretFileTest, RefusesOverBoundFileWhoseReadStopsAfterCrLf) {
  // The bound, a CRLF, then more: must not be read as a truncated, valid secret.
  auto r = ReadSecretFile(WriteFile("pin", std::string(kMaxSecretBytes, 'a') + "\r\nmore"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ReadSecretFileTest, RefusesDirectory) {
  std::filesystem::path sub = dir_ / "subdir";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  auto r = ReadSecretFile(sub.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not a regular file"));
}

TEST_F(ReadSecretFileTest, RefusesFifoWithoutBlocking) {
  std::filesystem::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = ReadSecretFile(fifo.string());  // Would hang forever without O_NONBLOCK.
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("not a regular file"));
}

TEST_F(ReadSecretFileTest, RefusesSymlinkEvenToGoodFile) {
  std::string target = WriteFile("real-pin", kSecret);
  std::filesystem::path link = dir_ / "pin-link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto r = ReadSecretFile(link.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("symbolic link"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

// --- ReadSecretEnv ---

constexpr char kEnvName[] = "SIGNET_SECRET_TEST_PIN";

class ReadSecretEnvTest : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv(kEnvName); }
  void TearDown() override { ::unsetenv(kEnvName); }
};

TEST_F(ReadSecretEnvTest, ReadsSetVariable) {
  ASSERT_EQ(::setenv(kEnvName, kSecret, 1), 0);
  auto r = ReadSecretEnv(kEnvName);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretEnvTest, KeepsTrailingNewline) {
  // Only files get a newline stripped; an environment value is taken as it is.
  ASSERT_EQ(::setenv(kEnvName, "1234\n", 1), 0);
  auto r = ReadSecretEnv(kEnvName);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), "1234\n");
}

TEST_F(ReadSecretEnvTest, UnsetIsNotFoundNamingVariable) {
  auto r = ReadSecretEnv(kEnvName);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(kEnvName));
}

TEST_F(ReadSecretEnvTest, RefusesEmpty) {
  ASSERT_EQ(::setenv(kEnvName, "", 1), 0);
  auto r = ReadSecretEnv(kEnvName);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("empty"));
}

TEST_F(ReadSecretEnvTest, AcceptsExactlyTheBound) {
  std::string value(kMaxSecretBytes, 'z');
  ASSERT_EQ(::setenv(kEnvName, value.c_str(), 1), 0);
  auto r = ReadSecretEnv(kEnvName);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), value);
}

TEST_F(ReadSecretEnvTest, RefusesTooLongWithoutEchoingIt) {
  std::string value = std::string(kSecret) + std::string(kMaxSecretBytes, 'z');
  ASSERT_EQ(::setenv(kEnvName, value.c_str(), 1), 0);
  auto r = ReadSecretEnv(kEnvName);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("longer than 256"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

// --- ReadSecretSource ---

class ReadSecretSourceTest : public TempDirTest {
 protected:
  void TearDown() override {
    ::unsetenv(kEnvName);
    TempDirTest::TearDown();
  }
};

TEST_F(ReadSecretSourceTest, FilePrefix) {
  std::string path = WriteFile("pin", std::string(kSecret) + "\n");
  auto r = ReadSecretSource("file:" + path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretSourceTest, FilePrefixKeepsFileChecks) {
  auto r = ReadSecretSource("file:" + WriteFile("pin", kSecret, 0644));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
}

TEST_F(ReadSecretSourceTest, EnvPrefix) {
  ASSERT_EQ(::setenv(kEnvName, kSecret, 1), 0);
  auto r = ReadSecretSource(std::string("env:") + kEnvName);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reveal(), kSecret);
}

TEST_F(ReadSecretSourceTest, EnvPrefixUnset) {
  auto r = ReadSecretSource(std::string("env:") + kEnvName);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReadSecretSourceTest, BarePinIsRefusedWithoutEchoingIt) {
  auto r = ReadSecretSource("1234");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("never given on the command line"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("1234")));
}

TEST_F(ReadSecretSourceTest, UnknownSchemeIsRefusedWithoutEchoingIt) {
  for (const std::string& source : {std::string("pin:") + kSecret, std::string(kSecret), std::string(""),
                                    std::string("FILE:/etc/pin"), std::string("env")}) {
    auto r = ReadSecretSource(source);
    ASSERT_FALSE(r.ok()) << source;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << source;
    EXPECT_THAT(r.status().message(), Not(HasSubstr(kSecret)));
  }
}

}  // namespace
}  // namespace signet
