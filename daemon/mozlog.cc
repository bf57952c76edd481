#include "daemon/mozlog.h"

#include "common/utf8.h"

#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <utility>

#include "spdlog/logger.h"
#include "spdlog/sinks/sink.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {
namespace {

template <typename Buf>
void Append(Buf& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}

template <typename Buf>
void AppendInt(Buf& out, int64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
  out.append(tmp, r.ptr);
}

// Escapes s (bounded to max_bytes) into out, without the surrounding quotes. With json=false (the plain
// format) a double quote is left as is; everything else is escaped the same way.
template <typename Buf>
void AppendEscaped(Buf& out, std::string_view s, size_t max_bytes, bool json) {
  static constexpr char kHex[] = "0123456789abcdef";
  bool truncated = false;
  if (s.size() > max_bytes) {
    truncated = true;
    size_t cut = max_bytes;
    // Back off to the start of the character that straddles the cut (at most 3 continuation bytes).
    for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80; ++i) --cut;
    s = s.substr(0, cut);
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // Copy the longest run of bytes that need nothing.
    size_t run = i;
    while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '\\' && (p[run] != '"' || !json)) ++run;
    if (run > i) {
      out.append(s.data() + i, s.data() + run);
      i = run;
      if (i == n) break;
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      const char* esc = nullptr;
      switch (c) {
        case '"':
          esc = "\\\"";
          break;
        case '\\':
          esc = "\\\\";
          break;
        case '\b':
          esc = "\\b";
          break;
        case '\f':
          esc = "\\f";
          break;
        case '\n':
          esc = "\\n";
          break;
        case '\r':
          esc = "\\r";
          break;
        case '\t':
          esc = "\\t";
          break;
        default:
          break;
      }
      if (esc != nullptr) {
        out.append(esc, esc + 2);
      } else {
        const char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(u, u + 6);
      }
      ++i;
      continue;
    }
    size_t bad = 1;
    const size_t len = Utf8Sequence(p + i, n - i, &bad);
    if (len == 0) {
      Append(out, "\\ufffd");
      i += bad;
    } else if (len == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) {
      Append(out, p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");  // JavaScript line terminators
      i += 3;
    } else {
      out.append(s.data() + i, s.data() + i + len);
      i += len;
    }
  }
  if (truncated) Append(out, kTruncatedMarker);
}

template <typename Buf>
void AppendQuoted(Buf& out, std::string_view s, size_t max_bytes = kMaxLogStringBytes) {
  out.push_back('"');
  AppendEscaped(out, s, max_bytes, /*json=*/true);
  out.push_back('"');
}

// Plain format: a value is written bare when it is a short run of "word" characters, else quoted.
bool IsBareWord(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (unsigned char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == ':' || c == '/' || c == '@' || c == '+' || c == ',';
    if (!ok) return false;
  }
  return true;
}

std::string_view PlainLevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "TRACE";
    case spdlog::level::debug:
      return "DEBUG";
    case spdlog::level::info:
      return "INFO";
    case spdlog::level::warn:
      return "WARN";
    case spdlog::level::err:
      return "ERROR";
    case spdlog::level::critical:
      return "CRITICAL";
    default:
      return "OFF";
  }
}

// A field's value: a LogField's variant, or a borrowed string.
template <typename Buf>
void AppendJsonValue(Buf& out, const LogField::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    AppendQuoted(out, *s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    AppendInt(out, *i);
  } else {
    Append(out, std::get<bool>(value) ? "true" : "false");
  }
}
template <typename Buf>
void AppendJsonValue(Buf& out, std::string_view value) {
  AppendQuoted(out, value);
}
template <typename Buf>
void AppendPlainValue(Buf& out, std::string_view s) {
  if (IsBareWord(s)) {
    Append(out, s);
  } else {
    AppendQuoted(out, s);
  }
}
template <typename Buf>
void AppendPlainValue(Buf& out, const LogField::Value& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    AppendPlainValue(out, std::string_view(*s));
  } else {
    AppendJsonValue(out, value);
  }
}

// Fields is LogFields or a span of LogFieldView: anything whose elements have .key and .value.
template <typename Buf, typename Fields>
void AppendPlainFields(Buf& out, const Fields& fields) {
  for (const auto& f : fields) {
    out.push_back(' ');
    AppendEscaped(out, f.key, kMaxLogStringBytes, /*json=*/true);
    out.push_back('=');
    AppendPlainValue(out, f.value);
  }
}

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  name[sizeof(name) - 1] = '\0';
  return name;
}

// The lines of this thread's open MozLogBatch, or null.
thread_local spdlog::memory_buf_t* t_batch = nullptr;
constexpr size_t kMaxBatchBytes = 256 * 1024;  // a bigger batch is written early

