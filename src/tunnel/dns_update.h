// RFC 2136 dynamic updates signed with TSIG (RFC 8945, HMAC-SHA256), for ACME DNS-01: the
// key file BIND's tsig-keygen writes, the SOA query that finds a name's zone, the UPDATE that
// adds or deletes one TXT record, and the parser of the server's replies (untrusted bytes).
// No I/O (acme_dns.cc sends them); plain values, no shared state, safe on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace tunnel {

// A TSIG key. Only hmac-sha256 is taken: it is what tsig-keygen makes by default and what
// every server supports.
struct TsigKey {
  std::string name;    // lowercase, without a trailing dot
  std::string secret;  // the raw bytes (the file holds them in base64)
};
// The first `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };` clause of TEXT, as
// tsig-keygen prints it (#, // and /* */ comments allowed). Errors say what is wrong.
base::Result<TsigKey> parseTsigKey(std::string_view text);

// The uncompressed wire form of a DNS name ("example.com" or "example.com."): each label 1 to
// 63 bytes, 255 bytes in all.
base::Result<std::string> encodeDnsName(std::string_view name);

// DNS record types and classes used here (RFC 1035, 2136, 8945).
inline constexpr uint16_t kDnsTypeSoa = 6;
inline constexpr uint16_t kDnsTypeTxt = 16;
inline constexpr uint16_t kDnsTypeTsig = 250;
inline constexpr uint16_t kDnsClassIn = 1;
inline constexpr uint16_t kDnsClassNone = 254;
inline constexpr uint16_t kDnsClassAny = 255;
inline constexpr uint8_t kDnsOpcodeQuery = 0;
inline constexpr uint8_t kDnsOpcodeUpdate = 5;

// A query for NAME's SOA (no recursion wanted): the reply's SOA owner is NAME's zone.
base::Result<std::string> makeSoaQuery(uint16_t id, std::string_view name);

// An UPDATE of ZONE that adds the TXT record NAME VALUE (with TTL), or deletes just that one
// record (RFC 2136 section 2.5.4), leaving any other TXT of NAME alone. VALUE: 1-255 bytes.
enum class TxtChange {
  Add,     // 2.5.1: add to an RRset
  Delete,  // 2.5.4: delete an RR from an RRset
};
base::Result<std::string> makeTxtUpdate(uint16_t id, std::string_view zone, std::string_view name,
                                        std::string_view value, TxtChange change, uint32_t ttl);

// Signs MSG (a whole message without TSIG) in place: appends the TSIG record computed with KEY
// at unix time NOW (fudge 300 s) and counts it in ARCOUNT. Returns the MAC, which the reply's
// TSIG is computed over (verifyTsigReply).
base::Result<std::string> signTsig(std::string& msg, const TsigKey& key, int64_t now);

// One resource record of a reply; RDATA is kept as sent (not decompressed).
struct DnsRecord {
  std::string name;  // lowercase, dotted, no trailing dot ("" = the root)
  uint16_t type = 0, klass = 0;
  uint32_t ttl = 0;
  std::string rdata;
};
// The TSIG record of a reply (the last record of its additional section).
struct DnsTsig {
  std::string key_name, algorithm;  // as DnsRecord::name
  uint64_t time_signed = 0;
  uint16_t fudge = 0, original_id = 0, error = 0;
  std::string mac, other;
  size_t offset = 0;  // where the record starts in the reply: what precedes it is signed
};
struct DnsReply {
  uint16_t id = 0;
  bool response = false;  // QR
  uint8_t opcode = 0;
  uint8_t rcode = 0;                                      // the header's 4 bits
  std::vector<DnsRecord> answers, authority, additional;  // additional: without the TSIG
  std::optional<DnsTsig> tsig;
};
// A reply over UDP or TCP (without TCP's length prefix). Names may be compressed; pointers
// must point backwards. Truncated or inconsistent bytes are an error.
base::Result<DnsReply> parseDnsReply(std::string_view wire);

// Checks the reply's TSIG: signed by KEY, over REQUEST_MAC and the reply, within the fudge of
// NOW. A reply whose TSIG reports an error (BADKEY, BADSIG, BADTIME) says so.
base::Result<void> verifyTsigReply(std::string_view wire, const DnsReply& reply, const TsigKey& key,
                                   std::string_view request_mac, int64_t now);

// The owner of the first SOA in the reply's answer or authority section: the zone NAME is in.
std::optional<std::string> soaOwner(const DnsReply& reply);

// "NOERROR", "REFUSED", "NOTAUTH", ... (RFC 1035, 2136, 8945), or the number.
std::string dnsRcodeName(int rcode);

}  // namespace tunnel
