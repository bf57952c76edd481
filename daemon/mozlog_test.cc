#include "daemon/mozlog.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// ---- A tiny strict JSON parser: enough for mozlog lines (objects, strings, integers, booleans).

struct Json {
  enum class Kind { kString, kInt, kBool, kObject } kind = Kind::kString;
  std::string str;
  int64_t num = 0;
  bool boolean = false;
  std::vector<std::pair<std::string, Json>> members;  // in document order

  const Json* Get(std::string_view key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    for (const auto& m : members) keys.push_back(m.first);
    return keys;
  }
};

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Strict UTF-8 check (no overlongs, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  // The whole input must be exactly one object.
  std::optional<Json> ParseDocument() {
    if (!IsValidUtf8(s_)) return std::nullopt;
    Json v;
    if (!ParseObject(&v)) return std::nullopt;
    if (pos_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }
  bool ParseString(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;  // raw control characters are not JSON
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!Eat('\\') || !Eat('u') || !Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool ParseValue(Json* v) {
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '"') {
      v->kind = Json::Kind::kString;
      return ParseString(&v->str);
    }
    if (c == '{') return ParseObject(v);
    if (s_.substr(pos_, 4) == "true") {
      pos_ += 4;
      v->kind = Json::Kind::kBool;
      v->boolean = true;
      return true;
    }
    if (s_.substr(pos_, 5) == "false") {
      pos_ += 5;
      v->kind = Json::Kind::kBool;
      return true;
    }
    // Integers only: mozlog lines carry no fractions.
    v->kind = Json::Kind::kInt;
    const size_t start = pos_;
    Eat('-');
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return false;
    if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9') return false;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    try {
      v->num = std::stoll(std::string(s_.substr(start, pos_ - start)));
    } catch (...) {
      return false;
    }
    return true;
  }
  bool ParseObject(Json* v) {
    v->kind = Json::Kind::kObject;
    if (!Eat('{')) return false;
    if (Eat('}')) return true;
    do {
      std::string key;
      if (!ParseString(&key) || !Eat(':')) return false;
      Json member;
      if (!ParseValue(&member)) return false;
      v->members.emplace_back(std::move(key), std::move(member));
    } while (Eat(','));
    return Eat('}');
  }

  std::string_view s_;
  size_t pos_ = 0;
};

std::optional<Json> ParseJson(std::string_view s) { return JsonParser(s).ParseDocument(); }

// ---- Capturing the real output.

constexpr char kLogger[] = "signetd-test";

// Installs MozLog on a tmpfile for one test; puts stderr back afterwards.
class CapturedLog {
 public:
  explicit CapturedLog(spdlog::level::level_enum level = spdlog::level::trace, bool json = true)
      : file_(std::tmpfile()) {
    MozLog::Install(kLogger, level, json, file_);
  }
  ~CapturedLog() {
    MozLog::Install(kLogger, spdlog::level::info, true, stderr);
    std::fclose(file_);
  }

  // Everything written so far.
  std::string Text() {
    std::fflush(file_);
    std::string text;
    std::rewind(file_);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file_)) > 0) text.append(buf, n);
    std::fseek(file_, 0, SEEK_END);
    return text;
  }
  // Lines without their '\n'; the text must end with '\n' (no partial line).
  std::vector<std::string> Lines() {
    const std::string text = Text();
    std::vector<std::string> lines;
    EXPECT_TRUE(text.empty() || text.back() == '\n') << "partial last line";
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      lines.push_back(text.substr(start, nl - start));
    }
    return lines;
  }
  // Parses every line; fails the test on any line that is not one strict JSON object.
  std::vector<Json> Objects() {
    std::vector<Json> out;
    for (const std::string& line : Lines()) {
      auto j = ParseJson(line);
      EXPECT_TRUE(j.has_value()) << "not a JSON object: " << line;
      if (j) out.push_back(std::move(*j));
    }
    return out;
  }

 private:
  std::FILE* file_;
};

