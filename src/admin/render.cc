// The dashboard's HTML, rendered on the server from a snapshot: the page works without
// JavaScript, and the live page swaps in the same <main> that a reload would give. Every value
// of the snapshot goes through esc().
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

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
            "connector {} · <span class=\"ver\">{}</span></small></div>",
            esc(str(k, "peer")), num(k, "index"), esc(age(now - num(k, "since"))),
            esc(str(k, "connector_id").substr(0, 8)),
            esc(str(k, "version").empty() ? "version unknown" : str(k, "version")));
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

// "512 B", "1.5 KiB", "3.2 MiB", "1.1 GiB".
std::string bytes(int64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  double v = static_cast<double>(n) / 1024;
  for (const char* unit : {"KiB", "MiB", "GiB"}) {
    if (v < 1024 || std::string_view(unit) == "GiB") return fmt::format("{:.1f} {}", v, unit);
    v /= 1024;
  }
  return "";
}

// A state's class: up (running, up), warn (on its way), bad (failed, down, gone).
const char* stateClass(std::string_view state) {
  if (state == "running" || state == "up") return "up";
  if (state == "starting" || state == "restarting" || state.starts_with("up (") ||
      state == "degraded" || state == "stopped")
    return "warn";
  return "bad";
}

std::string clip(std::string text, size_t n) {
  if (text.size() > n) text = text.substr(0, n - 1) + "…";
  return text;
}

// The stack as a graph: edge → connector → routes → services → networks, one column each,
// drawn from the snapshot (no layout engine, no script).
std::string stackGraph(const json& s) {
  struct Node {
    std::string id, label, sub, cls;
  };
  std::vector<std::vector<Node>> cols(5);
  std::vector<std::pair<std::string, std::string>> links;
  const json& services = list(s, "services");
  const json& routes = list(s, "routes");
  const json conn = s.contains("connector") ? s["connector"] : json();
  if (conn.is_object()) {
    cols[0].push_back({"edge", "edge", "the tunnel", "edge"});
    cols[1].push_back(
        {"connector", "connector", str(conn, "state"), stateClass(str(conn, "state"))});
    links.push_back({"edge", "connector"});
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    const json& r = routes[i];
    std::string label = str(r, "hostname").empty() ? "*" : str(r, "hostname");
    if (!str(r, "path").empty()) label += " " + str(r, "path");
    if (!str(r, "rule").empty()) label = str(r, "rule");
    const std::string id = fmt::format("route{}", i);
    const size_t n = list(r, "middlewares").size();
    cols[2].push_back(
        {id, label, n ? fmt::format("{} middleware{}", n, n > 1 ? "s" : "") : "", "route"});
    if (conn.is_object()) links.push_back({"connector", id});
    if (!str(r, "service").empty()) links.push_back({id, "svc:" + str(r, "service")});
  }
  std::vector<std::string> networks;
  for (const json& v : services) {
    cols[3].push_back(
        {"svc:" + str(v, "name"), str(v, "name"), str(v, "state"), stateClass(str(v, "state"))});
    const std::string net = str(v, "network");
    if (std::find(networks.begin(), networks.end(), net) == networks.end()) networks.push_back(net);
    links.push_back({"svc:" + str(v, "name"), "net:" + net});
  }
  for (const auto& net : networks) {
    std::string sub = net == "host" ? "the host's network" : net == "none" ? "loopback only" : "";
    std::string cls = "net";
    if (net.starts_with("vpn:"))
      for (const json& ns : list(s, "namespaces"))
        if ("vpn:" + str(ns, "name") == net) {
          sub = str(ns, "state");
          cls = stateClass(sub);
        }
    if (net == "private") sub = "a namespace each";
    cols[4].push_back({"net:" + net, net, sub, cls});
  }
  // Columns with nothing in them (no connector, no routes) take no room.
  std::erase_if(cols, [](const std::vector<Node>& c) { return c.empty(); });
  constexpr int kColW = 190, kBoxW = 160, kBoxH = 34, kGap = 12, kPad = 8;
  size_t rows = 1;
  for (const auto& c : cols) rows = std::max(rows, c.size());
  const int height = kPad * 2 + static_cast<int>(rows) * (kBoxH + kGap) - kGap;
  const int width = kPad * 2 + static_cast<int>(cols.empty() ? 0 : cols.size() - 1) * kColW + kBoxW;
  std::map<std::string, std::pair<int, int>> at;  // id -> (x, y) of its box
  std::string boxes;
  for (size_t c = 0; c < cols.size(); ++c)
    for (size_t i = 0; i < cols[c].size(); ++i) {
      const Node& n = cols[c][i];
      const int x = kPad + static_cast<int>(c) * kColW;
      const int y = kPad + static_cast<int>(i) * (kBoxH + kGap);
      at[n.id] = {x, y};
      boxes += fmt::format(
          "<g class=\"node {}\" data-node=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" "
          "height=\"{}\" rx=\"4\"/><text x=\"{}\" y=\"{}\">{}</text>",
          n.cls, esc(n.id), x, y, kBoxW, kBoxH, x + 8, y + 14, esc(clip(n.label, 24)));
      if (!n.sub.empty())
        boxes += fmt::format("<text class=\"sub\" x=\"{}\" y=\"{}\">{}</text>", x + 8, y + 28,
                             esc(clip(n.sub, 26)));
      boxes += "</g>";
    }
  std::string lines;
  for (const auto& [from, to] : links) {
    auto a = at.find(from), b = at.find(to);
    if (a == at.end() || b == at.end()) continue;
    const int x1 = a->second.first + kBoxW, y1 = a->second.second + kBoxH / 2;
    const int x2 = b->second.first, y2 = b->second.second + kBoxH / 2;
    lines += fmt::format("<path d=\"M{} {} C{} {},{} {},{} {}\"/>", x1, y1, (x1 + x2) / 2, y1,
                         (x1 + x2) / 2, y2, x2, y2);
  }
  return fmt::format(
      "<svg class=\"graph\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"the stack: edge, connector, routes, services, networks\">"
      "<g class=\"links\">{}</g>{}</svg>",
      width, height, width, height, lines, boxes);
}

