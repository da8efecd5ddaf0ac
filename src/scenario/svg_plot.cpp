// Line plots as inline SVG, drawn by hand: a report must open offline, with
// no script library, in any browser.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "starling/scenario/report.h"

namespace starling::scenario {
namespace {

constexpr double kWidth = 900, kHeight = 300;
constexpr double kLeft = 70, kRight = 160, kTop = 30, kBottom = 40;

constexpr int kMaxTicks = 64;  // per axis: nice_step asks for 5 to 8

const char* colour(std::size_t i) {
  static const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};
  return palette[i % (sizeof palette / sizeof palette[0])];
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // XML has no place for control characters (a NUL made the report
        // binary to grep); tab and newline stay.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += "?";
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string f(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

std::string tick_label(double v, bool log_y) {
  char buffer[32];
  if (log_y) {
    std::snprintf(buffer, sizeof buffer, "1e%d", static_cast<int>(std::lround(v)));
  } else if (std::abs(v) >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
  } else {
    std::snprintf(buffer, sizeof buffer, "%g", std::round(v * 1000.0) / 1000.0);
  }
  return buffer;
}

// A step of 1, 2 or 5 times a power of ten giving about `count` ticks.
double nice_step(double span, int count) {
  const double raw = span / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw) return m * power;
  }
  return 10.0 * power;
}

}  // namespace

std::string escape_html(const std::string& text) { return escape(text); }

