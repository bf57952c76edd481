// A small Prometheus registry for signetd's /metrics, rendered in the text exposition format 0.0.4.
//
//   MetricsRegistry registry;
//   Counter& requests = registry.AddCounter("signet_requests_total", "Sign calls.", {"method", "code"});
//   Counter::Child& sign_ok = requests.WithLabels({"Sign", "OK"});   // once: keep the reference
//   sign_ok.Inc();                                                     // hot path: one relaxed atomic add
//
// A family (Counter, Gauge, Histogram) has label names fixed at registration. WithLabels finds or creates the
// child for one set of label values under the family's mutex; a child is never removed, so the reference
// stays valid for the registry's lifetime and its Inc/Add/Set/Observe are lock-free atomics. Label values
// must come from bounded sets (signer ids, status codes), never from client input: each set is kept forever.
//
// Registration and label-arity mistakes are programmer errors, not runtime input: Add* and WithLabels print
// "signet metrics: <reason>" to stderr and abort (DESIGN.md §5.2: a broken invariant aborts). Callers that
// build names at run time can check IsValidMetricName / IsValidLabelName first.
//
// Render lists families in registration order, each with # HELP and # TYPE lines; children are sorted by
// label values. HELP text escapes \ and newline; label values escape \, " and newline; invalid UTF-8 becomes
// U+FFFD. Values use the shortest round-trip form (integers as integers), plus +Inf, -Inf and NaN.
#ifndef SIGNET_DAEMON_METRICS_H_
#define SIGNET_DAEMON_METRICS_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace signet::daemon {

// Content-Type of MetricsRegistry::Render's output.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved by Prometheus).
bool IsValidLabelName(std::string_view name);

// What every family has: a name, HELP text, label names, and a way to render its samples.
class MetricFamily {
 public:
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;
  virtual ~MetricFamily() = default;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends "# HELP", "# TYPE" and the samples.
  void Render(std::string* out) const;

 protected:
  MetricFamily(std::string_view name, std::string_view help, std::vector<std::string> label_names);

  virtual std::string_view type() const = 0;
  virtual void RenderSamples(std::string* out) const = 0;

  // Aborts unless n == label_names().size().
  void CheckLabelCount(size_t n) const;
  // Appends name + suffix + {labels[, extra_label="extra_value"]} + ' ' + value + '\n'.
  void AppendSample(std::string* out, std::string_view suffix, std::span<const std::string> label_values,
                    std::string_view extra_label, std::string_view extra_value, double value) const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

namespace metrics_internal {

// Orders label-value tuples; transparent, so lookups with string_views do not allocate.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const auto& x, const auto& y) { return std::string_view(x) < std::string_view(y); });
  }
};

// A family whose children are created on first use and never removed.
template <typename ChildT>
class LabeledFamily : public MetricFamily {
 public:
  // Aborts when the number of values differs from the number of label names.
  ChildT& WithLabels(std::initializer_list<std::string_view> values) { return Find(values); }
  ChildT& WithLabels(std::span<const std::string> values) { return Find(values); }
  ChildT& WithLabels(std::span<const std::string_view> values) { return Find(values); }

 protected:
  using MetricFamily::MetricFamily;

  virtual std::unique_ptr<ChildT> NewChild() const = 0;

  // Calls fn(label_values, child) for every child, sorted by label values.
  template <typename Fn>
  void ForEachChild(Fn fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, child] : children_) fn(std::span<const std::string>(values), *child);
  }

  // A family without labels has its one child from the start, so it renders 0 before first use.
  void CreateUnlabeledChild() {
    if (label_names().empty()) Find(std::span<const std::string>());
  }

 private:
  template <typename Range>
  ChildT& Find(const Range& values) {
    CheckLabelCount(values.size());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = children_.find(values);
    if (it == children_.end()) {
      it = children_.emplace(std::vector<std::string>(values.begin(), values.end()), NewChild()).first;
    }
    return *it->second;
  }

  // std::mutex, not absl::Mutex: Debian's libabsl is not built for TSan, which then reports false races.
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<ChildT>, LabelValuesLess> children_;  // guarded by mu_
};

}  // namespace metrics_internal

class Counter;
class Gauge;
class Histogram;

class CounterChild {
 public:
  CounterChild(const CounterChild&) = delete;
  CounterChild& operator=(const CounterChild&) = delete;

