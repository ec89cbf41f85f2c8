#include "ops/metrics_registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace cybexp::ops {
namespace {

TEST(MetricsRegistry, RendersTheExpositionFormatExactly) {
  MetricsRegistry r("app_");
  r.declare_counter("things_total", "Things done.");
  r.declare_gauge("queue", "Items waiting.");
  r.declare_counter("errors_total", "Errors, by kind.");
  r.add("things_total", 3);
  r.add("things_total", 2);
  r.set("queue", 7);
  r.set("queue", 4.5);
  r.add("errors_total", 1, {{"kind", "io"}});
  r.add("errors_total", 2, {{"kind", "database"}});
  EXPECT_EQ(r.render(),
            "# HELP app_things_total Things done.\n"
            "# TYPE app_things_total counter\n"
            "app_things_total 5\n"
            "# HELP app_queue Items waiting.\n"
            "# TYPE app_queue gauge\n"
            "app_queue 4.5\n"
            "# HELP app_errors_total Errors, by kind.\n"
            "# TYPE app_errors_total counter\n"
            "app_errors_total{kind=\"database\"} 2\n"
            "app_errors_total{kind=\"io\"} 1\n");
  EXPECT_EQ(r.value("things_total"), 5);
  EXPECT_EQ(r.value("errors_total", {{"kind", "io"}}), 1);
  EXPECT_EQ(r.value("errors_total", {{"kind", "crypto"}}), 0);
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry r("x_");
  r.declare_histogram("latency_seconds", "Latency.", {1, 0.25, 0.5});  // sorted on declaration
  for (double v : {0.0625, 0.25, 0.375, 2.0}) r.observe("latency_seconds", v);
  EXPECT_EQ(r.render(),
            "# HELP x_latency_seconds Latency.\n"
            "# TYPE x_latency_seconds histogram\n"
            "x_latency_seconds_bucket{le=\"0.25\"} 2\n"
            "x_latency_seconds_bucket{le=\"0.5\"} 3\n"
            "x_latency_seconds_bucket{le=\"1\"} 3\n"
            "x_latency_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_latency_seconds_sum 2.6875\n"
            "x_latency_seconds_count 4\n");
  EXPECT_EQ(r.value("latency_seconds"), 4);
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  MetricsRegistry r("");
  r.declare_gauge("g", "back\\slash and\nnewline \"kept\"");
  r.set("g", 1, {{"v", "a\"b\\c\nd"}, {"w", ""}});
  EXPECT_EQ(r.render(),
            "# HELP g back\\\\slash and\\nnewline \"kept\"\n"
            "# TYPE g gauge\n"
            "g{v=\"a\\\"b\\\\c\\nd\",w=\"\"} 1\n");
}

TEST(MetricsRegistry, FamiliesWithoutSeriesRenderOnlyTheirHeader) {
  MetricsRegistry r("p_");
  r.declare_counter("c_total", "C.");
  EXPECT_EQ(r.render(), "# HELP p_c_total C.\n# TYPE p_c_total counter\n");
}

TEST(MetricsRegistry, ValuesPrintInShortestRoundTripForm) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(12), "12");
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(123456789012.0), "123456789012");
  EXPECT_EQ(format_metric_value(-2.5), "-2.5");
  EXPECT_EQ(format_metric_value(INFINITY), "+Inf");
  EXPECT_EQ(format_metric_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_metric_value(NAN), "NaN");
}

TEST(MetricsRegistry, ConcurrentUpdatesAndRendersLoseNothing) {
  MetricsRegistry r("t_");
  r.declare_counter("n_total", "N.");
  r.declare_histogram("h", "H.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        r.add("n_total", 1, {{"t", "x"}});
        r.observe("h", 0.5);
        if (i % 1000 == 0) (void)r.render();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.value("n_total", {{"t", "x"}}), 40000);
  EXPECT_EQ(r.value("h"), 40000);
  EXPECT_NE(r.render().find("t_h_bucket{le=\"1\"} 40000\n"), std::string::npos);
}

}  // namespace
}  // namespace cybexp::ops
