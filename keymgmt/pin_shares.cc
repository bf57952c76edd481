#include "keymgmt/pin_shares.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "common/openssl_error.h"

// Debian's libgfshare.h has no extern "C" guard of its own.
extern "C" {
#include <libgfshare.h>
}

namespace signet::keymgmt {
namespace {

constexpr std::string_view kFormat = "signet-share-v1";
constexpr std::string_view kFormatFamily = "signet-share-v";
constexpr std::string_view kFormatHint = "signet-share-v1:ID:MofN:NUMBER:HEX:CHECK";
constexpr size_t kSplitIdBytes = 4;
constexpr size_t kCheckBytes = 4;
constexpr size_t kFieldCount = 6;
// Longest valid share: format, split id, "16of16", share number "16", payload, check, five ':'.
constexpr size_t kMaxShareTextBytes =
    kFormat.size() + 2 * kSplitIdBytes + 6 + 2 + 2 * kMaxSecretBytes + 2 * kCheckBytes + (kFieldCount - 1);
// An input line may carry a little surrounding whitespace (a CR, spaces) on top.
constexpr size_t kMaxShareLineBytes = kMaxShareTextBytes + 64;
constexpr char kHexDigits[] = "0123456789abcdef";

// A fixed buffer wiped when it goes out of scope: every temporary copy of a PIN or a share lives in one.
template <typename T, size_t N>
struct WipedArray {
  std::array<T, N> bytes{};
  WipedArray() = default;
  WipedArray(const WipedArray&) = default;
  WipedArray& operator=(const WipedArray&) = default;
  WipedArray(WipedArray&&) noexcept = default;  // a copy: the source is wiped by its own destructor
  WipedArray& operator=(WipedArray&&) noexcept = default;
  ~WipedArray() { OPENSSL_cleanse(bytes.data(), sizeof(bytes)); }
  T* data() { return bytes.data(); }
  const T* data() const { return bytes.data(); }
};

using SplitId = std::array<unsigned char, kSplitIdBytes>;

struct ParsedShare {
  SplitId split_id{};
  int threshold = 0;  // M
  int count = 0;      // N
  int number = 0;     // 1..N
  size_t size = 0;    // payload bytes == PIN bytes
  WipedArray<unsigned char, kMaxSecretBytes> payload;
};

// libgfshare keeps its contexts' buffers (the secret and the polynomial when splitting, the shares when
// combining) on the heap. Debian's 2.0.0 gfshare_ctx_free overwrites them with gfshare_fill_rand before
// freeing (checked against the 2.0.0-6 binary), i.e. with our RAND_bytes source below; we rely on that and
// do not reach into the struct. It also means the source must be installed before any context is freed.
struct GfshareCtxDeleter {
  void operator()(gfshare_ctx* ctx) const noexcept { gfshare_ctx_free(ctx); }
};
using GfshareCtxPtr = std::unique_ptr<gfshare_ctx, GfshareCtxDeleter>;

// Signature of gfshare_rand_func_t. RAND_bytes failing means no secure randomness: a broken invariant.
void FillRandom(unsigned char* buf, unsigned int len) {
  while (len > 0) {
    const unsigned int chunk = std::min<unsigned int>(len, INT_MAX);
    if (RAND_bytes(buf, static_cast<int>(chunk)) != 1) OpenSslInvariantFailure("RAND_bytes");
    buf += chunk;
    len -= chunk;
  }
}

// gfshare_fill_rand is a process-wide hook, NULL by default (libgfshare would crash, or with its random()
// fallback produce predictable coefficients).
void InstallRandomSource() {
  static std::once_flag once;
  std::call_once(once, [] { gfshare_fill_rand = FillRandom; });
}

std::array<unsigned char, kCheckBytes> Checksum(std::string_view body) {
  WipedArray<unsigned char, EVP_MAX_MD_SIZE> md;
  unsigned int md_len = 0;
  if (EVP_Digest(body.data(), body.size(), md.data(), &md_len, EVP_sha256(), nullptr) != 1) {
    OpenSslInvariantFailure("SHA-256");
  }
  std::array<unsigned char, kCheckBytes> check{};
  std::copy_n(md.data(), kCheckBytes, check.begin());
  return check;
}

// The appenders only push_back into a string whose capacity was reserved up front, so no reallocation
// leaves an unwiped copy of a share behind.
void AppendHex(std::string& out, std::span<const unsigned char> bytes) {
  for (unsigned char b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0f]);
  }
}

