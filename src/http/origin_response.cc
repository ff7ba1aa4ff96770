// Origin responses: the HTTP/1.1 status line and fields, body framing (RFC 9112 section 6),
// and the chunked decoder. Strict where a lenient reading could let one response be read as
// two (conflicting lengths, both Transfer-Encoding and Content-Length, folded lines).
#include "http/origin_response.h"

#include "base/base.h"
#include "http/internal.h"

namespace http {

namespace {

constexpr size_t kMaxLine = 8 * 1024;        // one chunk-size or trailer line
constexpr size_t kMaxHead = 64 * 1024;       // the whole response head
constexpr uint64_t kMaxLength = 1ull << 62;  // larger Content-Length or chunk sizes: malformed

bool isTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// Splits the next line off `rest`; false when no line end is there yet. The line excludes
// its CRLF (a bare LF is accepted too, RFC 9112 section 2.2).
bool nextLine(std::string_view& rest, std::string_view* line, size_t* taken) {
  size_t lf = rest.find('\n');
  if (lf == std::string_view::npos) return false;
  *taken = lf + 1;
  *line = rest.substr(0, lf);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  rest.remove_prefix(lf + 1);
  return true;
}

bool validValue(std::string_view v) {
  for (unsigned char c : v)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  return true;
}

std::string_view trimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool equalsLower(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (static_cast<char>(name[i] | (name[i] >= 'A' && name[i] <= 'Z' ? 0x20 : 0)) != lower[i])
      return false;
  return true;
}

// A Content-Length value: digits, or a list of identical digit strings ("5, 5").
bool parseLength(std::string_view v, uint64_t* out) {
  bool any = false;
  uint64_t seen = 0;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = std::min(v.find(',', pos), v.size());
    auto item = trimOws(v.substr(pos, comma - pos));
    if (item.empty()) return false;
    uint64_t n = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<uint64_t>(c - '0');
      if (n > kMaxLength) return false;
    }
    if (any && n != seen) return false;
    seen = n;
    any = true;
    pos = comma + 1;
  }
  *out = seen;
  return any;
}

// The last coding of a Transfer-Encoding list, lowercase.
std::string lastCoding(std::string_view te) {
  size_t comma = te.rfind(',');
  return base::toLower(trimOws(comma == std::string_view::npos ? te : te.substr(comma + 1)));
}

}  // namespace