  void Inc(uint64_t n = 1) { whole_.fetch_add(n, std::memory_order_relaxed); }
  // Negative, NaN and infinite amounts are ignored: a counter never goes down.
  void Add(double v);
  double Value() const;

 private:
  friend class Counter;
  CounterChild() = default;

  alignas(64) std::atomic<uint64_t> whole_{0};  // own cache line: hot counters do not share one
  std::atomic<double> fraction_{0};             // non-integral Add amounts
};

// A monotonically increasing count (Prometheus TYPE counter). Name it *_total by convention.
class Counter final : public metrics_internal::LabeledFamily<CounterChild> {
 public:
  using Child = CounterChild;

 private:
  friend class MetricsRegistry;
  Counter(std::string_view name, std::string_view help, std::vector<std::string> label_names);
  std::string_view type() const override { return "counter"; }
  void RenderSamples(std::string* out) const override;
  std::unique_ptr<CounterChild> NewChild() const override;
};

class GaugeChild {
 public:
  GaugeChild(const GaugeChild&) = delete;
  GaugeChild& operator=(const GaugeChild&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Sub(double v) { value_.fetch_sub(v, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Sub(1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  friend class Gauge;
  GaugeChild() = default;

  alignas(64) std::atomic<double> value_{0};
};

// A value that goes up and down (Prometheus TYPE gauge).
class Gauge final : public metrics_internal::LabeledFamily<GaugeChild> {
 public:
  using Child = GaugeChild;

 private:
  friend class MetricsRegistry;
  Gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names);
  std::string_view type() const override { return "gauge"; }
  void RenderSamples(std::string* out) const override;
  std::unique_ptr<GaugeChild> NewChild() const override;
};

class HistogramChild {
 public:
  HistogramChild(const HistogramChild&) = delete;
  HistogramChild& operator=(const HistogramChild&) = delete;

  // Counts v in the first bucket whose upper bound is >= v (le is inclusive), else in +Inf.
  // NaN is ignored.
  void Observe(double v);
  // Cumulative counts, one per bound and a last one for +Inf (== Count()).
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  friend class Histogram;
  explicit HistogramChild(std::span<const double> bounds);

  const std::span<const double> bounds_;  // owned by the Histogram, which outlives its children
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative); last is +Inf
  std::atomic<double> sum_{0};
};

// Observations counted into fixed buckets (Prometheus TYPE histogram): _bucket{le=...}, _sum, _count.
// _count is the +Inf bucket, so the two always agree in one scrape.
class Histogram final : public metrics_internal::LabeledFamily<HistogramChild> {
 public:
  using Child = HistogramChild;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class MetricsRegistry;
  Histogram(std::string_view name, std::string_view help, std::vector<std::string> label_names,
            std::vector<double> bounds);
  std::string_view type() const override { return "histogram"; }
  void RenderSamples(std::string* out) const override;
  std::unique_ptr<HistogramChild> NewChild() const override;

  const std::vector<double> bounds_;  // finite, strictly increasing; +Inf is implicit
};

// One sample of a callback gauge: label values (one per label name) and the value.
struct GaugeSample {
  std::vector<std::string> label_values;
  double value = 0;
};
// Computes a callback gauge's samples at render time. It runs without the registry's lock held but must not
// block for long (it delays the scrape). A sample with the wrong number of label values is skipped.
using GaugeCallback = std::function<std::vector<GaugeSample>()>;

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each aborts on an invalid or duplicate metric name, an invalid or repeated label name, or (histogram)
  // a label named "le" or buckets that are not finite and strictly increasing (a trailing +Inf is allowed
  // and dropped; an empty list leaves only +Inf). The returned family lives as long as the registry.
  Counter& AddCounter(std::string_view name, std::string_view help,
                      std::vector<std::string> label_names = {});
  Gauge& AddGauge(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
  Histogram& AddHistogram(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                          std::vector<double> buckets);
  void AddCallbackGauge(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                        GaugeCallback fn);

  // The whole exposition, families in registration order. Thread-safe.
  std::string Render() const;

 private:
  template <typename T>
  T& Register(std::unique_ptr<T> family);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_;  // guarded by mu_; never shrinks
};

// Exponential bucket bounds: start, start*factor, ... (count of them). Aborts unless start > 0, factor > 1.
std::vector<double> ExponentialBuckets(double start, double factor, size_t count);

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_METRICS_H_