void AppendDecimal(std::string& out, int value) {  // 0..255
  if (value >= 100) out.push_back(static_cast<char>('0' + value / 100));
  if (value >= 10) out.push_back(static_cast<char>('0' + value / 10 % 10));
  out.push_back(static_cast<char>('0' + value % 10));
}

SecretBuffer FormatShare(const SplitId& split_id, int threshold, int count, int number,
                         std::span<const unsigned char> payload) {
  std::string text;
  text.reserve(kMaxShareTextBytes);
  text.append(kFormat);
  text.push_back(':');
  AppendHex(text, split_id);
  text.push_back(':');
  AppendDecimal(text, threshold);
  text.append("of");
  AppendDecimal(text, count);
  text.push_back(':');
  AppendDecimal(text, number);
  text.push_back(':');
  AppendHex(text, payload);
  const auto check = Checksum(text);
  text.push_back(':');
  AppendHex(text, check);
  if (text.size() > kMaxShareTextBytes) std::abort();  // the bound above is wrong: a broken invariant
  SecretBuffer share(text);
  OPENSSL_cleanse(text.data(), text.size());
  return share;
}

// Decodes exactly out.size() bytes of hex; false on any non-hex character or a length mismatch.
bool DecodeHexInto(std::string_view hex, std::span<unsigned char> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int high = HexDigitValue(hex[2 * i]);
    const int low = HexDigitValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<unsigned char>(high << 4 | low);
  }
  return true;
}

// 0..999 in canonical decimal (no sign, no leading zeros).
std::optional<int> ParseSmallDecimal(std::string_view s) {
  if (s.empty() || s.size() > 3 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string ShareName(int position) { return absl::StrCat("share ", position); }

// Parses one share; error messages name it by `position` and never contain any of its text.
absl::Status ParseShare(std::string_view input, int position, ParsedShare& out) {
  while (!input.empty() && IsSpace(input.front())) input.remove_prefix(1);
  while (!input.empty() && IsSpace(input.back())) input.remove_suffix(1);
  if (input.empty()) return absl::InvalidArgumentError(absl::StrCat(ShareName(position), " is empty"));
  if (input.size() > kMaxShareTextBytes) {
    return absl::InvalidArgumentError(absl::StrCat(ShareName(position), " is longer than any PIN share (",
                                                   kMaxShareTextBytes, " characters)"));
  }
  // The check is over the lower-cased text, so an officer may type hex in either case.
  WipedArray<char, kMaxShareTextBytes> lowered;
  std::transform(input.begin(), input.end(), lowered.data(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  const std::string_view text(lowered.data(), input.size());

  if (!text.starts_with(kFormatFamily)) {
    return absl::InvalidArgumentError(
        absl::StrCat(ShareName(position), " is not a Signet PIN share (expected ", Av(kFormatHint), ")"));
  }
  std::array<std::string_view, kFieldCount> fields;
  size_t field_count = 0;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(':', start);
    if (end == std::string_view::npos) end = text.size();
    if (field_count == kFieldCount) {
      field_count = kFieldCount + 1;
      break;
    }
    fields[field_count++] = text.substr(start, end - start);
    start = end + 1;
  }
  auto mistyped = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(ShareName(position), " is mistyped or corrupted: expected ", Av(kFormatHint)));
  };
  if (field_count != kFieldCount || fields[0] != kFormat) return mistyped();
  std::array<unsigned char, kCheckBytes> check{};
  if (!DecodeHexInto(fields[5], check)) return mistyped();
  const std::string_view body = text.substr(0, text.size() - fields[5].size() - 1);
  if (Checksum(body) != check) {
    return absl::InvalidArgumentError(
        absl::StrCat(ShareName(position), " is mistyped or corrupted: checksum mismatch"));
  }

  // The check passed, so a bad field below was produced that way, not mistyped.
  auto malformed = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(ShareName(position), " is malformed: ", Av(why)));
  };
  if (!DecodeHexInto(fields[1], out.split_id)) return malformed("the split id is not 8 hex digits");
  const size_t of = fields[2].find("of");
  const std::optional<int> threshold =
      of == std::string_view::npos ? std::nullopt : ParseSmallDecimal(fields[2].substr(0, of));
  const std::optional<int> count =
      of == std::string_view::npos ? std::nullopt : ParseSmallDecimal(fields[2].substr(of + 2));
  if (!threshold || !count || *threshold < 2 || *threshold > *count || *count > kMaxPinShares) {
    return malformed(absl::StrCat("the threshold is not MofN with 2 <= M <= N <= ", kMaxPinShares));
  }
  const std::optional<int> number = ParseSmallDecimal(fields[3]);
  if (!number || *number < 1 || *number > *count) return malformed("the share number is not 1..N");
  const size_t size = fields[4].size() / 2;
  if (size < 1 || size > kMaxSecretBytes ||
      !DecodeHexInto(fields[4], std::span(out.payload.bytes).first(size))) {
    return malformed(absl::StrCat("the payload is not 1 to ", kMaxSecretBytes, " bytes of hex"));
  }
  out.threshold = *threshold;
  out.count = *count;
  out.number = *number;
  out.size = size;
  return absl::OkStatus();
}

