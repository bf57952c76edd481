// signetd's logs: Mozilla's mozlog JSON envelope, one object per line, written through spdlog.
//
//   {"Timestamp":1714564800123456789,"Type":"app.log","Logger":"signetd","Hostname":"host-1",
//    "EnvVersion":"2.0","Severity":6,"Pid":4242,"Fields":{"msg":"listening on 127.0.0.1:8443"}}
//
// Ordinary spdlog calls (spdlog::info(...)) become Type "app.log" with Fields {"msg": <message>}.
// MozLog::Event writes a structured line (e.g. the per-signature audit line) with its own Type and Fields
// through the same sink and mutex, so lines never interleave and keep their order.
//
// Every string (Type, keys, values, message) is escaped for JSON and made safe: control characters and DEL
// become \u00XX, invalid UTF-8 becomes \ufffd, U+2028/U+2029 are escaped, and a string longer than
// kMaxLogStringBytes is cut (on a character boundary) and ends with kTruncatedMarker. Nothing here throws.
//
// Never put a PIN or key bytes in a field: logs are not a secret store.
#ifndef SIGNET_DAEMON_MOZLOG_H_
#define SIGNET_DAEMON_MOZLOG_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "spdlog/common.h"
#include "spdlog/details/log_msg.h"
#include "spdlog/formatter.h"

namespace signet::daemon {

// Bound on each string in a log line, in input bytes, before escaping.
inline constexpr size_t kMaxLogStringBytes = 8 * 1024;
// Appended (inside the JSON string) to a string that was cut to kMaxLogStringBytes.
inline constexpr std::string_view kTruncatedMarker = "\xE2\x80\xA6[truncated]";  // "…[truncated]"
// Type of the lines that ordinary spdlog calls produce.
inline constexpr std::string_view kAppLogType = "app.log";

// One entry of "Fields". The key is a string; the value a JSON string, a JSON integer or a JSON boolean.
// Integers of any width are accepted; unsigned values above INT64_MAX are clamped to INT64_MAX.
// Fields are written in the order given; duplicate keys are not removed (do not pass them).
struct LogField {
  using Value = std::variant<std::string, int64_t, bool>;

  LogField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  LogField(std::string k, const char* v) : key(std::move(k)), value(std::string(v == nullptr ? "" : v)) {}
  LogField(std::string k, bool v) : key(std::move(k)), value(v) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) LogField(std::string k, T v) : key(std::move(k)), value(ClampToInt64(v)) {}

  std::string key;
  Value value;

 private:
  template <std::integral T>
  static int64_t ClampToInt64(T v) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (v > static_cast<T>(std::numeric_limits<int64_t>::max())) return std::numeric_limits<int64_t>::max();
    }
    return static_cast<int64_t>(v);
  }
};
using LogFields = std::vector<LogField>;

// A string field that borrows its key and value: for hot paths (the per-signature audit line) that must
// not allocate. Formatted exactly like a LogField holding a string.
struct LogFieldView {
  std::string_view key;
  std::string_view value;
};

// syslog severity of an spdlog level: critical=2, err=3, warn=4, info=6, debug/trace=7 (off=7).
int SyslogSeverity(spdlog::level::level_enum level) noexcept;

// Appends s to *out as a quoted JSON string, escaped and bounded as described at the top of this file.
// Useful for any hand-written JSON (e.g. /__version__).
void AppendJsonString(std::string_view s, std::string* out, size_t max_bytes = kMaxLogStringBytes) noexcept;

// A spdlog formatter for the mozlog envelope (json=true) or a plain human line (json=false):
//   2024-05-01T12:00:00.123456Z INFO signetd: message
// The Hostname and Pid are read once, at construction.
class MozLogFormatter final : public spdlog::formatter {
 public:
  MozLogFormatter(std::string logger_name, bool json);

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

  // Appends one complete line (with '\n') for a structured event. Used by MozLog::Event.
  void FormatEvent(spdlog::level::level_enum level, std::string_view type, const LogFields& fields,
                   spdlog::memory_buf_t& dest) const;
  void FormatEvent(spdlog::level::level_enum level, std::string_view type, std::span<const LogFieldView> fields,
                   spdlog::memory_buf_t& dest) const;

 private:
  MozLogFormatter(const MozLogFormatter&) = default;

  void AppendJsonHead(int64_t timestamp_ns, spdlog::level::level_enum level, std::string_view type,
                      spdlog::memory_buf_t& dest) const;
  void AppendPlainHead(spdlog::log_clock::time_point time, spdlog::level::level_enum level,
                       spdlog::memory_buf_t& dest) const;
  template <typename Fields>
  void FormatEventImpl(spdlog::level::level_enum level, std::string_view type, const Fields& fields,
                       spdlog::memory_buf_t& dest) const;

  bool json_;
  std::string plain_logger_;    // plain mode: "signetd" made safe, without quotes
  std::string after_type_;      // json mode: ,"Logger":"..","Hostname":"..","EnvVersion":"2.0","Severity":
  std::string after_severity_;  // json mode: ,"Pid":123,"Fields":{
};

// Process-wide installation of the mozlog format as spdlog's default logger. Thread-safe for logging;
// call Install at start-up (or in a test's set-up), not while other threads log.
class MozLog {
 public:
  // Makes the default spdlog logger (named logger_name) write to `out` in mozlog JSON, or in the plain
  // human format when json=false, at `level` and above. Each line is written with one fwrite and flushed.
  // `out` is not closed; it must stay open until the next Install or process exit (tests pass a tmpfile()).
  // The line format belongs to MozLog: set_pattern/set_formatter on its sink are ignored.
  static void Install(const std::string& logger_name, spdlog::level::level_enum level, bool json = true,
                      std::FILE* out = stderr);

  // Whether a line at `level` would be written: check it before building expensive fields.
  static bool Enabled(spdlog::level::level_enum level) noexcept;

  // Writes one structured line with the given Type and Fields, after the level check. Before Install,
  // it falls back to a plain "type key=value ..." message on the current default spdlog logger.
  static void Event(spdlog::level::level_enum level, std::string_view type, const LogFields& fields) noexcept;
  // The same for borrowed string fields, without allocating once the thread is warm.
  static void EventViews(spdlog::level::level_enum level, std::string_view type,
                         std::span<const LogFieldView> fields) noexcept;
};

// Collects the structured lines this thread writes while it lives, and writes them with one fwrite and
// fflush at Flush() or destruction: an HSM worker writes the audit lines of a whole batch at once, and
// flushes them before it answers the calls, so every returned signature has its audit line written.
// A plain spdlog line from the same thread flushes the batch first, so the thread's lines keep their
// order. Batches do not nest; one per thread.
class MozLogBatch {
 public:
  MozLogBatch() noexcept;
  ~MozLogBatch();
  MozLogBatch(const MozLogBatch&) = delete;
  MozLogBatch& operator=(const MozLogBatch&) = delete;
  void Flush() noexcept;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_MOZLOG_H_
