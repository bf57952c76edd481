#include "keymgmt/pin_shares.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::keymgmt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A PIN no error message or prompt output may ever contain.
constexpr char kPin[] = "s3cr3t-PIN-4711";

std::string Msg(const absl::Status& s) { return std::string(s.message()); }
std::string Text(const SecretBuffer& b) { return std::string(b.reveal()); }

std::vector<std::string> Fields(const SecretBuffer& share) { return absl::StrSplit(Text(share), ':'); }

std::vector<SecretBuffer> Split(std::string_view pin, int n, int m) {
  absl::StatusOr<std::vector<SecretBuffer>> shares = SplitPin(SecretBuffer(pin), n, m);
  EXPECT_TRUE(shares.ok()) << shares.status();
  if (!shares.ok()) std::abort();  // every caller needs the shares
  EXPECT_EQ(shares->size(), static_cast<size_t>(n));
  return *std::move(shares);
}

// Copies of all[i] for the given 0-based indices, in that order.
std::vector<SecretBuffer> Pick(const std::vector<SecretBuffer>& all, const std::vector<int>& indices) {
  std::vector<SecretBuffer> out;
  out.reserve(indices.size());
  for (int i : indices) out.push_back(all[static_cast<size_t>(i)].Clone());
  return out;
}

std::string HexOf(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

// What a forger (or a buggy tool) would do: append a correct check to an edited share body.
SecretBuffer Reseal(const std::string& body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(body.data(), body.size(), md, &len, EVP_sha256(), nullptr), 1);
  return SecretBuffer(body + ":" + HexOf(std::string_view(reinterpret_cast<const char*>(md), 4)));
}

// Re-joins fields[0..4] (dropping the check) and reseals.
SecretBuffer ResealFields(const std::vector<std::string>& f) {
  return Reseal(f[0] + ":" + f[1] + ":" + f[2] + ":" + f[3] + ":" + f[4]);
}

// The status is an error whose message contains no share, share field, or PIN (in text or hex).
void ExpectErrorWithoutSecrets(const absl::Status& s, const std::vector<SecretBuffer>& shares,
                               std::string_view pin = kPin) {
  ASSERT_FALSE(s.ok());
  const std::string m = Msg(s);
  EXPECT_THAT(m, Not(HasSubstr(std::string(pin))));
  EXPECT_THAT(m, Not(HasSubstr(HexOf(pin))));
  for (const SecretBuffer& share : shares) {
    EXPECT_THAT(m, Not(HasSubstr(Text(share))));
    const std::vector<std::string> f = Fields(share);
    if (f.size() == 6) {
      EXPECT_THAT(m, Not(HasSubstr(f[1]))) << "split id echoed";
      EXPECT_THAT(m, Not(HasSubstr(f[4]))) << "payload echoed";
      EXPECT_THAT(m, Not(HasSubstr(f[5]))) << "check echoed";
    }
  }
}

// Both ends of a fresh pipe; the caller owns them.
std::pair<int, int> NewPipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
  return {fds[0], fds[1]};
}

