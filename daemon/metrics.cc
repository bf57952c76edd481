#include "daemon/metrics.h"

#include "common/utf8.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

namespace signet::daemon {
namespace {

// Registration mistakes are programmer errors: say what was wrong, then abort.
[[noreturn]] void Fatal(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "signet metrics: %.*s: \"%.*s\"\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(name.size()), name.data());
  std::fflush(stderr);
  std::abort();
}

// HELP escapes \ and newline; a label value also escapes ". Invalid UTF-8 becomes U+FFFD.
void AppendEscaped(std::string* out, std::string_view s, bool label_value) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = p[i];
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && label_value) {
      out->append("\\\"");
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else {
      size_t bad = 1;
      const size_t len = Utf8Sequence(p + i, s.size() - i, &bad);
      if (len == 0) {
        out->append("\xEF\xBF\xBD");
        i += bad;
      } else {
        out->append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    ++i;
  }
}

void AppendValue(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));  // 1000000, not 1e+06
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest form that reads back as v
  }
  out->append(buf, r.ptr);
}

std::string ValueString(double v) {
  std::string s;
  AppendValue(&s, v);
  return s;
}

void CheckLabelNames(std::string_view family, const std::vector<std::string>& label_names) {
  std::set<std::string_view> seen;
  for (const std::string& l : label_names) {
    if (!IsValidLabelName(l)) Fatal(std::string("invalid label name \"") + l + "\" in", family);
    if (!seen.insert(l).second) Fatal(std::string("repeated label name \"") + l + "\" in", family);
  }
}

// The names a family puts in the exposition; two families may not share one.
std::vector<std::string> ExposedNames(const MetricFamily& family) {
  if (dynamic_cast<const Histogram*>(&family) != nullptr) {
    return {family.name(), family.name() + "_bucket", family.name() + "_sum", family.name() + "_count"};
  }
  return {family.name()};
}

// A gauge whose samples are computed at render time.
class CallbackGauge final : public MetricFamily {
 public:
  CallbackGauge(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                GaugeCallback fn)
      : MetricFamily(name, help, std::move(label_names)), fn_(std::move(fn)) {}

 private:
  std::string_view type() const override { return "gauge"; }
  void RenderSamples(std::string* out) const override {
    std::vector<GaugeSample> samples;
    try {
      if (fn_) samples = fn_();
    } catch (...) {
      return;  // a failing source loses its samples for this scrape, not the whole page
    }
    for (const GaugeSample& s : samples) {
      if (s.label_values.size() != label_names().size()) continue;
      AppendSample(out, "", s.label_values, "", "", s.value);
    }
  }

  const GaugeCallback fn_;
};

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// ---- MetricFamily

MetricFamily::MetricFamily(std::string_view name, std::string_view help, std::vector<std::string> label_names)
    : name_(name), help_(help), label_names_(std::move(label_names)) {
  if (!IsValidMetricName(name_)) Fatal("invalid metric name", name_);
  CheckLabelNames(name_, label_names_);
}

void MetricFamily::Render(std::string* out) const {
  out->append("# HELP ").append(name_).push_back(' ');
  AppendEscaped(out, help_, /*label_value=*/false);
  out->append("\n# TYPE ").append(name_).push_back(' ');
  out->append(type());
  out->push_back('\n');
  RenderSamples(out);
}

void MetricFamily::CheckLabelCount(size_t n) const {
  if (n != label_names_.size()) {
    Fatal("WithLabels got " + std::to_string(n) + " values for " + std::to_string(label_names_.size()) +
              " label names of",
          name_);
  }
}

void MetricFamily::AppendSample(std::string* out, std::string_view suffix,
                                std::span<const std::string> label_values, std::string_view extra_label,
                                std::string_view extra_value, double value) const {
  out->append(name_);
  out->append(suffix);
  if (!label_values.empty() || !extra_label.empty()) {
    out->push_back('{');
    bool first = true;
    auto label = [&](std::string_view key, std::string_view v) {
      if (!first) out->push_back(',');
      first = false;
      out->append(key);
      out->append("=\"");
      AppendEscaped(out, v, /*label_value=*/true);
      out->push_back('"');
    };
    for (size_t i = 0; i < label_values.size() && i < label_names_.size(); ++i) {
      label(label_names_[i], label_values[i]);
    }
    if (!extra_label.empty()) label(extra_label, extra_value);
    out->push_back('}');
  }
  out->push_back(' ');
  AppendValue(out, value);
  out->push_back('\n');
}

// ---- Counter

void CounterChild::Add(double v) {
  if (!(v > 0) || std::isinf(v)) return;  // also rejects NaN
  if (v == std::floor(v) && v < 9e18) {
    whole_.fetch_add(static_cast<uint64_t>(v), std::memory_order_relaxed);
  } else {
    fraction_.fetch_add(v, std::memory_order_relaxed);
  }
}

double CounterChild::Value() const {
  return static_cast<double>(whole_.load(std::memory_order_relaxed)) +
         fraction_.load(std::memory_order_relaxed);
}