// Checks `share` (at `position`) against the shares before it.
absl::Status CheckAgainstEarlier(const std::vector<ParsedShare>& earlier, const ParsedShare& share,
                                 int position) {
  if (earlier.empty()) return absl::OkStatus();
  const ParsedShare& first = earlier.front();
  if (share.split_id != first.split_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("shares 1 and ", position, " come from different PIN splits"));
  }
  if (share.threshold != first.threshold || share.count != first.count || share.size != first.size) {
    return absl::InvalidArgumentError(absl::StrCat("shares 1 and ", position,
                                                   " name the same PIN split but disagree on its threshold, "
                                                   "share count or PIN length: one was altered"));
  }
  for (size_t i = 0; i < earlier.size(); ++i) {
    if (earlier[i].number == share.number) {
      return absl::InvalidArgumentError(absl::StrCat("shares ", i + 1, " and ", position,
                                                     " are the same share (number ", share.number, ")"));
    }
  }
  return absl::OkStatus();
}

// Lagrange interpolation at 0 over exactly these shares (consistent, distinct numbers).
absl::StatusOr<SecretBuffer> Interpolate(std::span<ParsedShare* const> picked) {
  std::array<unsigned char, kMaxPinShares> numbers{};
  for (size_t i = 0; i < picked.size(); ++i) numbers[i] = static_cast<unsigned char>(picked[i]->number);
  const size_t size = picked.front()->size;
  GfshareCtxPtr ctx(gfshare_ctx_init_dec(numbers.data(), static_cast<unsigned int>(picked.size()),
                                         static_cast<unsigned>(size)));
  if (ctx == nullptr) return absl::ResourceExhaustedError("libgfshare could not allocate a decoder");
  for (size_t i = 0; i < picked.size(); ++i) {
    gfshare_ctx_dec_giveshare(ctx.get(), static_cast<unsigned char>(i), picked[i]->payload.data());
  }
  WipedArray<unsigned char, kMaxSecretBytes> secret;
  gfshare_ctx_dec_extract(ctx.get(), secret.data());
  return SecretBuffer(std::string_view(reinterpret_cast<const char*>(secret.data()), size));
}