// The sink MozLog installs: one mutex orders app logs and events; each line is one fwrite, then fflush.
class MozLogSink final : public spdlog::sinks::sink {
 public:
  MozLogSink(std::unique_ptr<MozLogFormatter> formatter, std::FILE* out)
      : formatter_(std::move(formatter)), out_(out) {}

  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (t_batch != nullptr && t_batch->size() > 0) {  // this thread's earlier events go first
      WriteLocked(std::string_view(t_batch->data(), t_batch->size()));
      t_batch->clear();
    }
    buf_.clear();
    formatter_->format(msg, buf_);
    WriteLocked(std::string_view(buf_.data(), buf_.size()));
  }

  void WriteLine(std::string_view line) {
    std::lock_guard<std::mutex> lock(mu_);
    WriteLocked(line);
  }

  void flush() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::fflush(out_);
  }
  // The line format belongs to MozLog::Install; a stray set_pattern must not break the JSON stream.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  const MozLogFormatter& formatter() const { return *formatter_; }

 private:
  void WriteLocked(std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

  const std::unique_ptr<MozLogFormatter> formatter_;  // immutable after construction
  std::FILE* const out_;
  std::mutex mu_;
  spdlog::memory_buf_t buf_;  // guarded by mu_; reused so app logs do not allocate once warm
};

struct Installed {
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<MozLogSink> sink;
};

// Installs are rare (start-up, test set-up); each one is kept for the life of the process so that a thread
// that loaded the previous pointer never sees it freed. The hot path is one acquire load.
std::atomic<const Installed*> g_installed{nullptr};

std::mutex& InstallMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}
std::vector<std::unique_ptr<Installed>>& AllInstalls() {
  static auto* all = new std::vector<std::unique_ptr<Installed>>;
  return *all;
}

}  // namespace

int SyslogSeverity(spdlog::level::level_enum level) noexcept {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;  // debug, trace
  }
}

void AppendJsonString(std::string_view s, std::string* out, size_t max_bytes) noexcept {
  try {
    AppendQuoted(*out, s, max_bytes);
  } catch (...) {
    // Out of memory: leave what was appended; callers of a logging helper cannot do better.
  }
}

MozLogFormatter::MozLogFormatter(std::string logger_name, bool json) : json_(json) {
  if (json_) {
    after_type_ = ",\"Logger\":";
    AppendQuoted(after_type_, logger_name);
    after_type_ += ",\"Hostname\":";
    AppendQuoted(after_type_, Hostname());
    after_type_ += ",\"EnvVersion\":\"2.0\",\"Severity\":";
    after_severity_ = ",\"Pid\":" + std::to_string(static_cast<int64_t>(getpid())) + ",\"Fields\":{";
  } else {
    AppendEscaped(plain_logger_, logger_name, kMaxLogStringBytes, /*json=*/true);
  }
}

std::unique_ptr<spdlog::formatter> MozLogFormatter::clone() const {
  return std::unique_ptr<spdlog::formatter>(new MozLogFormatter(*this));
}

void MozLogFormatter::AppendJsonHead(int64_t timestamp_ns, spdlog::level::level_enum level,
                                     std::string_view type, spdlog::memory_buf_t& dest) const {
  Append(dest, "{\"Timestamp\":");
  AppendInt(dest, timestamp_ns);
  Append(dest, ",\"Type\":");
  AppendQuoted(dest, type);
  Append(dest, after_type_);
  AppendInt(dest, SyslogSeverity(level));
  Append(dest, after_severity_);
}

void MozLogFormatter::AppendPlainHead(spdlog::log_clock::time_point time, spdlog::level::level_enum level,
                                      spdlog::memory_buf_t& dest) const {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch());
  const time_t secs = static_cast<time_t>(since_epoch.count() / 1000000);
  int64_t micros = since_epoch.count() % 1000000;
  if (micros < 0) micros += 1000000;  // before 1970: not expected, but keep the field in range
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char ts[64];
  const int len =
      std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(micros));
  if (len > 0) dest.append(ts, ts + std::min<size_t>(static_cast<size_t>(len), sizeof(ts) - 1));
  Append(dest, PlainLevelName(level));
  dest.push_back(' ');
  Append(dest, plain_logger_);
  Append(dest, ": ");
}

void MozLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  if (json_) {
    const int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(msg.time.time_since_epoch()).count();
    AppendJsonHead(ns, msg.level, kAppLogType, dest);
    Append(dest, "\"msg\":");
    AppendQuoted(dest, payload);
    Append(dest, "}}\n");
  } else {
    AppendPlainHead(msg.time, msg.level, dest);
    AppendEscaped(dest, payload, kMaxLogStringBytes, /*json=*/false);
    dest.push_back('\n');
  }
}

