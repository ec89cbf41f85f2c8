// See metrics_registry.h. Escaping follows the exposition format: label
// values escape backslash, double quote and newline; HELP text backslash and
// newline.
#include "ops/metrics_registry.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>

namespace cybexp::ops {
namespace {

void append_escaped(std::string_view s, bool quote_too, std::string& out) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote_too)
      out += "\\\"";
    else
      out += c;
  }
}

void append_labels(const Labels& labels, const std::pair<std::string, std::string>* extra,
                   std::string& out) {
  if (labels.empty() && extra == nullptr) return;
  out += '{';
  bool first = true;
  auto one = [&](const std::pair<std::string, std::string>& l) {
    if (!first) out += ',';
    first = false;
    out += l.first;
    out += "=\"";
    append_escaped(l.second, true, out);
    out += '"';
  };
  for (const auto& l : labels) one(l);
  if (extra != nullptr) one(*extra);
  out += '}';
}

}  // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) return "NaN";  // cannot happen with 64 bytes
  return std::string(buf, end);
}

void MetricsRegistry::declare(std::string name, std::string help, MetricType type,
                              std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  for (const Family& f : families_) {
    assert(f.name != name && "metric declared twice");
    if (f.name == name) return;
  }
  Family f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  std::sort(bounds.begin(), bounds.end());
  f.histogram.counts.assign(bounds.size(), 0);
  f.histogram.bounds = std::move(bounds);
  families_.push_back(std::move(f));
}

void MetricsRegistry::declare_counter(std::string name, std::string help) {
  declare(std::move(name), std::move(help), MetricType::kCounter, {});
}

void MetricsRegistry::declare_gauge(std::string name, std::string help) {
  declare(std::move(name), std::move(help), MetricType::kGauge, {});
}

void MetricsRegistry::declare_histogram(std::string name, std::string help,
                                        std::vector<double> bounds) {
  declare(std::move(name), std::move(help), MetricType::kHistogram, std::move(bounds));
}

// Callers hold mu_.
MetricsRegistry::Family* MetricsRegistry::find(std::string_view name, MetricType a, MetricType b) {
  for (Family& f : families_) {
    if (f.name != name) continue;
    assert((f.type == a || f.type == b) && "metric used as another type");
    return f.type == a || f.type == b ? &f : nullptr;
  }
  assert(false && "metric not declared");
  return nullptr;
}

void MetricsRegistry::add(std::string_view name, double delta, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family* f = find(name, MetricType::kCounter, MetricType::kGauge);
  if (f == nullptr) return;
  assert((f->type == MetricType::kGauge || delta >= 0) && "counters only go up");
  f->series[labels] += delta;
}

void MetricsRegistry::set(std::string_view name, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family* f = find(name, MetricType::kGauge, MetricType::kGauge);
  if (f == nullptr) return;
  f->series[labels] = value;
}

void MetricsRegistry::observe(std::string_view name, double value) {
  std::lock_guard lock(mu_);
  Family* f = find(name, MetricType::kHistogram, MetricType::kHistogram);
  if (f == nullptr) return;
  Histogram& h = f->histogram;
  auto it = std::lower_bound(h.bounds.begin(), h.bounds.end(), value);  // le: value <= bound
  if (it != h.bounds.end()) ++h.counts[static_cast<std::size_t>(it - h.bounds.begin())];
  ++h.count;
  h.sum += value;
}

double MetricsRegistry::value(std::string_view name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  for (const Family& f : families_) {
    if (f.name != name) continue;
    if (f.type == MetricType::kHistogram) return static_cast<double>(f.histogram.count);
    auto it = f.series.find(labels);
    return it == f.series.end() ? 0 : it->second;
  }
  return 0;
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const Family& f : families_) {
    const std::string name = prefix_ + f.name;
    out += "# HELP " + name + " ";
    append_escaped(f.help, false, out);
    out += "\n# TYPE " + name + " ";
    out += f.type == MetricType::kCounter ? "counter"
           : f.type == MetricType::kGauge ? "gauge"
                                          : "histogram";
    out += '\n';
    if (f.type != MetricType::kHistogram) {
      for (const auto& [labels, v] : f.series) {
        out += name;
        append_labels(labels, nullptr, out);
        out += ' ' + format_metric_value(v) + '\n';
      }
      continue;
    }
    const Histogram& h = f.histogram;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= h.bounds.size(); ++i) {
      const bool inf = i == h.bounds.size();
      cumulative = inf ? h.count : cumulative + h.counts[i];
      const std::pair<std::string, std::string> le{"le",
                                                   inf ? "+Inf" : format_metric_value(h.bounds[i])};
      out += name + "_bucket";
      append_labels({}, &le, out);
      out += ' ' + std::to_string(cumulative) + '\n';
    }
    out += name + "_sum " + format_metric_value(h.sum) + '\n';
    out += name + "_count " + std::to_string(h.count) + '\n';
  }
  return out;
}

}  // namespace cybexp::ops