void WriteAllTo(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    ASSERT_GT(n, 0);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Everything left in a pipe whose write end is closed.
std::string ReadToEnd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// SplitPin / CombinePinShares

class RoundTrip : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(RoundTrip, AllSharesFirstMAndLastMReversedRecoverThePin) {
  const auto [n, m] = GetParam();
  const std::vector<SecretBuffer> shares = Split(kPin, n, m);
  const std::regex format(
      absl::StrCat("signet-share-v1:[0-9a-f]{8}:", m, "of", n, ":[0-9]{1,2}:[0-9a-f]{30}:[0-9a-f]{8}"));
  std::set<std::string> split_ids;
  for (size_t i = 0; i < shares.size(); ++i) {
    EXPECT_TRUE(std::regex_match(Text(shares[i]), format)) << "share " << i + 1 << " has the wrong shape";
    EXPECT_EQ(Fields(shares[i])[3], std::to_string(i + 1));
    split_ids.insert(Fields(shares[i])[1]);
  }
  EXPECT_EQ(split_ids.size(), 1u);

  std::vector<int> first_m;
  std::vector<int> last_m_reversed;
  std::vector<int> all;
  first_m.reserve(static_cast<size_t>(m));
  last_m_reversed.reserve(static_cast<size_t>(m));
  all.reserve(static_cast<size_t>(n));
  for (int i = 0; i < m; ++i) first_m.push_back(i);
  for (int i = n - 1; i >= n - m; --i) last_m_reversed.push_back(i);
  for (int i = 0; i < n; ++i) all.push_back(i);
  for (const auto& subset : {first_m, last_m_reversed, all}) {
    absl::StatusOr<SecretBuffer> pin = CombinePinShares(Pick(shares, subset));
    ASSERT_TRUE(pin.ok()) << pin.status();
    EXPECT_EQ(pin->reveal(), kPin);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, RoundTrip,
                         ::testing::Values(std::pair{2, 2}, std::pair{3, 2}, std::pair{5, 3}, std::pair{4, 4},
                                           std::pair{16, 2}, std::pair{16, 16}));

TEST(PinShares, EverySubsetOf3Of5RecoversThePinExactlyWhenItHasThreeOrMore) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  for (unsigned mask = 0; mask < 32; ++mask) {
    std::vector<int> subset;
    for (int i = 0; i < 5; ++i) {
      if (mask & (1u << i)) subset.push_back(i);
    }
    for (bool reversed : {false, true}) {
      if (reversed) std::reverse(subset.begin(), subset.end());
      absl::StatusOr<SecretBuffer> pin = CombinePinShares(Pick(shares, subset));
      if (subset.size() >= 3) {
        ASSERT_TRUE(pin.ok()) << "mask " << mask << ": " << pin.status();
        EXPECT_EQ(pin->reveal(), kPin) << "mask " << mask;
      } else {
        ASSERT_FALSE(pin.ok()) << "mask " << mask;
        EXPECT_EQ(pin.status().code(), absl::StatusCode::kFailedPrecondition);
        if (!subset.empty()) {
          EXPECT_THAT(Msg(pin.status()),
                      HasSubstr(absl::StrCat(subset.size(), subset.size() == 1 ? " share" : " shares",
                                             " given; this PIN needs 3 of 5")));
        }
        ExpectErrorWithoutSecrets(pin.status(), shares);
      }
    }
  }
}

TEST(PinShares, ShortestAndLongestPinsOfAnyBytesRoundTrip) {
  std::string longest;
  for (int i = 0; i < 256; ++i) longest.push_back(static_cast<char>(i));  // includes NUL and 0xff
  for (const std::string& pin : {std::string("7"), std::string(1, '\0'), longest}) {
    const std::vector<SecretBuffer> shares = Split(pin, 3, 2);
    EXPECT_EQ(Fields(shares[0])[4].size(), 2 * pin.size());
    absl::StatusOr<SecretBuffer> got = CombinePinShares(Pick(shares, {2, 0}));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->reveal(), pin);
  }
}

TEST(PinShares, EachSplitIsFreshlyRandom) {
  const std::vector<SecretBuffer> a = Split(kPin, 3, 2);
  const std::vector<SecretBuffer> b = Split(kPin, 3, 2);
  EXPECT_NE(Fields(a[0])[1], Fields(b[0])[1]) << "split ids repeat";
  EXPECT_NE(Fields(a[0])[4], Fields(b[0])[4]) << "payloads repeat: coefficients are not random";
  // A share is not the PIN in disguise.
  for (const SecretBuffer& share : a) EXPECT_THAT(Text(share), Not(HasSubstr(HexOf(kPin))));
}

// libgfshare's default randomness is NULL, and its fallback is random(): two processes forked from one
// state would then draw the same polynomial. With RAND_bytes (reseeded on fork) they must not.
TEST(PinShares, CoefficientsComeFromACsprngNotRandom) {
  (void)Split(kPin, 2, 2);  // installs the source in this process before the forks
  std::string payloads[2];
  for (std::string& payload : payloads) {
    auto [r, w] = NewPipe();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      absl::StatusOr<std::vector<SecretBuffer>> shares = SplitPin(SecretBuffer(kPin), 2, 2);
      const std::string p = shares.ok() ? Fields((*shares)[0])[4] : "error";
      (void)!::write(w, p.data(), p.size());
      ::_exit(0);
    }
    ::close(w);
    payload = ReadToEnd(r);
    ::close(r);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(payload.size(), 2 * std::string_view(kPin).size());
  }
  EXPECT_NE(payloads[0], payloads[1]);
}

