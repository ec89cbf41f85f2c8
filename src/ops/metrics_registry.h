// A small metrics registry (counters, gauges, histograms, optionally with
// labels) rendered in the Prometheus text exposition format, version 0.0.4:
//
//   # HELP <prefix><name> <help>
//   # TYPE <prefix><name> counter|gauge|histogram
//   <prefix><name>{label="value"} 12
//
// Families render in the order they were declared; a family's series in label
// order. Values print in their shortest round-trip form ("12", "0.25").
// Using a name that was not declared, or a method that does not fit the
// family's type, is a programming error: it asserts in debug builds and is
// ignored otherwise.
//
// Thread safety: every method may be called from any thread at any time; one
// mutex guards everything (updates come a few times a second; a scrape holds
// it for microseconds).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cybexp::ops {

// Label name -> value, e.g. {{"state", "bad_data"}}. Order is the render order.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class MetricsRegistry {
 public:
  explicit MetricsRegistry(std::string prefix) : prefix_(std::move(prefix)) {}

  // Declarations: name without the prefix; help is one line.
  void declare_counter(std::string name, std::string help);
  void declare_gauge(std::string name, std::string help);
  // bounds: the buckets' upper bounds, ascending; +Inf is implied.
  void declare_histogram(std::string name, std::string help, std::vector<double> bounds);

  // Counters (delta >= 0) and gauges.
  void add(std::string_view name, double delta, const Labels& labels = {});
  // Gauges only.
  void set(std::string_view name, double value, const Labels& labels = {});
  // Histograms only.
  void observe(std::string_view name, double value);

  // A series' current value (0 if it has none yet); for a histogram, its count.
  double value(std::string_view name, const Labels& labels = {}) const;

  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string name;
    std::string help;
    MetricType type = MetricType::kCounter;
    std::map<Labels, double> series;  // counters and gauges
    Histogram histogram;
  };

  Family* find(std::string_view name, MetricType a, MetricType b);
  void declare(std::string name, std::string help, MetricType type, std::vector<double> bounds);

  const std::string prefix_;
  mutable std::mutex mu_;
  std::vector<Family> families_;
};

// The shortest text that reads back as v ("12", "0.1", "+Inf", "NaN").
std::string format_metric_value(double v);

}  // namespace cybexp::ops