std::string LocalHostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string JsonString(std::string_view s, size_t max = kMaxLogStringBytes) {
  std::string out;
  AppendJsonString(s, &out, max);
  return out;
}

// ---- Envelope

TEST(MozLogTest, AppLogHasEveryEnvelopeKeyInOrderWithItsType) {
  CapturedLog log;
  const int64_t before = NowNs();
  spdlog::info("hello {}", 42);
  const int64_t after = NowNs();

  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), 1u);
  const Json& j = objs[0];
  EXPECT_THAT(j.Keys(), ElementsAre("Timestamp", "Type", "Logger", "Hostname", "EnvVersion", "Severity",
                                    "Pid", "Fields"));
  ASSERT_EQ(j.Get("Timestamp")->kind, Json::Kind::kInt);
  EXPECT_GE(j.Get("Timestamp")->num, before);
  EXPECT_LE(j.Get("Timestamp")->num, after);
  ASSERT_EQ(j.Get("Type")->kind, Json::Kind::kString);
  EXPECT_EQ(j.Get("Type")->str, "app.log");
  ASSERT_EQ(j.Get("Logger")->kind, Json::Kind::kString);
  EXPECT_EQ(j.Get("Logger")->str, kLogger);
  ASSERT_EQ(j.Get("Hostname")->kind, Json::Kind::kString);
  EXPECT_EQ(j.Get("Hostname")->str, LocalHostname());
  ASSERT_EQ(j.Get("EnvVersion")->kind, Json::Kind::kString);
  EXPECT_EQ(j.Get("EnvVersion")->str, "2.0");
  ASSERT_EQ(j.Get("Severity")->kind, Json::Kind::kInt);
  EXPECT_EQ(j.Get("Severity")->num, 6);
  ASSERT_EQ(j.Get("Pid")->kind, Json::Kind::kInt);
  EXPECT_EQ(j.Get("Pid")->num, getpid());
  const Json* fields = j.Get("Fields");
  ASSERT_EQ(fields->kind, Json::Kind::kObject);
  EXPECT_THAT(fields->Keys(), ElementsAre("msg"));
  EXPECT_EQ(fields->Get("msg")->str, "hello 42");
}

TEST(MozLogTest, AppLogLineIsExactlyTheEnvelope) {
  CapturedLog log;
  spdlog::warn("disk {}", "full");
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 1u);
  const std::string hostname = JsonString(LocalHostname());
  EXPECT_THAT(lines[0], MatchesRegex("\\{\"Timestamp\":[0-9]+,\"Type\":\"app\\.log\",.*"));
  EXPECT_THAT(lines[0],
              HasSubstr(",\"Type\":\"app.log\",\"Logger\":\"signetd-test\",\"Hostname\":" + hostname +
                        ",\"EnvVersion\":\"2.0\",\"Severity\":4,\"Pid\":" + std::to_string(getpid()) +
                        ",\"Fields\":{\"msg\":\"disk full\"}}"));
}

TEST(MozLogTest, SeverityFollowsSyslog) {
  CapturedLog log(spdlog::level::trace);
  spdlog::trace("t");
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  spdlog::critical("c");
  std::vector<int64_t> severities;
  for (const Json& j : log.Objects()) severities.push_back(j.Get("Severity")->num);
  EXPECT_THAT(severities, ElementsAre(7, 7, 6, 4, 3, 2));

  EXPECT_EQ(SyslogSeverity(spdlog::level::critical), 2);
  EXPECT_EQ(SyslogSeverity(spdlog::level::err), 3);
  EXPECT_EQ(SyslogSeverity(spdlog::level::warn), 4);
  EXPECT_EQ(SyslogSeverity(spdlog::level::info), 6);
  EXPECT_EQ(SyslogSeverity(spdlog::level::debug), 7);
  EXPECT_EQ(SyslogSeverity(spdlog::level::trace), 7);
}

