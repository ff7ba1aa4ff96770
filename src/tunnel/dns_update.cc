#include "tunnel/dns_update.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/base.h"

namespace tunnel {
namespace {

constexpr std::string_view kHmacSha256 = "hmac-sha256";
constexpr uint16_t kFudge = 300;
constexpr size_t kHeaderSize = 12;

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}
void put48(std::string& out, uint64_t v) {
  put16(out, static_cast<uint16_t>((v >> 32) & 0xffff));
  put32(out, static_cast<uint32_t>(v & 0xffffffff));
}
uint16_t get16(std::string_view s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) |
                               static_cast<uint8_t>(s[at + 1]));
}
uint32_t get32(std::string_view s, size_t at) {
  return (static_cast<uint32_t>(get16(s, at)) << 16) | get16(s, at + 2);
}

std::string header(uint16_t id, uint8_t opcode, uint16_t qd, uint16_t an, uint16_t ns,
                   uint16_t ar) {
  std::string h;
  put16(h, id);
  put16(h, static_cast<uint16_t>(opcode << 11));
  put16(h, qd);
  put16(h, an);
  put16(h, ns);
  put16(h, ar);
  return h;
}

// ---- the key file: a few BIND named.conf tokens ----

base::Result<std::vector<std::string>> confTokens(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '#' || text.substr(i, 2) == "//") {
      size_t nl = text.find('\n', i);
      i = nl == std::string_view::npos ? text.size() : nl + 1;
    } else if (text.substr(i, 2) == "/*") {
      size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) return base::invalid("unterminated /* comment");
      i = end + 2;
    } else if (c == '{' || c == '}' || c == ';') {
      out.emplace_back(1, c);
      ++i;
    } else if (c == '"') {
      size_t end = text.find('"', i + 1);
      if (end == std::string_view::npos) return base::invalid("unterminated quoted string");
      out.push_back("\"" + std::string(text.substr(i + 1, end - i - 1)));
      i = end + 1;
    } else {
      size_t j = i;
      while (j < text.size() &&
             std::string_view(" \t\r\n{};\"#").find(text[j]) == std::string_view::npos)
        ++j;
      out.emplace_back(text.substr(i, j - i));
      i = j;
    }
  }
  return out;
}

std::string unquote(const std::string& tok) { return tok.starts_with('"') ? tok.substr(1) : tok; }

// ---- reading replies ----

class Reader {
 public:
  explicit Reader(std::string_view wire) : w_(wire) {}
  size_t pos() const { return pos_; }
  bool has(size_t n) const { return w_.size() - pos_ >= n; }

  base::Result<uint16_t> u16() {
    if (!has(2)) return base::invalid("DNS reply truncated");
    uint16_t v = get16(w_, pos_);
    pos_ += 2;
    return v;
  }
  base::Result<uint32_t> u32() {
    if (!has(4)) return base::invalid("DNS reply truncated");
    uint32_t v = get32(w_, pos_);
    pos_ += 4;
    return v;
  }
  base::Result<std::string> bytes(size_t n) {
    if (!has(n)) return base::invalid("DNS reply truncated");
    std::string v(w_.substr(pos_, n));
    pos_ += n;
    return v;
  }
  // A possibly compressed name; pointers must go strictly backwards, so they cannot loop.
  base::Result<std::string> name() {
    std::string out;
    size_t at = pos_;
    size_t limit = pos_;  // a pointer must point before this
    bool jumped = false;
    size_t wire_len = 0;
    for (;;) {
      if (at >= w_.size()) return base::invalid("DNS reply truncated in a name");
      uint8_t len = static_cast<uint8_t>(w_[at]);
      if ((len & 0xc0) == 0xc0) {
        if (at + 1 >= w_.size()) return base::invalid("DNS reply truncated in a name");
        size_t target = ((len & 0x3f) << 8) | static_cast<uint8_t>(w_[at + 1]);
        if (target >= limit) return base::invalid("DNS reply has a forward name pointer");
        if (!jumped) pos_ = at + 2;
        jumped = true;
        limit = target;
        at = target;
        continue;
      }
      if (len & 0xc0) return base::invalid("DNS reply has an unknown label type");
      if (len == 0) {
        if (!jumped) pos_ = at + 1;
        return out;
      }
      if (at + 1 + len > w_.size()) return base::invalid("DNS reply truncated in a name");
      wire_len += len + 1;
      if (wire_len > 255) return base::invalid("DNS reply has a name longer than 255 bytes");
      if (!out.empty()) out += '.';
      out += base::toLower(w_.substr(at + 1, len));
      at += 1 + len;
    }
  }

