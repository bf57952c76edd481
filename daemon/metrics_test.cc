#include "daemon/metrics.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::daemon {
namespace {

using ::testing::ElementsAre;

TEST(MetricsTest, ValidatesNames) {
  EXPECT_TRUE(IsValidMetricName("signet_requests_total"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_TRUE(IsValidMetricName(":ns:rule"));
  EXPECT_TRUE(IsValidMetricName("a1:b2_C3"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_FALSE(IsValidMetricName("caf\xC3\xA9"));

  EXPECT_TRUE(IsValidLabelName("method"));
  EXPECT_TRUE(IsValidLabelName("_a1"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName("__reserved"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("9a"));
  EXPECT_FALSE(IsValidLabelName("a-b"));
}

TEST(MetricsTest, RendersEmptyRegistryAsEmpty) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.Render(), "");
}

TEST(MetricsTest, RendersCounters) {
  MetricsRegistry registry;
  Counter& starts = registry.AddCounter("signet_starts_total", "Process starts.");
  Counter& requests =
      registry.AddCounter("signet_requests_total", "Calls by method and code.", {"method", "code"});
  starts.WithLabels({}).Inc();
  Counter::Child& sign_ok = requests.WithLabels({"Sign", "OK"});
  sign_ok.Inc();
  sign_ok.Inc(4);
  requests.WithLabels({"SignHash", "OK"}).Add(2.5);
  requests.WithLabels({"Sign", "NOT_FOUND"}).Add(1);
  EXPECT_EQ(sign_ok.Value(), 5);
  EXPECT_EQ(registry.Render(),
            "# HELP signet_starts_total Process starts.\n"
            "# TYPE signet_starts_total counter\n"
            "signet_starts_total 1\n"
            "# HELP signet_requests_total Calls by method and code.\n"
            "# TYPE signet_requests_total counter\n"
            "signet_requests_total{method=\"Sign\",code=\"NOT_FOUND\"} 1\n"
            "signet_requests_total{method=\"Sign\",code=\"OK\"} 5\n"
            "signet_requests_total{method=\"SignHash\",code=\"OK\"} 2.5\n");
}

TEST(MetricsTest, UnlabeledFamiliesRenderZeroBeforeFirstUse) {
  MetricsRegistry registry;
  registry.AddCounter("c_total", "c");
  registry.AddGauge("g", "g");
  registry.AddCounter("labeled_total", "l", {"a"});
  EXPECT_EQ(registry.Render(),
            "# HELP c_total c\n# TYPE c_total counter\nc_total 0\n"
            "# HELP g g\n# TYPE g gauge\ng 0\n"
            "# HELP labeled_total l\n# TYPE labeled_total counter\n");
}

TEST(MetricsTest, CounterIgnoresNegativeAndNonFiniteAmounts) {
  MetricsRegistry registry;
  Counter::Child& c = registry.AddCounter("c_total", "c").WithLabels({});
  c.Add(3);
  c.Add(-1);
  c.Add(std::nan(""));
  c.Add(std::numeric_limits<double>::infinity());
  c.Add(0.25);
  EXPECT_EQ(c.Value(), 3.25);
}

TEST(MetricsTest, RendersGauges) {
  MetricsRegistry registry;
  Gauge& depth = registry.AddGauge("signet_inflight", "In-flight items.", {"signer"});
  Gauge::Child& a = depth.WithLabels({"a"});
  a.Set(10);
  a.Add(2.5);
  a.Dec();
  a.Sub(0.5);
  a.Inc();
  depth.WithLabels({"b"}).Set(-3);
  EXPECT_EQ(a.Value(), 12);
  EXPECT_EQ(registry.Render(),
            "# HELP signet_inflight In-flight items.\n"
            "# TYPE signet_inflight gauge\n"
            "signet_inflight{signer=\"a\"} 12\n"
            "signet_inflight{signer=\"b\"} -3\n");
}

TEST(MetricsTest, FormatsValues) {
  MetricsRegistry registry;
  Gauge& g = registry.AddGauge("v", "values", {"k"});
  g.WithLabels({"a_int"}).Set(1000000);
  g.WithLabels({"b_frac"}).Set(0.1);
  g.WithLabels({"c_big"}).Set(1e20);
  g.WithLabels({"d_small"}).Set(1.5e-7);
  g.WithLabels({"e_neg"}).Set(-0.5);
  g.WithLabels({"f_pinf"}).Set(std::numeric_limits<double>::infinity());
  g.WithLabels({"g_ninf"}).Set(-std::numeric_limits<double>::infinity());
  g.WithLabels({"h_nan"}).Set(std::nan(""));
  g.WithLabels({"i_zero"}).Set(0);
  EXPECT_EQ(registry.Render(),
            "# HELP v values\n# TYPE v gauge\n"
            "v{k=\"a_int\"} 1000000\n"
            "v{k=\"b_frac\"} 0.1\n"
            "v{k=\"c_big\"} 1e+20\n"
            "v{k=\"d_small\"} 1.5e-07\n"
            "v{k=\"e_neg\"} -0.5\n"
            "v{k=\"f_pinf\"} +Inf\n"
            "v{k=\"g_ninf\"} -Inf\n"
            "v{k=\"h_nan\"} NaN\n"
            "v{k=\"i_zero\"} 0\n");
}

TEST(MetricsTest, RendersHistogramsCumulatively) {
  MetricsRegistry registry;
  Histogram& latency =
      registry.AddHistogram("signet_sign_seconds", "Sign latency.", {"signer"}, {0.5, 1, 2.5});
  Histogram::Child& h = latency.WithLabels({"rs"});
  h.Observe(0.25);
  h.Observe(0.5);  // le is inclusive
  h.Observe(0.75);
  h.Observe(4);
  h.Observe(std::nan(""));  // ignored
  EXPECT_THAT(h.CumulativeCounts(), ElementsAre(2, 3, 3, 4));
  EXPECT_EQ(h.Count(), 4u);
  EXPECT_EQ(h.Sum(), 5.5);
  EXPECT_EQ(registry.Render(),
            "# HELP signet_sign_seconds Sign latency.\n"
            "# TYPE signet_sign_seconds histogram\n"
            "signet_sign_seconds_bucket{signer=\"rs\",le=\"0.5\"} 2\n"
            "signet_sign_seconds_bucket{signer=\"rs\",le=\"1\"} 3\n"
            "signet_sign_seconds_bucket{signer=\"rs\",le=\"2.5\"} 3\n"
            "signet_sign_seconds_bucket{signer=\"rs\",le=\"+Inf\"} 4\n"
            "signet_sign_seconds_sum{signer=\"rs\"} 5.5\n"
            "signet_sign_seconds_count{signer=\"rs\"} 4\n");
}

TEST(MetricsTest, RendersUnlabeledHistogramAndImplicitInf) {
  MetricsRegistry registry;
  Histogram& batch = registry.AddHistogram("signet_batch_size", "Items per HSM batch.", {},
                                           {1, 8, std::numeric_limits<double>::infinity()});
  EXPECT_THAT(batch.bounds(), ElementsAre(1, 8));
  Histogram& only_inf = registry.AddHistogram("signet_only_inf", "No bounds.", {}, {});
  batch.WithLabels({}).Observe(1);
  batch.WithLabels({}).Observe(100);
  only_inf.WithLabels({}).Observe(-7);
  EXPECT_EQ(registry.Render(),
            "# HELP signet_batch_size Items per HSM batch.\n"
            "# TYPE signet_batch_size histogram\n"
            "signet_batch_size_bucket{le=\"1\"} 1\n"
            "signet_batch_size_bucket{le=\"8\"} 1\n"
            "signet_batch_size_bucket{le=\"+Inf\"} 2\n"
            "signet_batch_size_sum 101\n"
            "signet_batch_size_count 2\n"
            "# HELP signet_only_inf No bounds.\n"
            "# TYPE signet_only_inf histogram\n"
            "signet_only_inf_bucket{le=\"+Inf\"} 1\n"
            "signet_only_inf_sum -7\n"
            "signet_only_inf_count 1\n");
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_THAT(ExponentialBuckets(0.001, 2, 4), ElementsAre(0.001, 0.002, 0.004, 0.008));
  EXPECT_TRUE(ExponentialBuckets(1, 2, 0).empty());
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("esc_total", "Help with \\ backslash,\nnewline and \"quotes\".", {"v"});
  c.WithLabels({"a\"b\\c\nd"}).Inc();
  c.WithLabels({"bad\xFFutf8"}).Inc();
  c.WithLabels({"caf\xC3\xA9"}).Inc();
  EXPECT_EQ(registry.Render(),
            "# HELP esc_total Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
            "# TYPE esc_total counter\n"
            "esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
            "esc_total{v=\"bad\xEF\xBF\xBDutf8\"} 1\n"
            "esc_total{v=\"caf\xC3\xA9\"} 1\n");
}

TEST(MetricsTest, RendersCallbackGaugesAtRenderTime) {
  MetricsRegistry registry;
  double depth = 3;
  registry.AddCallbackGauge("signet_queue_depth", "Items waiting.", {"signer"}, [&depth] {
    return std::vector<GaugeSample>{{{"b\"x"}, depth}, {{"a"}, 1}, {{"too", "many"}, 9}};
  });
  registry.AddCallbackGauge("signet_up", "Always 1.", {}, [] { return std::vector<GaugeSample>{{{}, 1}}; });
  const std::string first = registry.Render();
  EXPECT_EQ(first,
            "# HELP signet_queue_depth Items waiting.\n"
            "# TYPE signet_queue_depth gauge\n"
            "signet_queue_depth{signer=\"b\\\"x\"} 3\n"
            "signet_queue_depth{signer=\"a\"} 1\n"
            "# HELP signet_up Always 1.\n"
            "# TYPE signet_up gauge\n"
            "signet_up 1\n");
  depth = 7;
  EXPECT_NE(registry.Render().find("signet_queue_depth{signer=\"b\\\"x\"} 7\n"), std::string::npos);
}

TEST(MetricsTest, CallbackMayUseTheRegistry) {
  MetricsRegistry registry;
  Counter& scrapes = registry.AddCounter("scrapes_total", "Renders.");
  registry.AddCallbackGauge("g", "g", {}, [&scrapes] {
    scrapes.WithLabels({}).Inc();  // no deadlock: callbacks run without the registry lock
    return std::vector<GaugeSample>{{{}, 2}};
  });
  registry.Render();
  EXPECT_EQ(scrapes.WithLabels({}).Value(), 1);
}

TEST(MetricsTest, FamiliesInRegistrationOrder) {
  MetricsRegistry registry;
  registry.AddGauge("zzz", "z");
  registry.AddHistogram("aaa", "a", {}, {1});
  registry.AddCallbackGauge("mmm", "m", {}, [] { return std::vector<GaugeSample>{}; });
  registry.AddCounter("bbb_total", "b");
  const std::string out = registry.Render();
  const size_t z = out.find("# HELP zzz"), a = out.find("# HELP aaa"), m = out.find("# HELP mmm"),
               b = out.find("# HELP bbb_total");
  ASSERT_NE(b, std::string::npos);
  EXPECT_LT(z, a);
  EXPECT_LT(a, m);
  EXPECT_LT(m, b);
}

TEST(MetricsTest, WithLabelsReturnsAStableChild) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("c_total", "c", {"a", "b"});
  Counter::Child* first = &c.WithLabels({"x", "y"});
  for (int i = 0; i < 1000; ++i) c.WithLabels({std::to_string(i), "y"}).Inc();
  EXPECT_EQ(&c.WithLabels({"x", "y"}), first);
  const std::vector<std::string> as_strings = {"x", "y"};
  EXPECT_EQ(&c.WithLabels(as_strings), first);
  const std::vector<std::string_view> as_views = {"x", "y"};
  EXPECT_EQ(&c.WithLabels(as_views), first);
  EXPECT_NE(&c.WithLabels({"y", "x"}), first);
}

TEST(MetricsTest, ConcurrentIncFromEightThreadsSumsExactly) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("c_total", "c", {"k"});
  Gauge& g = registry.AddGauge("g", "g");
  Histogram& h = registry.AddHistogram("h", "h", {}, {10, 100});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      Counter::Child& shared = c.WithLabels({"shared"});  // all threads race to create the same child
      Counter::Child& frac = c.WithLabels({"frac"});
      Gauge::Child& gauge = g.WithLabels({});
      Histogram::Child& hist = h.WithLabels({});
      for (int i = 0; i < kPerThread; ++i) {
        shared.Inc();
        frac.Add(0.5);
        gauge.Add(1);
        hist.Observe(i % 200);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.WithLabels({"shared"}).Value(), kThreads * kPerThread);
  EXPECT_EQ(c.WithLabels({"frac"}).Value(), kThreads * kPerThread * 0.5);
  EXPECT_EQ(g.WithLabels({}).Value(), kThreads * kPerThread);
  // Per thread, i % 200 puts 11 values of each 200 in le=10, 101 in le=100.
  EXPECT_THAT(h.WithLabels({}).CumulativeCounts(),
              ElementsAre(kThreads * kPerThread / 200 * 11, kThreads * kPerThread / 200 * 101,
                          kThreads * kPerThread));
  EXPECT_NE(registry.Render().find("c_total{k=\"shared\"} 800000\n"), std::string::npos);
}

TEST(MetricsTest, RenderWhileUpdatingIsSafe) {
  MetricsRegistry registry;
  Histogram& h = registry.AddHistogram("h", "h", {"k"}, {1, 2});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) h.WithLabels({std::to_string(i % 50)}).Observe(i % 3);
  });
  for (int i = 0; i < 200; ++i) {
    const std::string out = registry.Render();
    EXPECT_EQ(out.rfind("# HELP h h\n# TYPE h histogram\n", 0), 0u);
  }
  stop = true;
  writer.join();
}