base::Result<size_t> parseOriginResponse(std::string_view bytes, bool head_request,
                                         OriginResponse* out) {
  // The head ends at the first empty line; until it is here, only check the size.
  std::string_view rest = bytes;
  std::string_view line;
  size_t taken = 0, used = 0, fields = 0;
  if (!nextLine(rest, &line, &taken)) {
    if (bytes.size() > kMaxHead) return base::invalid("response head larger than 64 KiB");
    return size_t{0};
  }
  used += taken;
  std::string_view status_line = line;
  std::string connection, te;
  bool has_length = false, has_te = false;
  uint64_t length = 0;
  for (;;) {
    if (!nextLine(rest, &line, &taken)) {
      if (bytes.size() > kMaxHead) return base::invalid("response head larger than 64 KiB");
      return size_t{0};
    }
    used += taken;
    if (used > kMaxHead) return base::invalid("response head larger than 64 KiB");
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t')
      return base::invalid("folded header line (obsolete line folding)");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return base::invalid("header line without a name: '{}'", line.substr(0, 64));
    auto name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!isTchar(c))
        return base::invalid("bad character in header name '{}'", name.substr(0, 64));
    auto value = trimOws(line.substr(colon + 1));
    if (!validValue(value))
      return base::invalid("control character in the value of header '{}'", name.substr(0, 64));
    ++fields;
    if (equalsLower(name, "connection")) {
      connection += value;
      connection += ',';
    } else if (equalsLower(name, "transfer-encoding")) {
      if (has_te) te += ',';
      te += value;
      has_te = true;
    } else if (equalsLower(name, "content-length")) {
      uint64_t n = 0;
      if (!parseLength(value, &n) || (has_length && n != length))
        return base::invalid("bad or conflicting Content-Length '{}'", value.substr(0, 64));
      length = n;
      has_length = true;
    }
  }

  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." ||
      (status_line[7] != '0' && status_line[7] != '1') || status_line[8] != ' ')
    return base::invalid("bad status line '{}'", status_line.substr(0, 64));
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    char c = status_line[i];
    if (c < '0' || c > '9') return base::invalid("bad status line '{}'", status_line.substr(0, 64));
    status = status * 10 + (c - '0');
  }
  if (status < 100 || (status_line.size() > 12 && status_line[12] != ' '))
    return base::invalid("bad status line '{}'", status_line.substr(0, 64));
  bool http10 = status_line[7] == '0';

  OriginResponse r;
  r.head.status = status;
  r.head.headers.reserve(fields);
  rest = bytes.substr(0, used);
  nextLine(rest, &line, &taken);  // the status line again
  while (nextLine(rest, &line, &taken) && !line.empty()) {
    size_t colon = line.find(':');
    auto lower = base::toLower(line.substr(0, colon));
    if (isHopByHop(lower) || lower == "content-length" || listedInConnection(connection, lower))
      continue;
    r.head.headers.push_back({std::move(lower), std::string(trimOws(line.substr(colon + 1)))});
  }

  bool close = listedInConnection(connection, "close");
  r.keep_alive = http10 ? !close && listedInConnection(connection, "keep-alive") : !close;
  if (has_te) {
    // Transfer-Encoding wins over Content-Length; a response with both is not trusted to
    // leave the connection in a known state (RFC 9112 section 6.3).
    if (has_length) r.keep_alive = false;
  } else if (has_length) {
    r.head.content_length = length;
  }
  if (head_request || status < 200 || status == 204 || status == 304) {
    r.framing = BodyFraming::None;
  } else if (has_te) {
    r.framing = lastCoding(te) == "chunked" ? BodyFraming::Chunked : BodyFraming::UntilClose;
  } else if (has_length) {
    r.framing = BodyFraming::Length;
    r.length = length;
  } else {
    r.framing = BodyFraming::UntilClose;
  }
  if (r.framing == BodyFraming::UntilClose) r.keep_alive = false;
  *out = std::move(r);
  return used;
}

base::Result<ChunkedDecoder::Step> ChunkedDecoder::step(std::string_view in) {
  Step s;
  std::string_view rest = in, line;
  size_t taken = 0;
  switch (state_) {
    case State::Size: {
      if (!nextLine(rest, &line, &taken)) {
        if (in.size() > kMaxLine) return base::invalid("chunk size line too long");
        return s;
      }
      uint64_t n = 0;
      size_t i = 0;
      for (; i < line.size(); ++i) {
        char c = line[i];
        int d = c >= '0' && c <= '9'                     ? c - '0'
                : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                         : -1;
        if (d < 0) break;
        n = n * 16 + static_cast<uint64_t>(d);
        if (n > kMaxLength) return base::invalid("chunk size too large");
      }
      auto ext = trimOws(line.substr(i));
      if (i == 0 || (!ext.empty() && ext.front() != ';') || !validValue(ext))
        return base::invalid("bad chunk size line '{}'", line.substr(0, 64));
      s.consumed = taken;
      left_ = n;
      state_ = n == 0 ? State::Trailer : State::Data;
      return s;
    }
    case State::Data: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size()));
      left_ -= n;
      if (left_ == 0) state_ = State::DataEnd;
      s.consumed = s.data_len = n;
      return s;
    }
    case State::DataEnd:
      if (in.empty() || (in[0] == '\r' && in.size() < 2)) return s;
      if (in[0] == '\n' || (in[0] == '\r' && in[1] == '\n')) {
        s.consumed = in[0] == '\n' ? 1 : 2;
        state_ = State::Size;
        return s;
      }
      return base::invalid("chunk data longer than its size");
    case State::Trailer:
      if (!nextLine(rest, &line, &taken)) {
        if (in.size() > kMaxLine) return base::invalid("trailer line too long");
        return s;
      }
      s.consumed = taken;
      if (line.empty()) state_ = State::Done;
      return s;
    case State::Done:
      return s;
  }
  return s;
}

}  // namespace http
