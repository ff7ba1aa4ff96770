// Traefik v3 rules: a recursive-descent parser over the rule text, and the matchers.
//
// Grammar (Go's expression syntax, restricted to what Traefik accepts):
//   rule    := or
//   or      := and ('||' and)*          (parseChain)
//   and     := unary ('&&' unary)*
//   unary   := '!' unary | primary
//   primary := '(' or ')' | NAME '(' VALUE (',' VALUE)* ')'
//   VALUE   := `raw` | "Go string with escapes"
// `&&` and `||` chains become one node with many children, so that evaluation recurses only
// as deep as the parentheses and `!`s nest, which is bounded.
#include "config/rule.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "config/ingress_internal.h"

namespace config {

namespace {

constexpr int kMaxDepth = 64;  // nesting of '(' and '!': a rule is a line, not a program

struct MatcherSpec {
  Rule::Kind kind;
  std::string_view name;
  size_t min_args, max_args;
};

constexpr std::array<MatcherSpec, 11> kMatchers = {{
    {Rule::Kind::Host, "Host", 1, 1},
    {Rule::Kind::HostRegexp, "HostRegexp", 1, 1},
    {Rule::Kind::Path, "Path", 1, 1},
    {Rule::Kind::PathPrefix, "PathPrefix", 1, 1},
    {Rule::Kind::PathRegexp, "PathRegexp", 1, 1},
    {Rule::Kind::Method, "Method", 1, 1},
    {Rule::Kind::Header, "Header", 2, 2},
    {Rule::Kind::HeaderRegexp, "HeaderRegexp", 2, 2},
    {Rule::Kind::Query, "Query", 1, 2},
    {Rule::Kind::QueryRegexp, "QueryRegexp", 1, 2},
    {Rule::Kind::ClientIP, "ClientIP", 1, 1},
}};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string upperAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}

// Traefik registers each matcher under its own name, all lowercase, all uppercase and with
// only its first letter uppercase ("Host", "host", "HOST"; "PathPrefix", "Pathprefix").
const MatcherSpec* findMatcher(std::string_view name) {
  for (const MatcherSpec& m : kMatchers) {
    std::string title = lowerAscii(m.name);
    title[0] = upper(title[0]);
    if (name == m.name || name == lowerAscii(m.name) || name == upperAscii(m.name) || name == title)
      return &m;
  }
  return nullptr;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// "%2F" stays as written in Traefik's routing path: decoding it would change the meaning of
// the path. Only these exact spellings (uppercase hex) are kept, as Traefik keeps them.
bool reservedEscape(std::string_view three) {
  static constexpr std::array<std::string_view, 19> kReserved = {
      "%3A", "%2F", "%3F", "%23", "%5B", "%5D", "%40", "%21", "%24", "%26",
      "%27", "%28", "%29", "%2A", "%2B", "%2C", "%3B", "%3D", "%25"};
  return std::find(kReserved.begin(), kReserved.end(), three) != kReserved.end();
}

std::string routingPath(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty()) return "/";  // a URL with no path: every request line has at least "/"
  return percentDecode(path, reservedEscape);
}

// Go's url.QueryUnescape: '+' is a space; nullopt on a malformed escape.
std::optional<std::string> queryUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<IpAddress> unmapped(std::optional<IpAddress> a) {
  static constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a && a->family == AF_INET6 && std::equal(kMapped.begin(), kMapped.end(), a->bytes.begin())) {
    IpAddress v4;
    v4.family = AF_INET;
    std::copy(a->bytes.begin() + 12, a->bytes.end(), v4.bytes.begin());
    return v4;
  }
  return a;
}

bool inPrefix(const IpAddress& a, const IpAddress& net, int prefix) {
  if (a.family != net.family) return false;
  for (int i = 0; i < net.bits() / 8 && prefix > 0; ++i, prefix -= 8) {
    const int keep = std::min(prefix, 8);
    const auto mask = static_cast<uint8_t>(0xff00 >> keep);
    if ((a.bytes[i] & mask) != (net.bytes[i] & mask)) return false;
  }
  return true;
}

}  // namespace

std::string_view ruleKindName(Rule::Kind kind) {
  for (const MatcherSpec& m : kMatchers)
    if (m.kind == kind) return m.name;
  return "?";
}

// ---- The request as matchers see it ----