// `parsed` has passed CheckAgainstEarlier share by share.
absl::StatusOr<SecretBuffer> CombineParsed(std::vector<ParsedShare>& parsed) {
  const auto threshold = static_cast<size_t>(parsed.front().threshold);
  if (parsed.size() < threshold) {
    return absl::FailedPreconditionError(
        absl::StrCat(parsed.size(), parsed.size() == 1 ? " share" : " shares", " given; this PIN needs ",
                     threshold, " of ", parsed.front().count));
  }
  std::vector<ParsedShare*> picked;
  for (size_t i = 0; i < threshold; ++i) picked.push_back(&parsed[i]);
  absl::StatusOr<SecretBuffer> pin = Interpolate(picked);
  if (!pin.ok()) return pin.status();
  // Any M shares of one split give the same PIN; an extra share that gives another was altered (or one of
  // the first M was).
  for (size_t extra = threshold; extra < parsed.size(); ++extra) {
    picked.back() = &parsed[extra];
    absl::StatusOr<SecretBuffer> other = Interpolate(picked);
    if (!other.ok()) return other.status();
    if (CRYPTO_memcmp(other->data(), pin->data(), pin->size()) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("share ", extra + 1, " does not agree with shares 1 to ",
                                                     threshold, ": at least one of them was altered"));
    }
  }
  return pin;
}

absl::Status WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "writing the PIN share prompt");
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

struct LineRead {
  size_t length = 0;
  bool end_of_input = false;  // EOF before (or instead of) a newline
};

// Reads one line without its '\n' into `buf`. Byte by byte, so nothing after the line is consumed (the
// next officer's share stays in the pipe or terminal); a line longer than the buffer is an error after
// reading at most one byte more than the buffer holds.
absl::StatusOr<LineRead> ReadLine(int fd, std::span<char> buf, int position) {
  LineRead line;
  while (true) {
    if (line.length == buf.size()) {
      return absl::InvalidArgumentError(absl::StrCat(ShareName(position), " is longer than ", buf.size(),
                                                     " characters; it is not a PIN share"));
    }
    const ssize_t n = ::read(fd, &buf[line.length], 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("reading ", ShareName(position)));
    }
    if (n == 0) {
      line.end_of_input = true;
      return line;
    }
    if (buf[line.length] == '\n') {
      buf[line.length] = '\0';
      return line;
    }
    ++line.length;
  }
}

// Terminal echo off for its lifetime. Both changes use TCSAFLUSH, as getpass(3) does: on restore, input
// typed ahead but not read (say, the next officer's share after an error) is discarded rather than left
// for the shell. ISIG stays on so Ctrl-C still aborts (a process killed by a signal cannot restore echo).
class ScopedEchoOff {
 public:
  static absl::StatusOr<std::unique_ptr<ScopedEchoOff>> Create(int fd) {
    termios saved{};
    if (::tcgetattr(fd, &saved) != 0) return absl::ErrnoToStatus(errno, "reading the terminal settings");
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
    if (SetAttributes(fd, quiet) != 0) return absl::ErrnoToStatus(errno, "turning terminal echo off");
    return std::unique_ptr<ScopedEchoOff>(new ScopedEchoOff(fd, saved));
  }
  ~ScopedEchoOff() { (void)SetAttributes(fd_, saved_); }
  ScopedEchoOff(const ScopedEchoOff&) = delete;
  ScopedEchoOff& operator=(const ScopedEchoOff&) = delete;

 private:
  ScopedEchoOff(int fd, const termios& saved) : fd_(fd), saved_(saved) {}
  static int SetAttributes(int fd, const termios& t) {
    int rc = 0;
    do {
      rc = ::tcsetattr(fd, TCSAFLUSH, &t);
    } while (rc != 0 && errno == EINTR);
    return rc;
  }

  int fd_;
  termios saved_;
};

}  // namespace