TEST(PinShares, SplitRejectsBadArgumentsNamingThem) {
  const SecretBuffer pin(kPin);
  struct Case {
    int n, m;
    const char* expected;
  };
  for (const Case& c :
       {Case{17, 2, "shares must be 2 to 16, got 17"}, Case{1, 1, "shares must be 2 to 16, got 1"},
        Case{0, 2, "shares must be 2 to 16, got 0"}, Case{5, 1, "threshold must be 2 to shares (5), got 1"},
        Case{3, 4, "threshold must be 2 to shares (3), got 4"},
        Case{3, -1, "threshold must be 2 to shares (3), got -1"}}) {
    absl::StatusOr<std::vector<SecretBuffer>> r = SplitPin(pin, c.n, c.m);
    ASSERT_FALSE(r.ok()) << c.n << " " << c.m;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.expected));
  }
  absl::StatusOr<std::vector<SecretBuffer>> empty = SplitPin(SecretBuffer(), 3, 2);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(empty.status()), HasSubstr("pin is empty"));
  const std::string too_long(kMaxSecretBytes + 1, 'x');
  absl::StatusOr<std::vector<SecretBuffer>> over = SplitPin(SecretBuffer(too_long), 3, 2);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(over.status()), HasSubstr("pin is longer than 256 bytes"));
  EXPECT_THAT(Msg(over.status()), Not(HasSubstr("xxxx")));
}

TEST(PinShares, FewerSharesThanTheThresholdAreRefused) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  absl::StatusOr<SecretBuffer> two = CombinePinShares(Pick(shares, {4, 1}));
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Msg(two.status()), "2 shares given; this PIN needs 3 of 5");
  ExpectErrorWithoutSecrets(two.status(), shares);

  absl::StatusOr<SecretBuffer> none = CombinePinShares({});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(none.status()), HasSubstr("no PIN shares given"));
}

TEST(PinShares, SharesOfDifferentSplitsAreRefused) {
  // Same PIN, same parameters: only the split id tells them apart.
  const std::vector<SecretBuffer> a = Split(kPin, 5, 3);
  const std::vector<SecretBuffer> b = Split(kPin, 5, 3);
  std::vector<SecretBuffer> mixed = Pick(a, {0, 1});
  mixed.push_back(b[2].Clone());
  absl::StatusOr<SecretBuffer> r = CombinePinShares(mixed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(r.status()), "shares 1 and 3 come from different PIN splits");
  ExpectErrorWithoutSecrets(r.status(), mixed);
}

TEST(PinShares, TheSameShareTwiceIsRefused) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  const std::vector<SecretBuffer> twice = Pick(shares, {0, 3, 3});
  absl::StatusOr<SecretBuffer> r = CombinePinShares(twice);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(r.status()), "shares 2 and 3 are the same share (number 4)");
  ExpectErrorWithoutSecrets(r.status(), twice);

  // Same number, different payload (a resealed edit) is reported the same way.
  std::vector<std::string> f = Fields(shares[3]);
  f[4][0] = f[4][0] == '0' ? '1' : '0';
  std::vector<SecretBuffer> edited = Pick(shares, {3, 1});
  edited.push_back(ResealFields(f));
  absl::StatusOr<SecretBuffer> e = CombinePinShares(edited);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(Msg(e.status()), "shares 1 and 3 are the same share (number 4)");
}

