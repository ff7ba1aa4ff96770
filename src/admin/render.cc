// The dashboard's HTML, rendered on the server from a snapshot: the page works without
// JavaScript, and the live page swaps in the same <main> that a reload would give. Every value
// of the snapshot goes through esc().
#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "admin/admin.h"
#include "admin/internal.h"
#include "base/base.h"

namespace admin {
namespace {

using json = nlohmann::json;

std::string esc(std::string_view s) { return base::htmlEscape(s); }

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

const json& list(const json& j, const char* key) {
  static const json kEmpty = json::array();
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

// "3 s", "4 min", "2 h", "5 d": how long ago.
std::string age(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return fmt::format("{} s", seconds);
  if (seconds < 7200) return fmt::format("{} min", seconds / 60);
  if (seconds < 172800) return fmt::format("{} h", seconds / 3600);
  return fmt::format("{} d", seconds / 86400);
}

// A small chart of per-minute counts, oldest first: requests (line) and errors (red line).
std::string sparkline(const json& requests, const json& errors) {
  constexpr int kW = 120, kH = 24;
  int64_t top = 1;
  for (const json* s : {&requests, &errors})
    for (const auto& v : *s)
      if (v.is_number()) top = std::max<int64_t>(top, v.get<int64_t>());
  auto points = [&](const json& s) {
    std::string p;
    size_t n = s.size();
    for (size_t i = 0; i < n; ++i) {
      double x = n > 1 ? static_cast<double>(i) * kW / static_cast<double>(n - 1) : 0;
      int64_t v = s[i].is_number() ? s[i].get<int64_t>() : 0;
      double y = kH - 1 - static_cast<double>(v) * (kH - 2) / static_cast<double>(top);
      p += fmt::format("{}{:.1f},{:.1f}", p.empty() ? "" : " ", x, y);
    }
    return p;
  };
  std::string out = fmt::format(
      "<svg class=\"spark\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"requests per minute, last hour (peak {})\">",
      kW, kH, kW, kH, top);
  if (requests.is_array() && !requests.empty())
    out += fmt::format(
        "<polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"1.5\" "
        "points=\"{}\"/>",
        points(requests));
  if (errors.is_array() && !errors.empty())
    out += fmt::format(
        "<polyline fill=\"none\" stroke=\"#c53030\" stroke-width=\"1.5\" "
        "points=\"{}\"/>",
        points(errors));
  return out + "</svg>";
}

std::string edgeMain(const json& s) {
  const int64_t now = num(s, "now");
  std::string out = "<main id=\"main\">";

  // Tunnels and their connectors, with traffic.
  const json& tunnels = list(s, "tunnels");
  out += fmt::format("<section id=\"tunnels\"><h2>Tunnels <small>{}</small></h2>", tunnels.size());
  if (tunnels.empty()) {
    out +=
        "<p class=\"empty\">No tunnels: <code>burrow edge tunnel create NAME</code> makes one.</p>";
  } else {
    out +=
        "<table><thead><tr><th>Tunnel</th><th>Connectors</th><th>Hostnames</th>"
        "<th class=\"n\">Requests/s</th><th class=\"n\">Errors, last hour</th>"
        "<th>Last hour</th></tr></thead><tbody>";
    for (const json& t : tunnels) {
      const json& conns = list(t, "connections");
      std::string c;
      if (conns.empty()) c = "<span class=\"down\">no connector</span>";
      for (const json& k : conns)
        c += fmt::format(
            "<div class=\"conn\"><span class=\"up\">●</span> {} <small>#{} · up {} · "
            "connector {}</small></div>",
            esc(str(k, "peer")), num(k, "index"), esc(age(now - num(k, "since"))),
            esc(str(k, "connector_id").substr(0, 8)));
      std::string hosts;
      for (const json& h : list(t, "hostnames"))
        hosts += fmt::format("<div>{}</div>", esc(h.is_string() ? h.get<std::string>() : ""));
      const json traffic = t.value("traffic", json::object());
      double rps = traffic.value("rps", 0.0);
      out += fmt::format(
          "<tr data-tunnel=\"{}\"><td><b>{}</b><br><small>{}</small></td><td>{}</td><td>{}</td>"
          "<td class=\"n\">{:.1f}</td><td class=\"n{}\">{}</td><td>{}</td></tr>",
          esc(str(t, "name")), esc(str(t, "name")), esc(str(t, "id")), c,
          hosts.empty() ? "<span class=\"dim\">none</span>" : hosts, std::isfinite(rps) ? rps : 0.0,
          num(traffic, "errors_hour") > 0 ? " bad" : "", num(traffic, "errors_hour"),
          sparkline(traffic.value("requests", json::array()),
                    traffic.value("errors", json::array())));
    }
    out += "</tbody></table>";
  }
  out += "</section>";

  // Routes.
  const json& routes = list(s, "routes");
  out += fmt::format("<section id=\"routes\"><h2>Routes <small>{}</small></h2>", routes.size());
  if (routes.empty()) {
    out += "<p class=\"empty\">No routes.</p>";
  } else {
    out += "<table><thead><tr><th>Hostname</th><th>Tunnel</th><th>Kind</th></tr></thead><tbody>";
    for (const json& r : routes)
      out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", esc(str(r, "hostname")),
                         esc(str(r, "tunnel")), esc(str(r, "kind")));
    out += "</tbody></table>";
  }
  out += "</section>";

  // Certificates.
  const json& certs = list(s, "certificates");
  out += fmt::format("<section id=\"certificates\"><h2>Certificates <small>{}</small></h2>",
                     certs.size());
  if (certs.empty()) {
    out += "<p class=\"empty\">None obtained by ACME (<code>--acme-email</code>).</p>";
  } else {
    out +=
        "<table><thead><tr><th>Hostname</th><th>Issuer</th><th>Expires</th><th>Last error</th>"
        "</tr></thead><tbody>";
    for (const json& c : certs) {
      int64_t exp = num(c, "not_after");
      bool soon = exp > 0 && exp - now < 14 * 86400;
      out += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td><td>{}</td></tr>",
                         esc(str(c, "hostname")), esc(str(c, "issuer")), soon ? "bad" : "",
                         exp > 0 ? esc(base::formatUtc(exp)) : "-",
                         exp > 0 ? fmt::format(" <small>(in {})</small>", esc(age(exp - now))) : "",
                         esc(str(c, "error").empty() ? "-" : str(c, "error")));
    }
    out += "</tbody></table>";
  }
  out += "</section>";

