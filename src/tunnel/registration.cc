#include "tunnel/registration.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/base.h"
#include "tunnel/token.h"

namespace tunnel {
namespace {

using nlohmann::json;

std::string frame(const json& j) {
  // The replace handler keeps dump() from throwing on invalid UTF-8 in caller-supplied
  // strings; the peer's decoder then judges the content.
  std::string payload = j.dump(-1, ' ', false, json::error_handler_t::replace);
  const auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(kFrameHeader + payload.size());
  out += static_cast<char>((n >> 24) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out += payload;
  return out;
}

base::Result<json> parseObject(std::string_view payload, const char* what) {
  if (payload.empty()) return base::invalid("{}: empty payload", what);
  if (payload.size() > kMaxFrame)
    return base::invalid("{}: payload of {} bytes exceeds {}", what, payload.size(), kMaxFrame);
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return base::invalid("{}: payload is not valid JSON", what);
  if (!j.is_object()) return base::invalid("{}: payload is not a JSON object", what);
  return j;
}

// Unknown members are ignored (a newer peer may add some); known ones must be present and of
// the right type. Errors name the field but never quote its value.
base::Result<const json*> member(const json& j, const char* what, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return base::invalid("{}: missing field \"{}\"", what, key);
  return &*it;
}

base::Result<std::string> stringMember(const json& j, const char* what, const char* key) {
  ASSIGN_OR_RETURN(const json* v, member(j, what, key));
  if (!v->is_string()) return base::invalid("{}: field \"{}\" is not a string", what, key);
  return v->get<std::string>();
}

base::Result<uint32_t> u32Member(const json& j, const char* what, const char* key) {
  ASSIGN_OR_RETURN(const json* v, member(j, what, key));
  // nlohmann stores every non-negative integer literal as number_unsigned; negatives and
  // fractions land in other types and are refused here.
  if (!v->is_number_unsigned())
    return base::invalid("{}: field \"{}\" is not a non-negative integer", what, key);
  uint64_t n = v->get<uint64_t>();
  if (n > std::numeric_limits<uint32_t>::max())
    return base::invalid("{}: field \"{}\" is out of range", what, key);
  return static_cast<uint32_t>(n);
}

// Free text that ends up in logs: no control characters (no forged log lines).
bool isPrintable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, surrogates or
// code points above U+10FFFF), or 0 when the bytes there are not one.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
  return n;
}

// Makes any caller text acceptable to decodeReply(): invalid UTF-8 bytes become '?', control
// characters become ' ', and the result is cut to kMaxMessage bytes on a character boundary.
std::string sanitizeMessage(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size();) {
    size_t n = utf8SequenceLength(in, i);
    if (out.size() + std::max<size_t>(n, 1) > kMaxMessage) break;
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    if (n == 1) {
      auto u = static_cast<unsigned char>(in[i]);
      out += (u < 0x20 || u == 0x7f) ? ' ' : in[i];
    } else {
      out.append(in.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace

bool isPermanent(Verdict v) {
  switch (v) {
    case Verdict::Accepted:
    case Verdict::Busy:
      return false;
    case Verdict::UnknownTunnel:
    case Verdict::BadSecret:
    case Verdict::UnsupportedVersion:
    case Verdict::Malformed:
      return true;
  }
  return true;
}

std::string_view verdictName(Verdict v) {
  switch (v) {
    case Verdict::Accepted:
      return "accepted";
    case Verdict::UnknownTunnel:
      return "unknown_tunnel";
    case Verdict::BadSecret:
      return "bad_secret";
    case Verdict::UnsupportedVersion:
      return "unsupported_version";
    case Verdict::Malformed:
      return "malformed";
    case Verdict::Busy:
      return "busy";
  }
  return "malformed";
}

base::Result<Verdict> verdictFromName(std::string_view name) {
  for (Verdict v : {Verdict::Accepted, Verdict::UnknownTunnel, Verdict::BadSecret,
                    Verdict::UnsupportedVersion, Verdict::Malformed, Verdict::Busy}) {
    if (verdictName(v) == name) return v;
  }
  return base::invalid("unknown verdict");
}

std::string encodeRegistration(const Registration& r) {
  return frame(json{{"tunnel_id", r.tunnel_id},
                    {"secret", base::base64Encode(r.secret)},
                    {"conn_index", r.conn_index},
                    {"connector_id", r.connector_id},
                    {"version", r.version},
                    {"client_version", r.client_version}});
}

std::string encodeReply(const Reply& r) {
  return frame(json{{"verdict", verdictName(r.verdict)},
                    {"connection_id", r.connection_id},
                    {"message", sanitizeMessage(r.message)},
                    {"client_address", r.client_address}});
}

base::Result<size_t> frameLength(std::string_view header) {
  if (header.size() != kFrameHeader)
    return base::invalid("frame header must be {} bytes, got {}", kFrameHeader, header.size());
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(header[i])); };
  const uint32_t n = b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
  if (n == 0) return base::invalid("frame length is zero");
  if (n > kMaxFrame) return base::invalid("frame length {} exceeds {}", n, kMaxFrame);
  return static_cast<size_t>(n);
}

base::Result<Registration> decodeRegistration(std::string_view payload) {
  constexpr const char* kWhat = "registration";
  ASSIGN_OR_RETURN(json j, parseObject(payload, kWhat));
  Registration r;
  ASSIGN_OR_RETURN(r.tunnel_id, stringMember(j, kWhat, "tunnel_id"));
  if (!isUuid(r.tunnel_id)) return base::invalid("registration: tunnel_id is not a UUID");

  ASSIGN_OR_RETURN(std::string secret_b64, stringMember(j, kWhat, "secret"));
  auto secret = base::base64Decode(secret_b64);
  if (!secret) return base::invalid("registration: secret is not valid base64");
  if (secret->size() != kSecretSize)
    return base::invalid("registration: secret must be {} bytes, got {}", kSecretSize,
                         secret->size());
  r.secret = std::move(*secret);

  ASSIGN_OR_RETURN(r.conn_index, u32Member(j, kWhat, "conn_index"));
  ASSIGN_OR_RETURN(r.connector_id, stringMember(j, kWhat, "connector_id"));
  if (!isUuid(r.connector_id)) return base::invalid("registration: connector_id is not a UUID");
  ASSIGN_OR_RETURN(r.version, u32Member(j, kWhat, "version"));
  if (r.version == 0) return base::invalid("registration: version must be at least 1");
  // Optional: connectors from before it do not send it.
  if (j.contains("client_version")) {
    ASSIGN_OR_RETURN(r.client_version, stringMember(j, kWhat, "client_version"));
    if (r.client_version.size() > kMaxClientVersion || !isPrintable(r.client_version))
      return base::invalid("registration: client_version is not a short printable string");
  }
  return r;
}

base::Result<Reply> decodeReply(std::string_view payload) {
  constexpr const char* kWhat = "registration reply";
  ASSIGN_OR_RETURN(json j, parseObject(payload, kWhat));
  Reply r;
  ASSIGN_OR_RETURN(std::string verdict, stringMember(j, kWhat, "verdict"));
  auto v = verdictFromName(verdict);
  if (!v) return base::invalid("registration reply: unknown verdict in field \"verdict\"");
  r.verdict = *v;

  ASSIGN_OR_RETURN(r.connection_id, stringMember(j, kWhat, "connection_id"));
  if (r.connection_id.size() > kMaxConnectionId || !isPrintable(r.connection_id))
    return base::invalid("registration reply: connection_id is not a short printable string");
  if (r.verdict == Verdict::Accepted && r.connection_id.empty())
    return base::invalid("registration reply: connection_id is empty on an accepted reply");

  ASSIGN_OR_RETURN(r.message, stringMember(j, kWhat, "message"));
  if (r.message.size() > kMaxMessage || !isPrintable(r.message))
    return base::invalid(
        "registration reply: message is longer than {} bytes or has control "
        "characters",
        kMaxMessage);
  // Optional: edges from before it do not send it.
  if (auto it = j.find("client_address"); it != j.end()) {
    if (!it->is_boolean())
      return base::invalid("registration reply: field \"client_address\" is not a boolean");
    r.client_address = it->get<bool>();
  }
  return r;
}

}  // namespace tunnel