TEST(PinShares, EveryMistypedCharacterIsCaught) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  const std::string good = Text(shares[1]);
  for (size_t i = 0; i < good.size(); ++i) {
    if (good[i] == ':') continue;
    std::string typo = good;
    const char c = good[i];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
      static constexpr char kDigits[] = "0123456789abcdef";
      const int v = (c <= '9') ? c - '0' : c - 'a' + 10;
      typo[i] = kDigits[(v + 1) % 16];
    } else {
      typo[i] = (c == 'x') ? 'y' : 'x';
    }
    std::vector<SecretBuffer> input = Pick(shares, {0});
    input.emplace_back(typo);
    absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
    ASSERT_FALSE(r.ok()) << "typo at " << i << " not caught";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(r.status()), HasSubstr("share 2 is ")) << i;
    EXPECT_THAT(Msg(r.status()), Not(HasSubstr(typo)));
    ExpectErrorWithoutSecrets(r.status(), shares);
  }
  // In the payload specifically: the checksum message.
  std::string typo = good;
  const size_t payload_at = good.size() - 8 - 1 - 3;
  typo[payload_at] = typo[payload_at] == '0' ? '1' : '0';
  std::vector<SecretBuffer> input = Pick(shares, {0});
  input.emplace_back(typo);
  absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Msg(r.status()), "share 2 is mistyped or corrupted: checksum mismatch");

  // Two swapped neighbours in the payload.
  std::string swapped = good;
  size_t j = payload_at;
  while (swapped[j] == swapped[j + 1]) --j;
  std::swap(swapped[j], swapped[j + 1]);
  input = Pick(shares, {0});
  input.emplace_back(swapped);
  r = CombinePinShares(input);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Msg(r.status()), "share 2 is mistyped or corrupted: checksum mismatch");
}

TEST(PinShares, GarbageIsRefusedWithoutBeingEchoed) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  const std::string good = Text(shares[0]);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"correct horse battery staple", "share 2 is not a Signet PIN share"},
      {"", "share 2 is empty"},
      {"   \r\n", "share 2 is empty"},
      {good.substr(0, good.size() - 9), "share 2 is mistyped or corrupted: expected signet-share-v1:"},
      {good + ":00", "share 2 is mistyped or corrupted"},
      {"signet-share-v2" + good.substr(15), "share 2 is mistyped or corrupted"},
      {good.substr(0, good.size() - 1) + "g", "share 2 is mistyped or corrupted"},
      {std::string(10000, 'q'), "share 2 is longer than any PIN share"},
      {"signet-share-v1:" + std::string(5000, 'a'), "share 2 is longer than any PIN share"},
      {good.substr(0, 20) + " " + good.substr(20), "share 2 is mistyped or corrupted"},
  };
  for (const auto& [line, expected] : cases) {
    std::vector<SecretBuffer> input = Pick(shares, {1});
    input.emplace_back(line);
    absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
    ASSERT_FALSE(r.ok()) << expected;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(r.status()), HasSubstr(expected));
    if (line.size() > 3) {
      EXPECT_THAT(Msg(r.status()), Not(HasSubstr(line.substr(0, std::min<size_t>(line.size(), 24)))));
    }
    ExpectErrorWithoutSecrets(r.status(), shares);
  }
}

TEST(PinShares, CaseAndSurroundingWhitespaceAreForgiven) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  std::string upper = Text(shares[2]);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::vector<SecretBuffer> input;
  input.emplace_back("  " + upper + "\r\n");
  input.emplace_back("\t" + Text(shares[0]) + " ");
  absl::StatusOr<SecretBuffer> pin = CombinePinShares(input);
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(pin->reveal(), kPin);
}

TEST(PinShares, ResealedSharesWithImpossibleFieldsAreMalformed) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  struct Case {
    int field;
    std::string value;
    const char* expected;
  };
  for (const Case& c :
       {Case{3, "0", "share number is not 1..N"}, Case{3, "6", "share number is not 1..N"},
        Case{3, "02", "share number is not 1..N"}, Case{2, "1of5", "threshold is not MofN"},
        Case{2, "3of17", "threshold is not MofN"}, Case{2, "6of5", "threshold is not MofN"},
        Case{2, "3x5", "threshold is not MofN"}, Case{1, "abc", "split id is not 8 hex"},
        Case{4, "abc", "payload is not 1 to 256 bytes"}, Case{4, "", "payload is not 1 to 256 bytes"},
        Case{4, "zz", "payload is not 1 to 256 bytes"}}) {
    std::vector<std::string> f = Fields(shares[0]);
    f[static_cast<size_t>(c.field)] = c.value;
    std::vector<SecretBuffer> input;
    input.push_back(ResealFields(f));
    absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
    ASSERT_FALSE(r.ok()) << c.expected;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(r.status()), HasSubstr("share 1 is malformed: "));
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.expected));
    ExpectErrorWithoutSecrets(r.status(), shares);
  }
}