  // Recent errors, newest first.
  const json& errors = list(s, "recent_errors");
  out +=
      fmt::format("<section id=\"errors\"><h2>Recent errors <small>{}</small></h2>", errors.size());
  if (errors.empty()) {
    out += "<p class=\"empty\">No 5xx answers since the edge started.</p>";
  } else {
    out +=
        "<table><thead><tr><th>When</th><th>Tunnel</th><th class=\"n\">Status</th>"
        "<th>Request</th><th>Client</th></tr></thead><tbody>";
    for (const json& e : errors)
      out += fmt::format(
          "<tr><td>{} <small>({} ago)</small></td><td>{}</td><td class=\"n bad\">{}</td>"
          "<td>{} {}{}</td><td>{}</td></tr>",
          esc(base::formatUtc(num(e, "time"))), esc(age(now - num(e, "time"))),
          esc(str(e, "tunnel").empty() ? "-" : str(e, "tunnel")), num(e, "status"),
          esc(str(e, "method")), esc(str(e, "host")), esc(str(e, "target")), esc(str(e, "client")));
    out += "</tbody></table>";
  }
  out += "</section>";
  out += fmt::format("<p class=\"foot\">As of {}.</p></main>", esc(base::formatUtc(now)));
  return out;
}

json parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}

}  // namespace

std::string renderMain(Kind kind, const std::string& snapshot_json) {
  switch (kind) {
    case Kind::Edge:
      return edgeMain(parse(snapshot_json));
  }
  return "<main id=\"main\"></main>";
}

std::string renderPage(Kind kind, const std::string& snapshot_json) {
  const char* title = kind == Kind::Edge ? "burrow edge" : "burrow";
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>{}</title>"
      "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"
      "<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">"
      "<script src=\"/assets/dashboard.js\" defer></script></head>"
      "<body><header><h1>{}</h1><span id=\"live\">refreshes every 5 s</span></header>{}</body>"
      "</html>\n",
      title, title, renderMain(kind, snapshot_json));
}

std::string_view stylesheet() {
  return R"css(:root{color-scheme:light;--fg:#1a202c;--dim:#718096;--line:#e2e8f0;--bad:#c53030;--ok:#2f855a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#f7fafc}
header{display:flex;align-items:baseline;gap:1em;padding:.8em 1.5em;background:#1a202c;color:#fff}
header h1{font-size:1.2em;margin:0}
#live{color:#a0aec0;font-size:.9em}
main{padding:1em 1.5em;max-width:1200px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6em 1em;margin-bottom:1em}
h2{font-size:1.05em;margin:.2em 0 .5em}
h2 small{color:var(--dim);font-weight:normal}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35em .6em;border-top:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--dim);border-top:none}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
small,.dim{color:var(--dim)}
.up{color:var(--ok)}
.down,.bad{color:var(--bad)}
.empty{color:var(--dim);margin:.3em 0}
.foot{color:var(--dim);font-size:.85em}
code{background:#edf2f7;padding:0 .3em;border-radius:3px}
)css";
}

std::string_view script() {
  return R"js('use strict';
// Keeps the page live: the server sends the same <main> a reload would render.
(function () {
  if (!window.EventSource) return;
  var live = document.getElementById('live');
  var es = new EventSource('/api/events');
  es.addEventListener('page', function (e) {
    var main = document.getElementById('main');
    if (main) main.outerHTML = e.data;
    if (live) live.textContent = 'live · ' + new Date().toLocaleTimeString();
  });
  es.onerror = function () { if (live) live.textContent = 'reconnecting…'; };
})();
)js";
}

}  // namespace admin