 private:
  std::string_view w_;
  size_t pos_ = 0;
};

base::Result<std::string> hmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &n))
    return base::invalid("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(md), n);
}

// RFC 8945 section 4.3.3: the TSIG variables under the MAC.
base::Result<std::string> tsigVariables(std::string_view key_name, uint64_t time_signed,
                                        uint16_t fudge, uint16_t error, std::string_view other) {
  std::string v;
  ASSIGN_OR_RETURN(std::string kn, encodeDnsName(base::toLower(key_name)));
  ASSIGN_OR_RETURN(std::string alg, encodeDnsName(kHmacSha256));
  v += kn;
  put16(v, kDnsClassAny);
  put32(v, 0);
  v += alg;
  put48(v, time_signed);
  put16(v, fudge);
  put16(v, error);
  put16(v, static_cast<uint16_t>(other.size()));
  v += other;
  return v;
}

}  // namespace

base::Result<TsigKey> parseTsigKey(std::string_view text) {
  ASSIGN_OR_RETURN(std::vector<std::string> t, confTokens(text));
  size_t i = 0;
  while (i < t.size() && t[i] != "key") ++i;
  if (i == t.size()) return base::invalid("no key \"NAME\" {{ ... }}; clause (tsig-keygen's form)");
  if (i + 2 >= t.size() || t[i + 2] != "{")
    return base::invalid("expected key \"NAME\" {{ after 'key'");
  TsigKey k;
  k.name = base::toLower(unquote(t[i + 1]));
  while (k.name.ends_with('.')) k.name.pop_back();
  if (k.name.empty()) return base::invalid("the key has no name");
  RETURN_IF_ERROR(encodeDnsName(k.name));
  std::string algorithm, secret;
  for (i += 3; i < t.size() && t[i] != "}";) {
    if (i + 2 >= t.size() || t[i + 2] != ";")
      return base::invalid("expected '{} VALUE;' in key \"{}\"", t[i], k.name);
    if (t[i] == "algorithm") {
      algorithm = base::toLower(unquote(t[i + 1]));
    } else if (t[i] == "secret") {
      secret = unquote(t[i + 1]);
    } else {
      return base::invalid("unknown statement '{}' in key \"{}\"", t[i], k.name);
    }
    i += 3;
  }
  if (i == t.size()) return base::invalid("key \"{}\" has no closing }}", k.name);
  if (algorithm.empty()) return base::invalid("key \"{}\" names no algorithm", k.name);
  if (algorithm != kHmacSha256)
    return base::invalid("key \"{}\": algorithm {} is not supported (use hmac-sha256)", k.name,
                         algorithm);
  if (secret.empty()) return base::invalid("key \"{}\" has no secret", k.name);
  auto raw = base::base64Decode(secret);
  if (!raw || raw->empty()) return base::invalid("key \"{}\": the secret is not base64", k.name);
  if (raw->size() < 16)
    return base::invalid("key \"{}\": the secret is shorter than 16 bytes", k.name);
  k.secret = std::move(*raw);
  return k;
}