TEST(PinShares, SharesClaimingOneSplitWithDifferentParametersAreRefused) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  std::vector<std::string> f = Fields(shares[1]);
  f[2] = "2of5";
  std::vector<SecretBuffer> input = Pick(shares, {0});
  input.push_back(ResealFields(f));
  absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Msg(r.status()), HasSubstr("shares 1 and 2 name the same PIN split but disagree"));
  ExpectErrorWithoutSecrets(r.status(), shares);
}

TEST(PinShares, AnAlteredShareIsOnlyCaughtWhenMoreThanTheThresholdIsGiven) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  std::vector<std::string> f = Fields(shares[2]);
  f[4][3] = f[4][3] == '0' ? '1' : '0';
  const SecretBuffer altered = ResealFields(f);

  // Exactly M shares: nothing to compare against, so a wrong PIN comes out (the HSM will refuse it).
  std::vector<SecretBuffer> exact = Pick(shares, {0, 1});
  exact.push_back(altered.Clone());
  absl::StatusOr<SecretBuffer> wrong = CombinePinShares(exact);
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_NE(wrong->reveal(), kPin);

  // M+1 shares: wherever the altered one sits, the cross-check sees it.
  for (size_t at = 0; at < 4; ++at) {
    std::vector<SecretBuffer> input = Pick(shares, {0, 1, 3});
    input.insert(input.begin() + static_cast<std::ptrdiff_t>(at), altered.Clone());
    absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
    ASSERT_FALSE(r.ok()) << "altered share at " << at + 1;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Msg(r.status()), "share 4 does not agree with shares 1 to 3: at least one of them was altered");
    ExpectErrorWithoutSecrets(r.status(), shares);
  }
}

TEST(PinShares, MoreSharesThanAnySplitHasAreRefused) {
  const std::vector<SecretBuffer> shares = Split(kPin, 16, 2);
  std::vector<SecretBuffer> input = Pick(shares, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0});
  absl::StatusOr<SecretBuffer> r = CombinePinShares(input);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Msg(r.status()), HasSubstr("17 shares given; a PIN is split into at most 16"));
}

// ---------------------------------------------------------------------------------------------------------
// PromptPinFromShares

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Runs PromptPinFromShares over pipes with `input`; returns its result, its output and the unread input.
struct PipeRun {
  absl::StatusOr<SecretBuffer> result = absl::UnknownError("not run");
  std::string output;
  std::string unread;
};

PipeRun RunWithPipes(const std::string& input) {
  auto [in_r, in_w] = NewPipe();
  auto [out_r, out_w] = NewPipe();
  Fd in_read(in_r);
  Fd in_write(in_w);
  Fd out_read(out_r);
  Fd out_write(out_w);
  WriteAllTo(in_write.get(), input);  // fits the pipe buffer
  in_write.reset();
  PipeRun run;
  run.result = PromptPinFromShares("offline token 'signet-offline'", in_read.get(), out_write.get());
  out_write.reset();
  run.output = ReadToEnd(out_read.get());
  run.unread = ReadToEnd(in_read.get());
  return run;
}

TEST(PromptPinFromShares, ReadsExactlyThresholdSharesFromAPipe) {
  const std::vector<SecretBuffer> shares = Split(kPin, 5, 3);
  const std::string input = Text(shares[4]) + "\n" + Text(shares[1]) + "\r\n" + Text(shares[0]) + "\n" +
                            Text(shares[2]) + "\nnot for us\n";
  PipeRun run = RunWithPipes(input);
  ASSERT_TRUE(run.result.ok()) << run.result.status();
  EXPECT_EQ(run.result->reveal(), kPin);
  EXPECT_EQ(run.output,
            "offline token 'signet-offline': officer 1, enter your PIN share: "
            "offline token 'signet-offline': officer 2, enter your PIN share: "
            "offline token 'signet-offline': officer 3, enter your PIN share: ");
  EXPECT_EQ(run.unread, Text(shares[2]) + "\nnot for us\n") << "read past the shares it needed";
}