// A button that POSTs ACTION on TARGET to /api/actions with the page's CSRF token.
std::string actionForm(const Controls& c, std::string_view action, std::string_view target,
                       std::string_view label) {
  return fmt::format(
      "<form method=\"post\" action=\"/api/actions\" class=\"act\">"
      "<input type=\"hidden\" name=\"csrf\" value=\"{}\">"
      "<input type=\"hidden\" name=\"target\" value=\"{}\">"
      "<button name=\"action\" value=\"{}\">{}</button></form>",
      esc(c.csrf), esc(target), esc(action), esc(label));
}

std::string stackMain(const json& s, const Controls* controls) {
  const int64_t now = num(s, "now");
  std::string out = "<main id=\"main\">";
  const json& services = list(s, "services");
  if (!str(s, "error").empty())
    out += fmt::format("<p class=\"bad\">The stack's record cannot be read: {}</p>",
                       esc(str(s, "error")));
  if (auto r = s.find("running"); r == s.end() || !r->is_boolean() || !r->get<bool>()) {
    out += services.empty()
               ? "<p class=\"empty\">No stack is up: <code>burrow up</code> starts one.</p>"
               : fmt::format(
                     "<p class=\"bad\">No supervisor runs (it was pid {}): <code>burrow "
                     "down</code> removes what is left.</p>",
                     num(s, "supervisor"));
  }
  if (controls) {
    out += "<section id=\"actions\"><h2>Actions</h2>" +
           actionForm(*controls, "reload", "", "reload the stack") +
           " <small>applies the stack file again, as <code>burrow up</code> does</small>";
    if (!controls->done.empty()) {
      out += "<ul class=\"done\">";
      for (const std::string& d : controls->done) out += "<li>" + esc(d) + "</li>";
      out += "</ul>";
    }
    out += "</section>";
  }
  out += fmt::format("<section id=\"graph\"><h2>Graph <small>{}</small></h2>{}</section>",
                     esc(str(s, "file")), stackGraph(s));

  // Services, then the stack's own processes.
  out +=
      fmt::format("<section id=\"services\"><h2>Services <small>{}</small></h2>", services.size());
  out +=
      "<table><thead><tr><th>Name</th><th>State</th><th class=\"n\">PID</th><th>Address</th>"
      "<th>Network</th><th class=\"n\">Restarts</th><th>Up</th><th>Exposure</th>"
      "<th>Last exit</th>";
  out += controls ? "<th></th></tr></thead><tbody>" : "</tr></thead><tbody>";
  auto row = [&](const json& v, bool own) {
    const std::string state = str(v, "state");
    std::string exposure = "<span class=\"dim\">-</span>";
    if (auto it = v.find("exposure"); it != v.end() && it->is_number()) {
      exposure = fmt::format("<b>{:.1f}</b> {}", it->get<double>(), esc(str(v, "band")));
      for (const json& w : list(v, "worst"))
        exposure += fmt::format("<div class=\"finding\">{}</div>",
                                esc(w.is_string() ? w.get<std::string>() : ""));
    }
    const int64_t pid = num(v, "pid");
    const std::string name = str(v, "name");
    std::string act;
    if (controls && name == "connector" && own)
      act = "<td>" + actionForm(*controls, "drain", name, "drain") + "</td>";
    else if (controls && !own)
      act = "<td>" + actionForm(*controls, "restart", name, "restart") + "</td>";
    else if (controls)
      act = "<td></td>";
    out += fmt::format(
        "<tr data-service=\"{}\"{}><td><b>{}</b></td><td class=\"state {}\">{}</td>"
        "<td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td>{}</tr>",
        esc(str(v, "name")), own ? " class=\"own\"" : "", esc(str(v, "name")), stateClass(state),
        esc(state), pid ? std::to_string(pid) : "-",
        esc(str(v, "address").empty() ? "-" : str(v, "address")), esc(str(v, "network")),
        num(v, "restarts"), pid && num(v, "started") ? esc(age(now - num(v, "started"))) : "-",
        exposure, esc(str(v, "last_exit").empty() ? "-" : str(v, "last_exit")), act);
  };
  for (const json& v : services) row(v, false);
  for (const char* own : {"connector", "dashboard"})
    if (auto it = s.find(own); it != s.end() && it->is_object()) row(*it, true);
  out += "</tbody></table></section>";

  // Routes.
  const json& routes = list(s, "routes");
  out += fmt::format("<section id=\"routes\"><h2>Routes <small>{}</small></h2>", routes.size());
  if (routes.empty()) {
    out += "<p class=\"empty\">No routes: the stack file has no <code>routes:</code>.</p>";
  } else {
    out +=
        "<table><thead><tr><th>Match</th><th>Service</th><th>Target</th><th>Middlewares</th>"
        "</tr></thead><tbody>";
    for (const json& r : routes) {
      std::string match = str(r, "rule");
      if (match.empty())
        match = (str(r, "hostname").empty() ? "*" : str(r, "hostname")) +
                (str(r, "path").empty() ? "" : " path " + str(r, "path"));
      std::string mws;
      for (const json& m : list(r, "middlewares"))
        mws += fmt::format("<span class=\"tag\">{}</span> ",
                           esc(m.is_string() ? m.get<std::string>() : ""));
      out +=
          fmt::format("<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                      esc(match), esc(str(r, "service").empty() ? "-" : str(r, "service")),
                      esc(str(r, "target")), mws.empty() ? "<span class=\"dim\">none</span>" : mws);
    }
    out += "</tbody></table>";
  }
  out += "</section>";

  // VPN namespaces.
  const json& namespaces = list(s, "namespaces");
  if (!namespaces.empty()) {
    out += fmt::format("<section id=\"namespaces\"><h2>VPN namespaces <small>{}</small></h2>",
                       namespaces.size());
    out +=
        "<table><thead><tr><th>Name</th><th>State</th><th>Last handshake</th>"
        "<th class=\"n\">Received</th><th class=\"n\">Sent</th></tr></thead><tbody>";
    for (const json& n : namespaces) {
      const int64_t hs = num(n, "last_handshake");
      out += fmt::format(
          "<tr data-namespace=\"{}\"><td><b>{}</b></td><td class=\"{}\">{}</td><td>{}</td>"
          "<td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
          esc(str(n, "name")), esc(str(n, "name")), stateClass(str(n, "state")),
          esc(str(n, "state")), hs ? esc(age(now - hs)) + " ago" : "never",
          esc(bytes(num(n, "rx_bytes"))), esc(bytes(num(n, "tx_bytes"))));
    }
    out += "</tbody></table></section>";
  }

  // The services' last log lines.
  out += "<section id=\"logs\"><h2>Last log lines</h2>";
  for (const json& v : services) {
    std::string text;
    for (const json& l : list(v, "log"))
      text += esc(l.is_string() ? l.get<std::string>() : "") + "\n";
    out += fmt::format("<h3>{}</h3><pre data-log=\"{}\">{}</pre>", esc(str(v, "name")),
                       esc(str(v, "name")),
                       text.empty() ? "<span class=\"dim\">(nothing yet)</span>" : text);
  }
  out += "</section>";
  out += fmt::format("<p class=\"foot\">Supervisor pid {} · as of {}.</p></main>",
                     num(s, "supervisor"), esc(base::formatUtc(now)));
  return out;
}