template <typename Fields>
void MozLogFormatter::FormatEventImpl(spdlog::level::level_enum level, std::string_view type, const Fields& fields,
                                      spdlog::memory_buf_t& dest) const {
  const auto now = spdlog::log_clock::now();
  if (!json_) {
    AppendPlainHead(now, level, dest);
    AppendEscaped(dest, type, kMaxLogStringBytes, /*json=*/true);
    AppendPlainFields(dest, fields);
    dest.push_back('\n');
    return;
  }
  AppendJsonHead(std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count(), level,
                 type, dest);
  bool first = true;
  for (const auto& f : fields) {
    if (!first) dest.push_back(',');
    first = false;
    AppendQuoted(dest, f.key);
    dest.push_back(':');
    AppendJsonValue(dest, f.value);
  }
  Append(dest, "}}\n");
}

void MozLogFormatter::FormatEvent(spdlog::level::level_enum level, std::string_view type, const LogFields& fields,
                                  spdlog::memory_buf_t& dest) const {
  FormatEventImpl(level, type, fields, dest);
}

void MozLogFormatter::FormatEvent(spdlog::level::level_enum level, std::string_view type,
                                  std::span<const LogFieldView> fields, spdlog::memory_buf_t& dest) const {
  FormatEventImpl(level, type, fields, dest);
}

void MozLog::Install(const std::string& logger_name, spdlog::level::level_enum level, bool json,
                     std::FILE* out) {
  auto installed = std::make_unique<Installed>();
  installed->sink = std::make_shared<MozLogSink>(std::make_unique<MozLogFormatter>(logger_name, json), out);
  installed->logger = std::make_shared<spdlog::logger>(logger_name, installed->sink);
  installed->logger->set_level(level);

  std::lock_guard<std::mutex> lock(InstallMutex());
  spdlog::set_default_logger(installed->logger);
  g_installed.store(installed.get(), std::memory_order_release);
  AllInstalls().push_back(std::move(installed));
}

bool MozLog::Enabled(spdlog::level::level_enum level) noexcept {
  if (const Installed* in = g_installed.load(std::memory_order_acquire)) return in->logger->should_log(level);
  return spdlog::default_logger_raw()->should_log(level);
}

namespace {

template <typename Fields>
void WriteEvent(spdlog::level::level_enum level, std::string_view type, const Fields& fields) noexcept {
  try {
    const Installed* in = g_installed.load(std::memory_order_acquire);
    if (in == nullptr) {
      spdlog::logger* fallback = spdlog::default_logger_raw();
      if (!fallback->should_log(level)) return;
      spdlog::memory_buf_t line;
      AppendEscaped(line, type, kMaxLogStringBytes, /*json=*/true);
      AppendPlainFields(line, fields);
      fallback->log(level, "{}", std::string_view(line.data(), line.size()));
      return;
    }
    if (!in->logger->should_log(level)) return;
    if (t_batch != nullptr) {
      in->sink->formatter().FormatEvent(level, type, fields, *t_batch);
      if (t_batch->size() > kMaxBatchBytes) {
        in->sink->WriteLine(std::string_view(t_batch->data(), t_batch->size()));
        t_batch->clear();
      }
      return;
    }
    // Formatted outside the sink lock, into a per-thread buffer so a warm thread does not allocate.
    thread_local spdlog::memory_buf_t line;
    line.clear();
    in->sink->formatter().FormatEvent(level, type, fields, line);
    in->sink->WriteLine(std::string_view(line.data(), line.size()));
    if (line.capacity() > 64 * 1024) line = spdlog::memory_buf_t();  // do not keep a huge one
  } catch (...) {
    // Logging never takes the daemon down (out of memory while formatting): the line is dropped.
  }
}

}  // namespace

void MozLog::Event(spdlog::level::level_enum level, std::string_view type, const LogFields& fields) noexcept {
  WriteEvent(level, type, fields);
}

void MozLog::EventViews(spdlog::level::level_enum level, std::string_view type,
                        std::span<const LogFieldView> fields) noexcept {
  WriteEvent(level, type, fields);
}

MozLogBatch::MozLogBatch() noexcept {
  thread_local spdlog::memory_buf_t buffer;
  buffer.clear();
  t_batch = &buffer;
}

MozLogBatch::~MozLogBatch() {
  Flush();
  t_batch = nullptr;
}

void MozLogBatch::Flush() noexcept {
  if (t_batch == nullptr || t_batch->size() == 0) return;
  if (const Installed* in = g_installed.load(std::memory_order_acquire)) {
    in->sink->WriteLine(std::string_view(t_batch->data(), t_batch->size()));
  }
  t_batch->clear();
}

}  // namespace signet::daemon