TEST(PromptPinFromShares, AcceptsALastLineWithoutNewline) {
  const std::vector<SecretBuffer> shares = Split(kPin, 2, 2);
  PipeRun run = RunWithPipes(Text(shares[1]) + "\n" + Text(shares[0]));
  ASSERT_TRUE(run.result.ok()) << run.result.status();
  EXPECT_EQ(run.result->reveal(), kPin);
}

TEST(PromptPinFromShares, EndOfInputBeforeTheThresholdIsAnError) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  PipeRun run = RunWithPipes(Text(shares[0]) + "\n");
  ASSERT_FALSE(run.result.ok());
  EXPECT_EQ(run.result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Msg(run.result.status()), "only 1 of 2 shares entered");
  ExpectErrorWithoutSecrets(run.result.status(), shares);
  EXPECT_THAT(run.output, Not(HasSubstr(Text(shares[0]))));

  PipeRun empty = RunWithPipes("");
  ASSERT_FALSE(empty.result.ok());
  EXPECT_EQ(empty.result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Msg(empty.result.status()), HasSubstr("no PIN share entered"));
}

TEST(PromptPinFromShares, ABadShareStopsTheEntryAtOnce) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  std::string typo = Text(shares[1]);
  typo[typo.size() - 12] = typo[typo.size() - 12] == '0' ? '1' : '0';
  PipeRun run = RunWithPipes(Text(shares[0]) + "\n" + typo + "\n" + Text(shares[2]) + "\n");
  ASSERT_FALSE(run.result.ok());
  EXPECT_EQ(run.result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Msg(run.result.status()), "share 2 is mistyped or corrupted: checksum mismatch");
  EXPECT_THAT(Msg(run.result.status()), Not(HasSubstr(typo)));
  ExpectErrorWithoutSecrets(run.result.status(), shares);
  EXPECT_EQ(run.unread, Text(shares[2]) + "\n");

  PipeRun garbage = RunWithPipes("hello world\n" + Text(shares[0]) + "\n");
  ASSERT_FALSE(garbage.result.ok());
  EXPECT_THAT(Msg(garbage.result.status()), HasSubstr("share 1 is not a Signet PIN share"));
  EXPECT_THAT(Msg(garbage.result.status()), Not(HasSubstr("hello")));

  PipeRun twice = RunWithPipes(Text(shares[2]) + "\n" + Text(shares[2]) + "\n");
  ASSERT_FALSE(twice.result.ok());
  EXPECT_EQ(Msg(twice.result.status()), "shares 1 and 2 are the same share (number 3)");

  const std::vector<SecretBuffer> other = Split(kPin, 3, 2);
  PipeRun mixed = RunWithPipes(Text(shares[0]) + "\n" + Text(other[1]) + "\n");
  ASSERT_FALSE(mixed.result.ok());
  EXPECT_EQ(Msg(mixed.result.status()), "shares 1 and 2 come from different PIN splits");

  PipeRun blank = RunWithPipes(Text(shares[0]) + "\n\n" + Text(shares[1]) + "\n");
  ASSERT_FALSE(blank.result.ok());
  EXPECT_EQ(Msg(blank.result.status()), "share 2 is empty");
}

TEST(PromptPinFromShares, AnOverLongLineIsRefusedWithoutReadingItAll) {
  const std::string huge(20000, 'a');
  PipeRun run = RunWithPipes(huge + "\nrest\n");
  ASSERT_FALSE(run.result.ok());
  EXPECT_EQ(run.result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(run.result.status()), HasSubstr("share 1 is longer than"));
  EXPECT_THAT(Msg(run.result.status()), Not(HasSubstr("aaaa")));
  // It stopped just past its bound (a few hundred bytes); the rest is still unread.
  EXPECT_GT(run.unread.size(), huge.size() - 1000);
  EXPECT_THAT(run.unread, ::testing::EndsWith("\nrest\n"));
}