TEST(MozLogTest, LevelFiltersAppLogsAndEvents) {
  CapturedLog log(spdlog::level::warn);
  EXPECT_FALSE(MozLog::Enabled(spdlog::level::info));
  EXPECT_TRUE(MozLog::Enabled(spdlog::level::warn));
  EXPECT_TRUE(MozLog::Enabled(spdlog::level::err));
  spdlog::info("dropped");
  MozLog::Event(spdlog::level::info, "signet.audit", {{"x", "dropped"}});
  MozLog::Event(spdlog::level::warn, "signet.denied", {{"x", "kept"}});
  spdlog::error("kept too");
  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), 2u);
  EXPECT_EQ(objs[0].Get("Type")->str, "signet.denied");
  EXPECT_EQ(objs[1].Get("Fields")->Get("msg")->str, "kept too");
}

// ---- Events

TEST(MozLogTest, EventCarriesTypeAndTypedFieldsInOrder) {
  CapturedLog log;
  MozLog::Event(spdlog::level::info, "signet.audit",
                {{"signer", "remote-settings"},
                 {"key_id", std::string("rs/20240501T000000Z")},
                 {"client", std::string_view("spiffe://svc/a")},
                 {"items", 3},
                 {"bytes", size_t{1024}},
                 {"delta", int64_t{-5}},
                 {"cancelled", false},
                 {"ok", true}});
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("\"Type\":\"signet.audit\""));
  EXPECT_THAT(lines[0], HasSubstr("\"Severity\":6"));
  EXPECT_THAT(lines[0],
              HasSubstr(",\"Fields\":{\"signer\":\"remote-settings\",\"key_id\":\"rs/20240501T000000Z\","
                        "\"client\":\"spiffe://svc/a\",\"items\":3,\"bytes\":1024,\"delta\":-5,"
                        "\"cancelled\":false,\"ok\":true}}"));
  auto j = ParseJson(lines[0]);
  ASSERT_TRUE(j.has_value());
  EXPECT_THAT(j->Keys(), ElementsAre("Timestamp", "Type", "Logger", "Hostname", "EnvVersion", "Severity",
                                     "Pid", "Fields"));
  const Json* f = j->Get("Fields");
  EXPECT_THAT(f->Keys(),
              ElementsAre("signer", "key_id", "client", "items", "bytes", "delta", "cancelled", "ok"));
  EXPECT_EQ(f->Get("items")->kind, Json::Kind::kInt);
  EXPECT_EQ(f->Get("items")->num, 3);
  EXPECT_EQ(f->Get("ok")->kind, Json::Kind::kBool);
  EXPECT_TRUE(f->Get("ok")->boolean);
}

TEST(MozLogTest, EventWithNoFieldsHasAnEmptyObject) {
  CapturedLog log;
  MozLog::Event(spdlog::level::err, "signet.rotation_failed", {});
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("\"Severity\":3,"));
  EXPECT_THAT(lines[0], testing::EndsWith(",\"Fields\":{}}"));
  EXPECT_TRUE(ParseJson(lines[0]).has_value());
}

TEST(MozLogTest, LogFieldIntegersConvertAndClamp) {
  LogField a("a", std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(std::get<int64_t>(a.value), std::numeric_limits<int64_t>::max());
  LogField b("b", uint32_t{4000000000u});
  EXPECT_EQ(std::get<int64_t>(b.value), 4000000000);
  LogField c("c", std::numeric_limits<int64_t>::min());
  EXPECT_EQ(std::get<int64_t>(c.value), std::numeric_limits<int64_t>::min());
  LogField d("d", "text");
  EXPECT_EQ(std::get<std::string>(d.value), "text");
  LogField e("e", true);
  EXPECT_TRUE(std::get<bool>(e.value));
  const char* null_text = nullptr;
  LogField f("f", null_text);
  EXPECT_EQ(std::get<std::string>(f.value), "");
}

TEST(MozLogTest, AppLogsAndEventsKeepTheirOrder) {
  CapturedLog log;
  for (int i = 0; i < 20; ++i) {
    spdlog::info("app {}", i);
    MozLog::Event(spdlog::level::info, "signet.audit", {{"i", i}});
  }
  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), 40u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(objs[2 * i].Get("Fields")->Get("msg")->str, "app " + std::to_string(i));
    EXPECT_EQ(objs[2 * i + 1].Get("Fields")->Get("i")->num, i);
  }
}