// ---- Programmer errors abort with a message.

class MetricsDeathTest : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MetricsDeathTest, InvalidMetricNameAborts) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.AddCounter("1abc", "x"), "signet metrics: invalid metric name: \"1abc\"");
  EXPECT_DEATH(registry.AddGauge("a-b", "x"), "invalid metric name");
  EXPECT_DEATH(registry.AddHistogram("", "x", {}, {1}), "invalid metric name");
  EXPECT_DEATH(registry.AddCallbackGauge("a b", "x", {}, nullptr), "invalid metric name");
}

TEST_F(MetricsDeathTest, InvalidLabelNamesAbort) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.AddCounter("c_total", "x", {"__name"}), "invalid label name \"__name\"");
  EXPECT_DEATH(registry.AddCounter("c_total", "x", {"a-b"}), "invalid label name");
  EXPECT_DEATH(registry.AddCounter("c_total", "x", {"a", "a"}), "repeated label name \"a\"");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {"le"}, {1}), "label named \"le\"");
}

TEST_F(MetricsDeathTest, DuplicateNamesAbort) {
  MetricsRegistry registry;
  registry.AddCounter("dup_total", "x");
  registry.AddHistogram("lat", "x", {}, {1});
  registry.AddCounter("req_sum", "x");
  EXPECT_DEATH(registry.AddGauge("dup_total", "x"), "duplicate metric name: \"dup_total\"");
  EXPECT_DEATH(registry.AddCounter("lat_count", "x"), "duplicate metric name: \"lat_count\"");
  EXPECT_DEATH(registry.AddHistogram("req", "x", {}, {1}), "duplicate metric name: \"req_sum\"");
  registry.AddHistogram("dup", "x", {}, {1});  // dup, dup_bucket, dup_sum, dup_count: no clash with dup_total
}

TEST_F(MetricsDeathTest, BadBucketsAbort) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {1, 0.5}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {1, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {std::nan(""), 1}), "finite");
  EXPECT_DEATH(registry.AddHistogram("h", "x", {}, {-std::numeric_limits<double>::infinity(), 1}), "finite");
  EXPECT_DEATH(ExponentialBuckets(0, 2, 3), "ExponentialBuckets");
}

TEST_F(MetricsDeathTest, WrongNumberOfLabelValuesAborts) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("c_total", "x", {"a", "b"});
  EXPECT_DEATH(c.WithLabels({"only-one"}), "WithLabels got 1 values for 2 label names of: \"c_total\"");
  EXPECT_DEATH(c.WithLabels({}), "WithLabels got 0 values");
}

}  // namespace
}  // namespace signet::daemon