// A pseudo-terminal: `slave` is what an officer's shell would hand the CLI, `master` plays the officer.
class Pty {
 public:
  Pty() : master_(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) {
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) std::abort();
    char name[128];
    if (::ptsname_r(master_, name, sizeof(name)) != 0) std::abort();
    slave_ = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_ < 0) std::abort();
  }
  ~Pty() {
    CloseMaster();
    ::close(slave_);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  int slave() const { return slave_; }
  // Hangs up the terminal, so a reader blocked on the slave returns.
  void CloseMaster() {
    if (master_ >= 0) ::close(master_);
    master_ = -1;
  }
  bool Echo() const {
    termios t{};
    if (::tcgetattr(slave_, &t) != 0) std::abort();
    return (t.c_lflag & ECHO) != 0;
  }
  void Type(std::string_view keys) const { WriteAllTo(master_, keys); }
  // Terminal output until it contains `needle` (or 10 s pass); everything read so far either way.
  std::string ReadUntil(std::string_view needle) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.find(needle) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[512];
      const ssize_t n = ::read(master_, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int master_ = -1;
  int slave_ = -1;
};

TEST(PromptPinFromShares, OnATerminalEchoIsOffWhileReadingAndRestoredAfter) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  Pty pty;
  ASSERT_TRUE(pty.Echo()) << "a fresh terminal echoes";
  std::optional<absl::StatusOr<SecretBuffer>> result;
  std::thread cli([&] { result = PromptPinFromShares("token 'ceremony'", pty.slave(), pty.slave()); });

  const std::string first = pty.ReadUntil("officer 1, enter your PIN share: ");
  EXPECT_THAT(first, HasSubstr("token 'ceremony': officer 1, enter your PIN share: "));
  EXPECT_FALSE(pty.Echo()) << "echo on while officer 1 types";
  pty.Type(Text(shares[2]) + "\n");
  const std::string second = pty.ReadUntil("officer 2, enter your PIN share: ");
  EXPECT_THAT(second, ::testing::StartsWith("\r\n")) << "no newline after the hidden entry";
  EXPECT_THAT(second, HasSubstr("officer 2, enter your PIN share: "));
  EXPECT_FALSE(pty.Echo()) << "echo on while officer 2 types";
  pty.Type(Text(shares[0]) + "\n");
  const std::string rest = pty.ReadUntil("\n");
  cli.join();

  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status();
  EXPECT_EQ((*result)->reveal(), kPin);
  EXPECT_TRUE(pty.Echo()) << "echo not restored";
  for (const std::string& shown : {first, second, rest}) {
    for (const SecretBuffer& share : shares) EXPECT_THAT(shown, Not(HasSubstr(Fields(share)[4])));
    EXPECT_THAT(shown, Not(HasSubstr(kPin)));
  }
}

TEST(PromptPinFromShares, OnATerminalEchoIsRestoredAfterAnError) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  Pty pty;
  ASSERT_TRUE(pty.Echo());
  std::optional<absl::StatusOr<SecretBuffer>> result;
  std::thread cli([&] { result = PromptPinFromShares("token", pty.slave(), pty.slave()); });
  pty.ReadUntil("officer 1, enter your PIN share: ");
  EXPECT_FALSE(pty.Echo());
  pty.Type(Text(shares[0]) + "\n");
  pty.ReadUntil("officer 2, enter your PIN share: ");
  pty.Type("oops\n");
  const std::string rest = pty.ReadUntil("\n");
  cli.join();

  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(Msg(result->status()),
            "share 2 is not a Signet PIN share (expected signet-share-v1:ID:MofN:NUMBER:HEX:CHECK)");
  EXPECT_TRUE(pty.Echo()) << "echo not restored after an error";
  EXPECT_THAT(rest, Not(HasSubstr("oops")));
}

TEST(PromptPinFromShares, OnATerminalEchoIsRestoredAfterEndOfInput) {
  const std::vector<SecretBuffer> shares = Split(kPin, 3, 2);
  Pty pty;
  std::optional<absl::StatusOr<SecretBuffer>> result;
  std::thread cli([&] { result = PromptPinFromShares("token", pty.slave(), pty.slave()); });
  pty.ReadUntil("officer 1, enter your PIN share: ");
  pty.Type(Text(shares[1]) + "\n");
  pty.ReadUntil("officer 2, enter your PIN share: ");
  EXPECT_FALSE(pty.Echo());
  pty.Type("\x04");  // Ctrl-D at the start of a line
  cli.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(Msg(result->status()), "only 1 of 2 shares entered");
  EXPECT_TRUE(pty.Echo());
}

}  // namespace
}  // namespace signet::keymgmt