base::Result<std::string> encodeDnsName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string out;
  if (!name.empty()) {
    size_t start = 0;
    for (;;) {
      size_t dot = name.find('.', start);
      std::string_view label =
          name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
      if (label.empty() || label.size() > 63)
        return base::invalid("DNS name \"{}\" has a label that is empty or over 63 bytes", name);
      out.push_back(static_cast<char>(label.size()));
      out += label;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  out.push_back('\0');
  if (out.size() > 255) return base::invalid("DNS name \"{}\" is longer than 255 bytes", name);
  return out;
}

base::Result<std::string> makeSoaQuery(uint16_t id, std::string_view name) {
  ASSIGN_OR_RETURN(std::string n, encodeDnsName(name));
  std::string m = header(id, kDnsOpcodeQuery, 1, 0, 0, 0);
  m += n;
  put16(m, kDnsTypeSoa);
  put16(m, kDnsClassIn);
  return m;
}

base::Result<std::string> makeTxtUpdate(uint16_t id, std::string_view zone, std::string_view name,
                                        std::string_view value, TxtChange change, uint32_t ttl) {
  if (value.empty() || value.size() > 255)
    return base::invalid("TXT value must be 1 to 255 bytes, not {}", value.size());
  ASSIGN_OR_RETURN(std::string z, encodeDnsName(zone));
  ASSIGN_OR_RETURN(std::string n, encodeDnsName(name));
  // Zone section (ZOCOUNT 1), no prerequisites, one update.
  std::string m = header(id, kDnsOpcodeUpdate, 1, 0, 1, 0);
  m += z;
  put16(m, kDnsTypeSoa);
  put16(m, kDnsClassIn);
  m += n;
  put16(m, kDnsTypeTxt);
  put16(m, change == TxtChange::Add ? kDnsClassIn : kDnsClassNone);
  put32(m, change == TxtChange::Add ? ttl : 0);
  put16(m, static_cast<uint16_t>(value.size() + 1));
  m.push_back(static_cast<char>(value.size()));
  m += value;
  return m;
}

base::Result<std::string> signTsig(std::string& msg, const TsigKey& key, int64_t now) {
  if (msg.size() < kHeaderSize) return base::invalid("DNS message shorter than its header");
  const uint64_t t = static_cast<uint64_t>(now);
  ASSIGN_OR_RETURN(std::string vars, tsigVariables(key.name, t, kFudge, 0, ""));
  ASSIGN_OR_RETURN(std::string mac, hmacSha256(key.secret, msg + vars));
  ASSIGN_OR_RETURN(std::string kn, encodeDnsName(key.name));
  ASSIGN_OR_RETURN(std::string alg, encodeDnsName(kHmacSha256));
  std::string rdata = alg;
  put48(rdata, t);
  put16(rdata, kFudge);
  put16(rdata, static_cast<uint16_t>(mac.size()));
  rdata += mac;
  rdata += msg.substr(0, 2);  // original id
  put16(rdata, 0);            // error
  put16(rdata, 0);            // other len
  uint16_t arcount = get16(msg, 10);
  msg[10] = static_cast<char>((arcount + 1) >> 8);
  msg[11] = static_cast<char>((arcount + 1) & 0xff);
  msg += kn;
  put16(msg, kDnsTypeTsig);
  put16(msg, kDnsClassAny);
  put32(msg, 0);
  put16(msg, static_cast<uint16_t>(rdata.size()));
  msg += rdata;
  return mac;
}

base::Result<DnsReply> parseDnsReply(std::string_view wire) {
  if (wire.size() < kHeaderSize) return base::invalid("DNS reply shorter than its header");
  if (wire.size() > 65535) return base::invalid("DNS reply longer than 65535 bytes");
  DnsReply r;
  r.id = get16(wire, 0);
  uint16_t flags = get16(wire, 2);
  r.response = flags & 0x8000;
  r.opcode = static_cast<uint8_t>((flags >> 11) & 0xf);
  r.rcode = static_cast<uint8_t>(flags & 0xf);
  uint16_t counts[4] = {get16(wire, 4), get16(wire, 6), get16(wire, 8), get16(wire, 10)};
  Reader rd(wire);
  RETURN_IF_ERROR(rd.bytes(kHeaderSize));
  for (uint16_t i = 0; i < counts[0]; ++i) {  // question (zone, for UPDATE)
    RETURN_IF_ERROR(rd.name());
    RETURN_IF_ERROR(rd.u32());
  }
  std::vector<DnsRecord>* sections[3] = {&r.answers, &r.authority, &r.additional};
  for (int s = 0; s < 3; ++s) {
    for (uint16_t i = 0; i < counts[s + 1]; ++i) {
      size_t start = rd.pos();
      DnsRecord rec;
      ASSIGN_OR_RETURN(rec.name, rd.name());
      ASSIGN_OR_RETURN(rec.type, rd.u16());
      ASSIGN_OR_RETURN(rec.klass, rd.u16());
      ASSIGN_OR_RETURN(rec.ttl, rd.u32());
      ASSIGN_OR_RETURN(uint16_t len, rd.u16());
      size_t rdata_at = rd.pos();
      ASSIGN_OR_RETURN(rec.rdata, rd.bytes(len));
      if (rec.type != kDnsTypeTsig) {
        if (r.tsig) return base::invalid("DNS reply has records after its TSIG");
        sections[s]->push_back(std::move(rec));
        continue;
      }
      // RFC 8945 section 5.2: one TSIG, the last record of the additional section.
      if (s != 2 || i + 1 != counts[3]) return base::invalid("DNS reply has a misplaced TSIG");
      Reader t(wire.substr(0, rdata_at + len));
      RETURN_IF_ERROR(t.bytes(rdata_at));
      DnsTsig g;
      g.offset = start;
      g.key_name = rec.name;
      ASSIGN_OR_RETURN(g.algorithm, t.name());
      ASSIGN_OR_RETURN(uint16_t hi, t.u16());
      ASSIGN_OR_RETURN(uint32_t lo, t.u32());
      g.time_signed = (static_cast<uint64_t>(hi) << 32) | lo;
      ASSIGN_OR_RETURN(g.fudge, t.u16());
      ASSIGN_OR_RETURN(uint16_t mac_len, t.u16());
      ASSIGN_OR_RETURN(g.mac, t.bytes(mac_len));
      ASSIGN_OR_RETURN(g.original_id, t.u16());
      ASSIGN_OR_RETURN(g.error, t.u16());
      ASSIGN_OR_RETURN(uint16_t other_len, t.u16());
      ASSIGN_OR_RETURN(g.other, t.bytes(other_len));
      if (t.pos() != rdata_at + len) return base::invalid("DNS reply's TSIG has trailing bytes");
      r.tsig = std::move(g);
    }
  }
  if (rd.pos() != wire.size()) return base::invalid("DNS reply has trailing bytes");
  return r;
}

base::Result<void> verifyTsigReply(std::string_view wire, const DnsReply& reply, const TsigKey& key,
                                   std::string_view request_mac, int64_t now) {
  if (!reply.tsig) return base::invalid("the reply is not signed (no TSIG)");
  const DnsTsig& g = *reply.tsig;
  if (g.key_name != key.name)
    return base::invalid("the reply is signed with key \"{}\", not \"{}\"", g.key_name, key.name);
  if (g.error != 0) return base::invalid("the server refused the TSIG: {}", dnsRcodeName(g.error));
  if (g.algorithm != kHmacSha256)
    return base::invalid("the reply is signed with {}, not hmac-sha256", g.algorithm);
  if (g.offset < kHeaderSize || g.offset > wire.size())
    return base::invalid("the reply's TSIG is misplaced");
  // The reply as it was before the TSIG was added: ARCOUNT one less, the original id.
  std::string signed_part(wire.substr(0, g.offset));
  uint16_t arcount = get16(signed_part, 10);
  if (arcount == 0) return base::invalid("the reply's TSIG is not counted");
  signed_part[0] = static_cast<char>(g.original_id >> 8);
  signed_part[1] = static_cast<char>(g.original_id & 0xff);
  signed_part[10] = static_cast<char>((arcount - 1) >> 8);
  signed_part[11] = static_cast<char>((arcount - 1) & 0xff);
  std::string input;
  put16(input, static_cast<uint16_t>(request_mac.size()));
  input += request_mac;
  input += signed_part;
  ASSIGN_OR_RETURN(std::string vars,
                   tsigVariables(g.key_name, g.time_signed, g.fudge, g.error, g.other));
  input += vars;
  ASSIGN_OR_RETURN(std::string mac, hmacSha256(key.secret, input));
  if (g.mac.size() != mac.size() || CRYPTO_memcmp(g.mac.data(), mac.data(), mac.size()) != 0)
    return base::invalid("the reply's TSIG does not verify (BADSIG)");
  int64_t skew = now - static_cast<int64_t>(g.time_signed);
  if (skew > g.fudge || -skew > g.fudge)
    return base::invalid("the reply's TSIG time is {} s off (BADTIME)", skew);
  return {};
}

std::optional<std::string> soaOwner(const DnsReply& reply) {
  for (const auto* sec : {&reply.answers, &reply.authority})
    for (const auto& rec : *sec)
      if (rec.type == kDnsTypeSoa) return rec.name;
  return std::nullopt;
}

std::string dnsRcodeName(int rcode) {
  static constexpr const char* kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                           "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                           "NXRRSET", "NOTAUTH", "NOTZONE"};
  if (rcode >= 0 && rcode < static_cast<int>(std::size(kNames))) return kNames[rcode];
  switch (rcode) {
    case 16:
      return "BADSIG";
    case 17:
      return "BADKEY";
    case 18:
      return "BADTIME";
    case 22:
      return "BADTRUNC";
  }
  return std::to_string(rcode);
}

}  // namespace tunnel