TEST(MozLogTest, EventViewsFormatLikeStringFields) {
  CapturedLog log;
  MozLog::Event(spdlog::level::info, "signet.audit", {{"signer", "rs"}, {"input", "a\"b\n"}});
  const LogFieldView views[] = {{"signer", "rs"}, {"input", "a\"b\n"}};
  MozLog::EventViews(spdlog::level::info, "signet.audit", views);
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const std::string tail = ",\"Fields\":{\"signer\":\"rs\",\"input\":\"a\\\"b\\n\"}}";
  EXPECT_THAT(lines[0], testing::EndsWith(tail));
  EXPECT_THAT(lines[1], testing::EndsWith(tail));
}

TEST(MozLogTest, BatchWritesItsLinesAtOnceAndKeepsTheThreadsOrder) {
  CapturedLog log(spdlog::level::info);
  {
    MozLogBatch batch;
    const LogFieldView first[] = {{"n", "1"}};
    MozLog::EventViews(spdlog::level::info, "signet.audit", first);
    MozLog::Event(spdlog::level::info, "signet.audit", {{"n", 2}});
    EXPECT_EQ(log.Text(), "") << "nothing is written before the batch is flushed";
    batch.Flush();
    EXPECT_EQ(log.Lines().size(), 2u);
    MozLog::Event(spdlog::level::info, "signet.audit", {{"n", 3}});
    spdlog::info("an app line flushes the batch before itself");
    MozLog::Event(spdlog::level::info, "signet.audit", {{"n", 4}});
    MozLog::Event(spdlog::level::debug, "signet.audit", {{"n", 99}});  // below the level: never written
  }
  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), 5u);
  EXPECT_EQ(objs[0].Get("Fields")->Get("n")->str, "1");
  EXPECT_EQ(objs[1].Get("Fields")->Get("n")->num, 2);
  EXPECT_EQ(objs[2].Get("Fields")->Get("n")->num, 3);
  EXPECT_EQ(objs[3].Get("Fields")->Get("msg")->str, "an app line flushes the batch before itself");
  EXPECT_EQ(objs[4].Get("Fields")->Get("n")->num, 4);
  // After the batch, events are written at once again.
  MozLog::Event(spdlog::level::info, "signet.audit", {{"n", 5}});
  EXPECT_EQ(log.Lines().size(), 6u);
}

TEST(MozLogTest, SetPatternCannotBreakTheJsonStream) {
  CapturedLog log;
  spdlog::set_pattern("%v");
  spdlog::info("still json");
  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_EQ(objs[0].Get("Fields")->Get("msg")->str, "still json");
}

// ---- Escaping