RuleRequest::RuleRequest(const RouteRequest& req)
    : req_(req), path_(routingPath(req.target)), client_(unmapped(parseIp(req.client_ip))) {
  host_ = lowerAscii(hostWithoutPort(req.host));
}

std::vector<std::string_view> RuleRequest::query(std::string_view key) const {
  if (!query_) {
    query_.emplace();
    std::string_view target = req_.target;
    size_t q = target.find('?');
    std::string_view rest = q == std::string_view::npos ? "" : target.substr(q + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view part = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? "" : rest.substr(amp + 1);
      // Go refuses ';' as a separator since 1.17: such a pair is dropped.
      if (part.empty() || part.find(';') != std::string_view::npos) continue;
      size_t eq = part.find('=');
      auto k = queryUnescape(part.substr(0, eq));
      auto v = queryUnescape(eq == std::string_view::npos ? "" : part.substr(eq + 1));
      if (k && v) query_->emplace_back(std::move(*k), std::move(*v));
    }
  }
  std::vector<std::string_view> out;
  for (const auto& [k, v] : *query_)
    if (k == key) out.push_back(v);
  return out;
}

// ---- The tree ----

struct Rule::Node {
  enum class Op { And, Or, Not, Match } op = Op::Match;
  std::vector<Node> children;  // And, Or: two or more; Not: one
  // Match:
  Kind kind = Kind::Host;
  std::vector<std::string> args;       // as decoded; Host lowercased, Method uppercased
  std::shared_ptr<const re2::RE2> re;  // the *Regexp matchers' compiled value
  IpAddress net;                       // ClientIP
  int prefix = 0;                      // ClientIP

  bool eval(const RuleRequest& r) const;
  bool match(const RuleRequest& r) const;
};

namespace {
void collectHosts(const Rule::Node& n, std::vector<std::string>* out);
}  // namespace

std::vector<std::string> Rule::hosts() const {
  std::vector<std::string> out;
  collectHosts(*root_, &out);
  return out;
}

bool Rule::Node::eval(const RuleRequest& r) const {
  switch (op) {
    case Op::And:
      return std::all_of(children.begin(), children.end(),
                         [&](const Node& n) { return n.eval(r); });
    case Op::Or:
      return std::any_of(children.begin(), children.end(),
                         [&](const Node& n) { return n.eval(r); });
    case Op::Not:
      return !children.front().eval(r);
    case Op::Match:
      return match(r);
  }
  return false;
}

namespace {
void collectHosts(const Rule::Node& n, std::vector<std::string>* out) {
  if (n.op == Rule::Node::Op::Match) {
    if (n.kind == Rule::Kind::Host)
      for (const auto& h : n.args)
        if (std::find(out->begin(), out->end(), h) == out->end()) out->push_back(h);
    return;
  }
  for (const auto& c : n.children) collectHosts(c, out);
}
}  // namespace

bool Rule::Node::match(const RuleRequest& r) const {
  auto anyHeader = [&](auto&& pred) {
    const std::string name = lowerAscii(args[0]);
    for (const auto& [n, v] : r.request().headers)
      if (n == name && pred(v)) return true;
    return false;
  };
  auto anyQuery = [&](auto&& pred) {
    std::vector<std::string_view> values = r.query(args[0]);
    return std::any_of(values.begin(), values.end(), pred);
  };
  switch (kind) {
    case Kind::Host: {
      const std::string& h = r.host();
      const std::string& want = args[0];
      if (h.empty()) return false;
      if (h == want) return true;
      // A trailing dot on either side names the same host.
      if (want.ends_with('.') && std::string_view(want).substr(0, want.size() - 1) == h)
        return true;
      return h.ends_with('.') && std::string_view(h).substr(0, h.size() - 1) == want;
    }
    case Kind::HostRegexp:
      return re2::RE2::PartialMatch(r.host(), *re);
    case Kind::Path:
      return r.path() == args[0];
    case Kind::PathPrefix:
      return r.path().starts_with(args[0]);
    case Kind::PathRegexp:
      return re2::RE2::PartialMatch(r.path(), *re);
    case Kind::Method:
      return r.request().method == args[0];
    case Kind::Header:
      return anyHeader([&](std::string_view v) { return v == args[1]; });
    case Kind::HeaderRegexp:
      return anyHeader([&](std::string_view v) { return re2::RE2::PartialMatch(v, *re); });
    case Kind::Query:
    case Kind::QueryRegexp:
      if (re == nullptr) {
        const std::string want = args.size() > 1 ? args[1] : "";
        return anyQuery([&](std::string_view v) { return v == want; });
      }
      return anyQuery([&](std::string_view v) { return re2::RE2::PartialMatch(v, *re); });
    case Kind::ClientIP:
      return r.clientIp() && inPrefix(*r.clientIp(), net, prefix);
  }
  return false;
}