std::string svg_plot(const PlotSpec& spec, const std::vector<Series>& series, const std::vector<Marker>& markers) {
  // Value range over every finite point (log: positive ones, as log10).
  double y_min = INFINITY, y_max = -INFINITY, x_max = spec.x_max;
  auto y_of = [&](double v) { return spec.log_y ? std::log10(v) : v; };
  auto usable = [&](double v) { return std::isfinite(v) && (!spec.log_y || v > 0.0); };
  for (const Series& s : series) {
    for (const auto& [t, v] : s.points) {
      if (!usable(v)) continue;
      y_min = std::min(y_min, y_of(v));
      y_max = std::max(y_max, y_of(v));
      x_max = std::max(x_max, t);
    }
  }
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + f(kWidth) + "\" height=\"" + f(kHeight) +
                    "\" viewBox=\"0 0 " + f(kWidth) + " " + f(kHeight) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  out += "<text x=\"" + f(kLeft) + "\" y=\"18\" font-size=\"14\" font-weight=\"bold\">" + escape(spec.title) + "</text>\n";
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  out += "<rect x=\"" + f(kLeft) + "\" y=\"" + f(kTop) + "\" width=\"" + f(plot_w) + "\" height=\"" + f(plot_h) +
         "\" fill=\"none\" stroke=\"#999\"/>\n";
  if (!std::isfinite(y_min)) {
    out += "<text x=\"" + f(kLeft + plot_w / 2 - 40) + "\" y=\"" + f(kTop + plot_h / 2) +
           "\" fill=\"#666\">no data</text>\n</svg>\n";
    return out;
  }
  if (spec.log_y) {
    y_min = std::floor(y_min);
    y_max = std::ceil(y_max);
  }
  if (y_max - y_min < 1e-12) {
    y_min -= spec.log_y ? 1.0 : std::max(std::abs(y_min) * 0.1, 0.05);
    y_max += spec.log_y ? 1.0 : std::max(std::abs(y_max) * 0.1, 0.05);
  }
  if (!(x_max > 0.0)) x_max = 1.0;
  auto px = [&](double t) { return kLeft + t / x_max * plot_w; };
  auto py = [&](double v) { return kTop + plot_h - (y_of(v) - y_min) / (y_max - y_min) * plot_h; };
  auto py_raw = [&](double y) { return kTop + plot_h - (y - y_min) / (y_max - y_min) * plot_h; };

  // Grid and ticks.
  const double y_step = spec.log_y ? 1.0 : nice_step(y_max - y_min, 5);
  // Ticks by count, with a tolerance relative to the step: a 1e-15 s run
  // stepped x by 1e-16 up to x_max + 1e-9, ~1e7 ticks and a string without end.
  const double y_first = std::ceil(y_min / y_step) * y_step;
  for (int i = 0; i <= kMaxTicks; ++i) {
    const double y = y_first + double(i) * y_step;
    if (y > y_max + y_step * 1e-6) break;
    out += "<line x1=\"" + f(kLeft) + "\" x2=\"" + f(kLeft + plot_w) + "\" y1=\"" + f(py_raw(y)) + "\" y2=\"" +
           f(py_raw(y)) + "\" stroke=\"#eee\"/>";
    out += "<text x=\"" + f(kLeft - 6) + "\" y=\"" + f(py_raw(y) + 4) + "\" text-anchor=\"end\">" +
           tick_label(y, spec.log_y) + "</text>\n";
  }
  const double x_step = nice_step(x_max, 8);
  for (int i = 0; i <= kMaxTicks; ++i) {
    const double x = double(i) * x_step;
    if (x > x_max + x_step * 1e-6) break;
    out += "<text x=\"" + f(px(x)) + "\" y=\"" + f(kTop + plot_h + 14) + "\" text-anchor=\"middle\">" +
           tick_label(x, false) + "</text>";
  }
  out += "<text x=\"" + f(kLeft + plot_w / 2) + "\" y=\"" + f(kHeight - 6) +
         "\" text-anchor=\"middle\">seconds</text>\n";
  out += "<text x=\"14\" y=\"" + f(kTop + plot_h / 2) + "\" transform=\"rotate(-90 14 " + f(kTop + plot_h / 2) +
         ")\" text-anchor=\"middle\">" + escape(spec.y_label) + "</text>\n";

  // Fault events: dashed vertical lines with their label.
  for (std::size_t i = 0; i < markers.size(); ++i) {
    const double x = px(std::clamp(markers[i].t, 0.0, x_max));
    out += "<line x1=\"" + f(x) + "\" x2=\"" + f(x) + "\" y1=\"" + f(kTop) + "\" y2=\"" + f(kTop + plot_h) +
           "\" stroke=\"#c00\" stroke-dasharray=\"4 3\" stroke-width=\"1\"><title>" + escape(markers[i].label) +
           "</title></line>";
    out += "<text x=\"" + f(x + 2) + "\" y=\"" + f(kTop + 10 + static_cast<double>(i % 4) * 11) +
           "\" fill=\"#c00\" font-size=\"9\">" + escape(markers[i].label) + "</text>\n";
  }

  // Lines, broken where a peer was down (a gap of more than 3 samples' time).
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    std::string path;
    double previous_t = -1e300, typical = 0.0;
    if (s.points.size() >= 2) typical = (s.points.back().first - s.points.front().first) / static_cast<double>(s.points.size() - 1);
    for (const auto& [t, v] : s.points) {
      if (!usable(v)) {
        previous_t = -1e300;
        continue;
      }
      const bool gap = t - previous_t > std::max(3.0 * typical, 2.5);
      path += (gap ? "M" : "L") + f(px(t)) + "," + f(py(v)) + " ";
      previous_t = t;
    }
    if (!path.empty()) {
      out += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + colour(i) + "\" stroke-width=\"1.6\"><title>" +
             escape(s.name) + "</title></path>\n";
    }
    const double ly = kTop + 8 + static_cast<double>(i) * 14;
    if (ly < kTop + plot_h) {
      out += "<rect x=\"" + f(kLeft + plot_w + 10) + "\" y=\"" + f(ly - 8) + "\" width=\"10\" height=\"10\" fill=\"" +
             colour(i) + "\"/><text x=\"" + f(kLeft + plot_w + 24) + "\" y=\"" + f(ly + 1) + "\">" + escape(s.name) +
             "</text>\n";
    }
  }
  out += "</svg>\n";
  return out;
}

}  // namespace starling::scenario