TEST(MozLogTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(JsonString("C:\\dir"), "\"C:\\\\dir\"");
  EXPECT_EQ(JsonString("a\nb\rc\td\be\ff"), "\"a\\nb\\rc\\td\\be\\ff\"");
  EXPECT_EQ(JsonString(std::string("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonString("/ stays"), "\"/ stays\"");
  // Every control character below 0x20 is escaped, never raw.
  for (int c = 0; c < 0x20; ++c) {
    const std::string out = JsonString(std::string(1, static_cast<char>(c)));
    for (char ch : out) EXPECT_GE(static_cast<unsigned char>(ch), 0x20) << "char " << c;
    auto j = ParseJson("{\"k\":" + out + "}");
    ASSERT_TRUE(j.has_value()) << out;
    EXPECT_EQ(j->Get("k")->str, std::string(1, static_cast<char>(c)));
  }
}

TEST(MozLogTest, KeepsValidUtf8AndEscapesLineSeparators) {
  EXPECT_EQ(JsonString("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  EXPECT_EQ(JsonString("a\xE2\x80\xA8"
                       "b\xE2\x80\xA9"),
            "\"a\\u2028b\\u2029\"");
  // Largest code point and the ones around the surrogate range are valid.
  EXPECT_EQ(JsonString("\xF4\x8F\xBF\xBF"), "\"\xF4\x8F\xBF\xBF\"");
  EXPECT_EQ(JsonString("\xED\x9F\xBF\xEE\x80\x80"), "\"\xED\x9F\xBF\xEE\x80\x80\"");
}

TEST(MozLogTest, ReplacesInvalidUtf8WithReplacementCharacter) {
  EXPECT_EQ(JsonString("a\xFF"
                       "b"),
            "\"a\\ufffdb\"");                                                     // never valid
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"\\ufffd\\ufffd\"");                        // overlong '/'
  EXPECT_EQ(JsonString("\xE0\x80\xAF"), "\"\\ufffd\\ufffd\\ufffd\"");             // overlong, 3 bytes
  EXPECT_EQ(JsonString("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");             // surrogate U+D800
  EXPECT_EQ(JsonString("\xF4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // above U+10FFFF
  EXPECT_EQ(JsonString("\xE2\x82"), "\"\\ufffd\"");                               // cut short at the end
  EXPECT_EQ(JsonString("\xE2\x82x"), "\"\\ufffdx\"");                             // cut short mid-string
  EXPECT_EQ(JsonString("\x80x"), "\"\\ufffdx\"");                                 // lone continuation byte
  EXPECT_EQ(JsonString("\xF0\x9F\x98"), "\"\\ufffd\"");                           // 4-byte sequence cut short
}

TEST(MozLogTest, LogLinesStayStrictJsonWhateverTheInput) {
  CapturedLog log;
  const std::string nasty =
      std::string("q\"b\\n\nr\rt\t\x01\x1f\x7f\0z", 15) + "\xFF\xC3(\xE2\x82\xF0\x9F\x98";
  spdlog::info("{}", nasty);
  MozLog::Event(spdlog::level::warn, std::string("type\n\"x") + "\xFE",
                {{std::string("k\"\n") + "\xC1", nasty}});
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const std::string expected = "q\"b\\n\nr\rt\t\x01\x1f\x7f" + std::string(1, '\0') +
                               "z\xEF\xBF\xBD\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD";
  auto app = ParseJson(lines[0]);
  ASSERT_TRUE(app.has_value()) << lines[0];
  EXPECT_EQ(app->Get("Fields")->Get("msg")->str, expected);
  EXPECT_THAT(lines[0], HasSubstr("\"msg\":\"q\\\"b\\\\n\\nr\\rt\\t\\u0001\\u001f\\u007f\\u0000z"
                                  "\\ufffd\\ufffd(\\ufffd\\ufffd\"}}"));
  auto ev = ParseJson(lines[1]);
  ASSERT_TRUE(ev.has_value()) << lines[1];
  EXPECT_EQ(ev->Get("Type")->str, "type\n\"x\xEF\xBF\xBD");
  EXPECT_EQ(ev->Get("Fields")->Get("k\"\n\xEF\xBF\xBD")->str, expected);
}

// ---- Truncation

TEST(MozLogTest, TruncatesLongStringsWithAMarker) {
  const std::string marker(kTruncatedMarker);
  EXPECT_EQ(JsonString(std::string(kMaxLogStringBytes, 'a')),
            "\"" + std::string(kMaxLogStringBytes, 'a') + "\"");
  EXPECT_EQ(JsonString(std::string(kMaxLogStringBytes + 1, 'a')),
            "\"" + std::string(kMaxLogStringBytes, 'a') + marker + "\"");
  EXPECT_EQ(marker, "\xE2\x80\xA6[truncated]");
  // A character that straddles the limit is dropped whole, not split into invalid UTF-8.
  EXPECT_EQ(JsonString(std::string(kMaxLogStringBytes - 1, 'a') + "\xC3\xA9"),
            "\"" + std::string(kMaxLogStringBytes - 1, 'a') + marker + "\"");
  EXPECT_EQ(JsonString("abcdef", 3), "\"abc" + marker + "\"");
  // The bound is on input bytes; escapes may make the output longer.
  EXPECT_EQ(JsonString("\n\n\n\n", 2), "\"\\n\\n" + marker + "\"");
}

TEST(MozLogTest, TruncatesMessagesKeysAndValuesInLogLines) {
  CapturedLog log;
  const std::string big(100 * 1024, 'x');
  spdlog::info("{}", big);
  MozLog::Event(spdlog::level::info, "signet.audit", {{big, big}});
  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), 2u);
  const std::string cut = std::string(kMaxLogStringBytes, 'x') + std::string(kTruncatedMarker);
  EXPECT_EQ(objs[0].Get("Fields")->Get("msg")->str, cut);
  ASSERT_EQ(objs[1].Get("Fields")->members.size(), 1u);
  EXPECT_EQ(objs[1].Get("Fields")->members[0].first, cut);
  EXPECT_EQ(objs[1].Get("Fields")->members[0].second.str, cut);
}

// ---- Concurrency

TEST(MozLogTest, ConcurrentLoggingFromEightThreadsWritesOnlyWholeLines) {
  CapturedLog log;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 400;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      const std::string pad(300 + 50 * t, static_cast<char>('a' + t));  // lines of different lengths
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 2 == 0) {
          spdlog::info("t={} i={} {}", t, i, pad);
        } else {
          MozLog::Event(spdlog::level::info, "signet.audit", {{"t", t}, {"i", i}, {"pad", pad}});
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  const std::vector<Json> objs = log.Objects();
  ASSERT_EQ(objs.size(), static_cast<size_t>(kThreads * kPerThread));
  std::map<int, int> next;  // per thread, lines arrive in the order they were written
  for (const Json& j : objs) {
    ASSERT_EQ(j.members.size(), 8u);
    const Json* f = j.Get("Fields");
    int t, i;
    if (j.Get("Type")->str == "app.log") {
      ASSERT_EQ(std::sscanf(f->Get("msg")->str.c_str(), "t=%d i=%d", &t, &i), 2);
    } else {
      t = static_cast<int>(f->Get("t")->num);
      i = static_cast<int>(f->Get("i")->num);
      EXPECT_EQ(f->Get("pad")->str.size(), static_cast<size_t>(300 + 50 * t));
    }
    EXPECT_EQ(i, next[t]) << "thread " << t;
    next[t] = i + 1;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
}

// ---- Plain format

TEST(MozLogTest, PlainFormatIsOneReadableLine) {
  CapturedLog log(spdlog::level::info, /*json=*/false);
  spdlog::warn("listening on {}\nfake line", "127.0.0.1:8443");
  MozLog::Event(spdlog::level::info, "signet.audit",
                {{"signer", "rs"}, {"note", "two words"}, {"items", 3}, {"ok", true}, {"empty", ""}});
  const std::vector<std::string> lines = log.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const std::string ts = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z";
  EXPECT_THAT(lines[0], testing::ContainsRegex("^" + ts + " WARN signetd-test: "));
  EXPECT_THAT(lines[0], testing::EndsWith(" WARN signetd-test: listening on 127.0.0.1:8443\\nfake line"));
  EXPECT_THAT(lines[1], testing::EndsWith(
                            " INFO signetd-test: signet.audit signer=rs note=\"two words\" items=3 ok=true "
                            "empty=\"\""));
}

}  // namespace
}  // namespace signet::daemon