Rule::Rule() = default;
Rule::~Rule() = default;
Rule::Rule(Rule&&) noexcept = default;

bool Rule::matches(const RuleRequest& req) const { return root_->eval(req); }

// ---- The parser ----

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  base::Result<Rule::Node> parseRule() {
    skipSpace();
    if (pos_ == text_.size())
      return fail(pos_, "the rule is empty; expected a matcher such as Host(`example.com`)");
    ASSIGN_OR_RETURN(Rule::Node n, parseChain(0, Rule::Node::Op::Or));
    skipSpace();
    if (pos_ != text_.size())
      return fail(pos_, "expected '&&', '||' or the end of the rule, got {}", describe(pos_));
    return n;
  }

 private:
  template <class... Args>
  base::Unexpected fail(size_t at, fmt::format_string<Args...> f, Args&&... args) const {
    return base::invalid("{}: {}", where(at), fmt::format(f, std::forward<Args>(args)...));
  }

  // "LINE:COLUMN" of byte `at`, both 1-based.
  std::string where(size_t at) const {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    return fmt::format("{}:{}", line, at - line_start + 1);
  }

  // What stands at `at`, for messages: "the end of the rule", "'&'", "'Host'".
  std::string describe(size_t at) const {
    if (at >= text_.size()) return "the end of the rule";
    if (isNameStart(text_[at])) {
      size_t end = at;
      while (end < text_.size() && isNameChar(text_[end])) ++end;
      return fmt::format("'{}'", text_.substr(at, std::min<size_t>(end - at, 40)));
    }
    unsigned char c = static_cast<unsigned char>(text_[at]);
    if (c < 0x20 || c >= 0x7f) return fmt::format("byte 0x{:02x}", c);
    return fmt::format("'{}'", text_[at]);
  }

  static bool isNameStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  static bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool peekOp(std::string_view op) {
    skipSpace();
    return text_.substr(pos_, op.size()) == op;
  }

  // `||` (op Or) joins `&&` chains (op And), which join unary operands: one operand alone, or
  // a node of op with each operand of the chain as a child.
  base::Result<Rule::Node> parseChain(int depth, Rule::Node::Op op) {
    const bool is_or = op == Rule::Node::Op::Or;
    const std::string_view token = is_or ? "||" : "&&";
    auto operand = [&] {
      return is_or ? parseChain(depth, Rule::Node::Op::And) : parseUnary(depth);
    };
    ASSIGN_OR_RETURN(Rule::Node first, operand());
    if (!peekOp(token)) return first;
    Rule::Node n;
    n.op = op;
    n.children.push_back(std::move(first));
    while (peekOp(token)) {
      pos_ += token.size();
      ASSIGN_OR_RETURN(Rule::Node next, operand());
      n.children.push_back(std::move(next));
    }
    return n;
  }

  base::Result<Rule::Node> parseUnary(int depth) {
    skipSpace();
    if (depth >= kMaxDepth)
      return fail(pos_, "the rule nests '(' and '!' deeper than {} levels", kMaxDepth);
    if (pos_ < text_.size() && text_[pos_] == '!') {
      ++pos_;
      ASSIGN_OR_RETURN(Rule::Node inner, parseUnary(depth + 1));
      Rule::Node n;
      n.op = Rule::Node::Op::Not;
      n.children.push_back(std::move(inner));
      return n;
    }
    return parsePrimary(depth);
  }

  base::Result<Rule::Node> parsePrimary(int depth) {
    skipSpace();
    const size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      ASSIGN_OR_RETURN(Rule::Node inner, parseChain(depth + 1, Rule::Node::Op::Or));
      skipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ')')
        return fail(pos_, "expected ')' to close the '(' at {}, got {}", where(start),
                    describe(pos_));
      ++pos_;
      return inner;
    }
    if (pos_ >= text_.size() || !isNameStart(text_[pos_])) {
      std::string got = describe(pos_);
      if (pos_ < text_.size() && (text_[pos_] == '&' || text_[pos_] == '|'))
        got += " (an operator needs a matcher on each side)";
      return fail(pos_, "expected a matcher such as Host(`example.com`), '!' or '(', got {}", got);
    }
    while (pos_ < text_.size() && isNameChar(text_[pos_])) ++pos_;
    const std::string_view name = text_.substr(start, pos_ - start);
    const MatcherSpec* spec = findMatcher(name);
    if (spec == nullptr) {
      std::vector<std::string_view> names;
      for (const MatcherSpec& m : kMatchers) names.push_back(m.name);
      std::string near = nearestKey(name, names);
      if (!near.empty()) return fail(start, "unknown matcher '{}'; did you mean '{}'?", name, near);
      return fail(start, "unknown matcher '{}' (matchers: {})", name, fmt::join(names, ", "));
    }
    skipSpace();
    if (pos_ >= text_.size() || text_[pos_] != '(')
      return fail(pos_, "expected '(' after {}, got {}", spec->name, describe(pos_));
    ++pos_;
    Rule::Node n;
    n.kind = spec->kind;
    std::vector<size_t> at;  // where each value starts, for messages
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == ')') {
      ++pos_;
    } else {
      for (;;) {
        skipSpace();
        at.push_back(pos_);
        ASSIGN_OR_RETURN(std::string v, parseValue(*spec, n.args.size() + 1));
        n.args.push_back(std::move(v));
        skipSpace();
        if (pos_ < text_.size() && text_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < text_.size() && text_[pos_] == ')') {
          ++pos_;
          break;
        }
        return fail(pos_, "expected ')' after the arguments of {}, got {}", spec->name,
                    describe(pos_));
      }
    }
    if (n.args.size() < spec->min_args || n.args.size() > spec->max_args) {
      std::string takes =
          spec->min_args == spec->max_args
              ? fmt::format("{} value{}", spec->min_args, spec->min_args == 1 ? "" : "s")
              : fmt::format("{} or {} values", spec->min_args, spec->max_args);
      return fail(start, "{} takes {}, got {}", spec->name, takes, n.args.size());
    }
    RETURN_IF_ERROR(prepare(n, at));
    return n;
  }

  // One value: `raw` (no escapes; carriage returns dropped, as Go does) or "interpreted".
  base::Result<std::string> parseValue(const MatcherSpec& spec, size_t number) {
    const size_t start = pos_;
    if (pos_ >= text_.size())
      return fail(pos_, "expected value {} of {} in backticks or double quotes, got {}", number,
                  spec.name, describe(pos_));
    const char open = text_[pos_];
    if (open == '\'')
      return fail(pos_,
                  "single quotes are not accepted (Traefik's values are Go strings): write "
                  "value {} of {} in backticks or double quotes",
                  number, spec.name);
    if (open != '`' && open != '"')
      return fail(pos_, "expected value {} of {} in backticks or double quotes, got {}", number,
                  spec.name, describe(pos_));
    ++pos_;
    std::string out;
    if (open == '`') {
      size_t close = text_.find('`', pos_);
      if (close == std::string_view::npos)
        return fail(start, "the value opened here has no closing backtick");
      for (char c : text_.substr(pos_, close - pos_))
        if (c != '\r') out += c;
      pos_ = close + 1;
      return out;
    }
    for (;;) {
      if (pos_ >= text_.size() || text_[pos_] == '\n')
        return fail(start, "the value opened here has no closing double quote");
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      RETURN_IF_ERROR(escape(out));
    }
  }

  // A Go escape sequence at pos_ (the backslash), appended decoded to `out`.
  base::Result<void> escape(std::string& out) {
    const size_t at = pos_;
    if (pos_ + 1 >= text_.size()) return fail(at, "a double-quoted value ends in a backslash");
    const char e = text_[pos_ + 1];
    pos_ += 2;
    // Go's single-character escapes.
    static constexpr std::string_view kEscapes = "abfnrtv\\\"";
    static constexpr std::string_view kMeanings = "\a\b\f\n\r\t\v\\\"";
    if (size_t k = kEscapes.find(e); k != std::string_view::npos) {
      out += kMeanings[k];
      return {};
    }
    auto digits = [&](size_t n, int base) -> std::optional<uint32_t> {
      if (pos_ + n > text_.size()) return std::nullopt;
      uint32_t v = 0;
      for (size_t i = 0; i < n; ++i) {
        int d = hexValue(text_[pos_ + i]);
        if (d < 0 || d >= base) return std::nullopt;
        v = v * static_cast<uint32_t>(base) + static_cast<uint32_t>(d);
      }
      pos_ += n;
      return v;
    };
    if (e >= '0' && e <= '7') {
      --pos_;  // the first octal digit is part of the number
      auto v = digits(3, 8);
      if (!v || *v > 255) return fail(at, "an octal escape needs 3 digits, at most \\377");
      out += static_cast<char>(*v);
      return {};
    }
    if (e == 'x') {
      auto v = digits(2, 16);
      if (!v) return fail(at, "\\x needs 2 hexadecimal digits");
      out += static_cast<char>(*v);
      return {};
    }
    if (e == 'u' || e == 'U') {
      auto v = digits(e == 'u' ? 4 : 8, 16);
      if (!v || *v > 0x10FFFF || (*v >= 0xD800 && *v <= 0xDFFF))
        return fail(at, "\\{} needs {} hexadecimal digits naming a Unicode character", e,
                    e == 'u' ? 4 : 8);
      appendUtf8(out, *v);
      return {};
    }
    return fail(at, "unknown escape sequence '\\{}' in a double-quoted value", e);
  }

  // Checks a matcher's values and readies them for matching, as Traefik does when it builds
  // the route.
  base::Result<void> prepare(Rule::Node& n, const std::vector<size_t>& at) {
    const std::string_view name = ruleKindName(n.kind);
    auto compile = [&](size_t i) -> base::Result<void> {
      re2::RE2::Options opts;
      opts.set_log_errors(false);
      auto re = std::make_shared<const re2::RE2>(n.args[i], opts);
      if (!re->ok())
        return fail(at[i], "{}: invalid regular expression '{}': {}", name, n.args[i], re->error());
      n.re = std::move(re);
      return {};
    };
    auto ascii = [&]() -> base::Result<void> {
      for (unsigned char c : n.args[0])
        if (c >= 0x80)
          return fail(at[0], "{}: '{}' has non-ASCII characters; write the name in punycode", name,
                      n.args[0]);
      return {};
    };
    switch (n.kind) {
      case Rule::Kind::Host:
        RETURN_IF_ERROR(ascii());
        n.args[0] = lowerAscii(n.args[0]);
        return {};
      case Rule::Kind::HostRegexp:
        RETURN_IF_ERROR(ascii());
        return compile(0);
      case Rule::Kind::Path:
      case Rule::Kind::PathPrefix:
        if (!n.args[0].starts_with('/'))
          return fail(at[0], "{}: '{}' does not start with '/'", name, n.args[0]);
        return {};
      case Rule::Kind::PathRegexp:
        return compile(0);
      case Rule::Kind::Method:
        n.args[0] = upperAscii(n.args[0]);
        return {};
      case Rule::Kind::Header:
      case Rule::Kind::Query:
        return {};
      case Rule::Kind::HeaderRegexp:
        return compile(1);
      case Rule::Kind::QueryRegexp:
        return n.args.size() == 2 ? compile(1) : base::Result<void>{};
      case Rule::Kind::ClientIP: {
        const std::string& v = n.args[0];
        const size_t slash = v.find('/');
        std::optional<IpAddress> ip = parseIp(std::string_view(v).substr(0, slash));
        std::optional<int> prefix;
        if (ip) {
          prefix = slash == std::string::npos
                       ? std::optional<int>(ip->bits())
                       : parseNumber(std::string_view(v).substr(slash + 1), ip->bits());
        }
        if (!ip || !prefix)
          return fail(at[0], "ClientIP: '{}' is not an IP address or a CIDR (10.0.0.0/8, fd00::/8)",
                      v);
        // ::ffff:a.b.c.d/N (N >= 96) is the IPv4 range a.b.c.d/(N-96).
        std::optional<IpAddress> v4 = unmapped(ip);
        if (v4->family != ip->family) {
          *prefix = std::max(*prefix - 96, 0);
        }
        n.net = *v4;
        n.prefix = *prefix;
        return {};
      }
    }
    return {};
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

base::Result<std::shared_ptr<const Rule>> Rule::parse(std::string_view text) {
  Parser p(text);
  ASSIGN_OR_RETURN(Node root, p.parseRule());
  auto rule = std::shared_ptr<Rule>(new Rule());
  rule->root_ = std::make_unique<Node>(std::move(root));
  return std::shared_ptr<const Rule>(std::move(rule));
}

}  // namespace config