Counter::Counter(std::string_view name, std::string_view help, std::vector<std::string> label_names)
    : LabeledFamily(name, help, std::move(label_names)) {
  CreateUnlabeledChild();
}

std::unique_ptr<CounterChild> Counter::NewChild() const {
  return std::unique_ptr<CounterChild>(new CounterChild());
}

void Counter::RenderSamples(std::string* out) const {
  ForEachChild([&](std::span<const std::string> values, const CounterChild& c) {
    AppendSample(out, "", values, "", "", c.Value());
  });
}

// ---- Gauge

Gauge::Gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names)
    : LabeledFamily(name, help, std::move(label_names)) {
  CreateUnlabeledChild();
}

std::unique_ptr<GaugeChild> Gauge::NewChild() const { return std::unique_ptr<GaugeChild>(new GaugeChild()); }

void Gauge::RenderSamples(std::string* out) const {
  ForEachChild([&](std::span<const std::string> values, const GaugeChild& g) {
    AppendSample(out, "", values, "", "", g.Value());
  });
}

// ---- Histogram

HistogramChild::HistogramChild(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void HistogramChild::Observe(double v) {
  if (std::isnan(v)) return;
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> HistogramChild::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

uint64_t HistogramChild::Count() const { return CumulativeCounts().back(); }

Histogram::Histogram(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                     std::vector<double> bounds)
    : LabeledFamily(name, help, std::move(label_names)), bounds_([&] {
        if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
        return std::move(bounds);
      }()) {
  for (const std::string& l : this->label_names()) {
    if (l == "le") Fatal("a histogram may not have a label named \"le\"", this->name());
  }
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i])) Fatal("histogram bucket bounds must be finite", this->name());
    if (i > 0 && !(bounds_[i - 1] < bounds_[i])) {
      Fatal("histogram bucket bounds must be strictly increasing", this->name());
    }
  }
  CreateUnlabeledChild();
}

std::unique_ptr<HistogramChild> Histogram::NewChild() const {
  return std::unique_ptr<HistogramChild>(new HistogramChild(bounds_));
}

void Histogram::RenderSamples(std::string* out) const {
  std::vector<std::string> le;
  le.reserve(bounds_.size() + 1);
  for (double b : bounds_) le.push_back(ValueString(b));
  le.push_back("+Inf");
  ForEachChild([&](std::span<const std::string> values, const HistogramChild& h) {
    const double sum = h.Sum();
    const std::vector<uint64_t> cumulative = h.CumulativeCounts();
    for (size_t i = 0; i < cumulative.size(); ++i) {
      AppendSample(out, "_bucket", values, "le", le[i], static_cast<double>(cumulative[i]));
    }
    AppendSample(out, "_sum", values, "", "", sum);
    AppendSample(out, "_count", values, "", "", static_cast<double>(cumulative.back()));
  });
}

std::vector<double> ExponentialBuckets(double start, double factor, size_t count) {
  if (!(start > 0) || !(factor > 1) || !std::isfinite(start) || !std::isfinite(factor)) {
    Fatal("ExponentialBuckets needs start > 0 and factor > 1", "");
  }
  std::vector<double> out;
  out.reserve(count);
  for (double b = start; out.size() < count; b *= factor) out.push_back(b);
  return out;
}

// ---- MetricsRegistry

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

template <typename T>
T& MetricsRegistry::Register(std::unique_ptr<T> family) {
  T& ref = *family;
  const std::vector<std::string> names = ExposedNames(ref);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& existing : families_) {
    for (const std::string& n : ExposedNames(*existing)) {
      if (std::find(names.begin(), names.end(), n) != names.end()) Fatal("duplicate metric name", n);
    }
  }
  families_.push_back(std::move(family));
  return ref;
}

Counter& MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names) {
  return Register(std::unique_ptr<Counter>(new Counter(name, help, std::move(label_names))));
}

Gauge& MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names) {
  return Register(std::unique_ptr<Gauge>(new Gauge(name, help, std::move(label_names))));
}

Histogram& MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                         std::vector<std::string> label_names, std::vector<double> buckets) {
  return Register(
      std::unique_ptr<Histogram>(new Histogram(name, help, std::move(label_names), std::move(buckets))));
}

void MetricsRegistry::AddCallbackGauge(std::string_view name, std::string_view help,
                                       std::vector<std::string> label_names, GaugeCallback fn) {
  Register(std::make_unique<CallbackGauge>(name, help, std::move(label_names), std::move(fn)));
}

std::string MetricsRegistry::Render() const {
  // Families are never removed, so they can be rendered without the registry lock; a callback gauge may
  // then take its own locks (or even register) without deadlocking here.
  std::vector<const MetricFamily*> families;
  {
    std::lock_guard<std::mutex> lock(mu_);
    families.reserve(families_.size());
    for (const auto& f : families_) families.push_back(f.get());
  }
  std::string out;
  out.reserve(256 * families.size());
  for (const MetricFamily* f : families) f->Render(&out);
  return out;
}

}  // namespace signet::daemon