absl::StatusOr<std::vector<SecretBuffer>> SplitPin(const SecretBuffer& pin, int shares, int threshold) {
  if (shares < 2 || shares > kMaxPinShares) {
    return absl::InvalidArgumentError(absl::StrCat("shares must be 2 to ", kMaxPinShares, ", got ", shares));
  }
  if (threshold < 2 || threshold > shares) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold must be 2 to shares (", shares, "), got ", threshold));
  }
  if (pin.empty()) return absl::InvalidArgumentError("pin is empty");
  if (pin.size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("pin is longer than ", kMaxSecretBytes, " bytes"));
  }
  InstallRandomSource();

  SplitId split_id{};
  FillRandom(split_id.data(), split_id.size());
  std::array<unsigned char, kMaxPinShares> numbers{};
  for (int i = 0; i < shares; ++i) numbers[i] = static_cast<unsigned char>(i + 1);
  GfshareCtxPtr ctx(gfshare_ctx_init_enc(numbers.data(), static_cast<unsigned int>(shares),
                                         static_cast<unsigned char>(threshold),
                                         static_cast<unsigned int>(pin.size())));
  if (ctx == nullptr) return absl::ResourceExhaustedError("libgfshare could not allocate an encoder");
  {
    // libgfshare takes a non-const pointer; give it a wiped copy rather than cast the PIN's constness away.
    WipedArray<unsigned char, kMaxSecretBytes> secret;
    std::copy_n(pin.data(), pin.size(), secret.data());
    gfshare_ctx_enc_setsecret(ctx.get(), secret.data());
  }
  std::vector<SecretBuffer> out;
  out.reserve(static_cast<size_t>(shares));
  WipedArray<unsigned char, kMaxSecretBytes> payload;
  for (int i = 0; i < shares; ++i) {
    gfshare_ctx_enc_getshare(ctx.get(), static_cast<unsigned char>(i), payload.data());
    out.push_back(
        FormatShare(split_id, threshold, shares, i + 1, std::span(payload.bytes).first(pin.size())));
  }
  return out;
}

absl::StatusOr<SecretBuffer> CombinePinShares(const std::vector<SecretBuffer>& shares) {
  if (shares.empty()) return absl::FailedPreconditionError("no PIN shares given");
  if (shares.size() > static_cast<size_t>(kMaxPinShares)) {
    return absl::InvalidArgumentError(
        absl::StrCat(shares.size(), " shares given; a PIN is split into at most ", kMaxPinShares));
  }
  InstallRandomSource();  // gfshare_ctx_free calls it
  std::vector<ParsedShare> parsed;
  parsed.reserve(shares.size());
  for (size_t i = 0; i < shares.size(); ++i) {
    const int position = static_cast<int>(i + 1);
    ParsedShare share;
    if (absl::Status s = ParseShare(shares[i].reveal(), position, share); !s.ok()) return s;
    if (absl::Status s = CheckAgainstEarlier(parsed, share, position); !s.ok()) return s;
    parsed.push_back(share);
  }
  return CombineParsed(parsed);
}

absl::StatusOr<SecretBuffer> PromptPinFromShares(std::string_view what, int in_fd, int out_fd) {
  InstallRandomSource();
  const bool terminal = ::isatty(in_fd) == 1;
  std::unique_ptr<ScopedEchoOff> echo_off;
  if (terminal) {
    absl::StatusOr<std::unique_ptr<ScopedEchoOff>> guard = ScopedEchoOff::Create(in_fd);
    if (!guard.ok()) return guard.status();
    echo_off = *std::move(guard);
  }
  std::vector<ParsedShare> parsed;
  parsed.reserve(kMaxPinShares);  // M <= 16: no reallocation copies
  WipedArray<char, kMaxShareLineBytes> line;
  for (int position = 1; parsed.empty() || parsed.size() < static_cast<size_t>(parsed.front().threshold);
       ++position) {
    const std::string prompt = absl::StrCat(Av(what), ": officer ", position, ", enter your PIN share: ");
    if (absl::Status s = WriteAll(out_fd, prompt); !s.ok()) return s;
    absl::StatusOr<LineRead> read = ReadLine(in_fd, line.bytes, position);
    if (terminal) {
      // The officer's Enter was not echoed.
      if (absl::Status s = WriteAll(out_fd, "\n"); !s.ok()) return s;
    }
    if (!read.ok()) return read.status();
    if (read->end_of_input && read->length == 0) {
      if (parsed.empty()) return absl::FailedPreconditionError("no PIN share entered");
      return absl::FailedPreconditionError(
          absl::StrCat("only ", parsed.size(), " of ", parsed.front().threshold, " shares entered"));
    }
    ParsedShare share;
    if (absl::Status s = ParseShare(std::string_view(line.data(), read->length), position, share); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckAgainstEarlier(parsed, share, position); !s.ok()) return s;
    parsed.push_back(share);
  }
  return CombineParsed(parsed);
}

}  // namespace signet::keymgmt