json parse(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}

}  // namespace

std::string renderMain(Kind kind, const std::string& snapshot_json, const Controls* controls) {
  switch (kind) {
    case Kind::Edge:
      return edgeMain(parse(snapshot_json));
    case Kind::Stack:
      return stackMain(parse(snapshot_json), controls);
  }
  return "<main id=\"main\"></main>";
}

std::string renderPage(Kind kind, const std::string& snapshot_json, const Controls* controls) {
  const char* title = kind == Kind::Edge ? "burrow edge" : "burrow stack";
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>{}</title>"
      "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"
      "<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">"
      "<script src=\"/assets/dashboard.js\" defer></script></head>"
      "<body><header><h1>{}</h1><span id=\"live\">refreshes every 5 s</span></header>{}</body>"
      "</html>\n",
      title, title, renderMain(kind, snapshot_json, controls));
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
.warn{color:#b7791f}
tr.own td{background:#f7fafc}
.finding{color:var(--dim);font-size:.85em}
form.act{display:inline;margin:0}
form.act button{font:inherit;font-size:.85em;padding:.1em .6em;border:1px solid #a0aec0;border-radius:3px;background:#fff;cursor:pointer}
form.act button:hover{background:#edf2f7}
ul.done{margin:.5em 0 0;padding-left:1.2em;color:var(--dim);font-size:.9em}
.tag{background:#ebf4ff;color:#2c5282;padding:0 .4em;border-radius:3px;font-size:.9em}
h3{font-size:.95em;margin:.6em 0 .2em}
pre{background:#1a202c;color:#e2e8f0;padding:.5em .7em;border-radius:4px;overflow-x:auto;font-size:.85em;margin:0}
svg.graph{max-width:100%;height:auto}
.graph .links path{fill:none;stroke:#a0aec0;stroke-width:1.5}
.graph rect{fill:#fff;stroke:#a0aec0;stroke-width:1.5}
.graph text{font-size:12px;fill:var(--fg)}
.graph text.sub{font-size:10px;fill:var(--dim)}
.graph .up rect{stroke:var(--ok)}
.graph .warn rect{stroke:#d69e2e}
.graph .bad rect{stroke:var(--bad);fill:#fff5f5}
.graph .edge rect,.graph .route rect{fill:#ebf4ff}
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
