#include "tunnel/dns_update.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/base.h"

namespace tunnel {
namespace {

// What `tsig-keygen -a hmac-sha256 acme-key` prints.
constexpr char kKeyFile[] = R"(key "acme-key" {
	algorithm hmac-sha256;
	secret "q+ruTHxRsi/Qup/3i6FRRTwnXkqzm7r9T6IzZ1N3oAE=";
};
)";

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(DnsUpdate, ReadsTheKeyTsigKeygenPrints) {
  auto k = parseTsigKey(kKeyFile);
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(k->name, "acme-key");
  EXPECT_EQ(k->secret.size(), 32u);
  auto c = parseTsigKey("# made by hand\n/* a */ key \"Acme-Key.\" { secret \"" +
                        std::string("q+ruTHxRsi/Qup/3i6FRRTwnXkqzm7r9T6IzZ1N3oAE=") +
                        "\"; algorithm HMAC-SHA256; }; // end\n");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->name, "acme-key");
}

TEST(DnsUpdate, RefusesKeysItCannotUse) {
  auto err = [](std::string_view text) {
    auto k = parseTsigKey(text);
    EXPECT_FALSE(k) << text;
    return k ? std::string() : k.error().message();
  };
  EXPECT_NE(err("").find("no key"), std::string::npos);
  EXPECT_NE(
      err(R"(key "k" { algorithm hmac-md5; secret "q+ruTHxRsi/Qup/3i6FRRTwnXkqzm7r9T6IzZ1N3oAE="; };)")
          .find("hmac-md5 is not supported"),
      std::string::npos);
  EXPECT_NE(err(R"(key "k" { algorithm hmac-sha256; secret "not base64!"; };)").find("not base64"),
            std::string::npos);
  EXPECT_NE(err(R"(key "k" { algorithm hmac-sha256; };)").find("no secret"), std::string::npos);
  EXPECT_NE(err(R"(key "k" { algorithm hmac-sha256; secret "YQ=="; };)").find("shorter"),
            std::string::npos);
  EXPECT_NE(err("key \"k\" { algorithm hmac-sha256; secret \"x").find("unterminated"),
            std::string::npos);
  EXPECT_NE(err(R"(key "k" { algorithm hmac-sha256)").find("expected"), std::string::npos);
}

TEST(DnsUpdate, EncodesNames) {
  EXPECT_EQ(*encodeDnsName("a.bc"), bytes({1, 'a', 2, 'b', 'c', 0}));
  EXPECT_EQ(*encodeDnsName("a.bc."), bytes({1, 'a', 2, 'b', 'c', 0}));
  EXPECT_EQ(*encodeDnsName(""), bytes({0}));
  EXPECT_FALSE(encodeDnsName("a..b"));
  EXPECT_FALSE(encodeDnsName(std::string(64, 'a')));
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  EXPECT_FALSE(encodeDnsName(long_name));
}

TEST(DnsUpdate, TxtUpdateAddsOrDeletesOneRecordAndParsesBack) {
  auto add =
      makeTxtUpdate(0x1234, "zone.test", "_acme-challenge.zone.test", "VAL", TxtChange::Add, 60);
  ASSERT_TRUE(add);
  // Header: id, opcode UPDATE, ZOCOUNT 1, PRCOUNT 0, UPCOUNT 1, ADCOUNT 0.
  EXPECT_EQ(add->substr(0, 12), bytes({0x12, 0x34, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0}));
  auto del =
      makeTxtUpdate(1, "zone.test", "_acme-challenge.zone.test", "VAL", TxtChange::Delete, 60);
  ASSERT_TRUE(del);
  // The parser reads the zone as the question and the update as the authority section.
  auto pa = parseDnsReply(*add), pd = parseDnsReply(*del);
  ASSERT_TRUE(pa && pd);
  ASSERT_EQ(pa->authority.size(), 1u);
  EXPECT_EQ(pa->authority[0].name, "_acme-challenge.zone.test");
  EXPECT_EQ(pa->authority[0].type, kDnsTypeTxt);
  EXPECT_EQ(pa->authority[0].klass, kDnsClassIn);
  EXPECT_EQ(pa->authority[0].ttl, 60u);
  EXPECT_EQ(pa->authority[0].rdata, bytes({3, 'V', 'A', 'L'}));
  EXPECT_EQ(pd->authority[0].klass, kDnsClassNone);
  EXPECT_EQ(pd->authority[0].ttl, 0u);
  EXPECT_EQ(pd->authority[0].rdata, bytes({3, 'V', 'A', 'L'}));
  EXPECT_FALSE(makeTxtUpdate(1, "z", "n", "", TxtChange::Add, 60));
  EXPECT_FALSE(makeTxtUpdate(1, "z", "n", std::string(256, 'v'), TxtChange::Add, 60));
}

// The reply a server would send, signed as RFC 8945 section 4.3.1 says: written out here from
// the RFC rather than with the code under test.
std::string signedReply(const std::string& reply, const TsigKey& key, const std::string& req_mac,
                        uint64_t t, uint16_t error = 0, bool good_mac = true) {
  auto name = *encodeDnsName(key.name);
  auto alg = *encodeDnsName("hmac-sha256");
  std::string t48 =
      bytes({0, 0, static_cast<int>((t >> 24) & 0xff), static_cast<int>((t >> 16) & 0xff),
             static_cast<int>((t >> 8) & 0xff), static_cast<int>(t & 0xff)});
  std::string err = bytes({error >> 8, error & 0xff});
  std::string input = bytes({0, static_cast<int>(req_mac.size())}) + req_mac + reply + name +
                      bytes({0, 255, 0, 0, 0, 0}) + alg + t48 + bytes({1, 44}) + err +
                      bytes({0, 0});
  unsigned char md[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), md, &n);
  std::string mac(reinterpret_cast<char*>(md), n);
  if (!good_mac) mac[0] ^= 1;
  std::string rdata =
      alg + t48 + bytes({1, 44, 0, 32}) + mac + reply.substr(0, 2) + err + bytes({0, 0});
  std::string out = reply;
  out[11] = static_cast<char>(out[11] + 1);
  out += name + bytes({0, 250, 0, 255, 0, 0, 0, 0, 0, static_cast<int>(rdata.size())}) + rdata;
  return out;
}

TEST(DnsUpdate, SignsRequestsAndVerifiesSignedReplies) {
  auto key = parseTsigKey(kKeyFile);
  ASSERT_TRUE(key);
  auto m = makeTxtUpdate(7, "zone.test", "_acme-challenge.zone.test", "VAL", TxtChange::Add, 60);
  ASSERT_TRUE(m);
  std::string unsigned_msg = *m;
  auto mac = signTsig(*m, *key, 1700000000);
  ASSERT_TRUE(mac);
  EXPECT_EQ(mac->size(), 32u);
  auto parsed = parseDnsReply(*m);
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_TRUE(parsed->tsig);
  EXPECT_EQ(parsed->tsig->key_name, "acme-key");
  EXPECT_EQ(parsed->tsig->algorithm, "hmac-sha256");
  EXPECT_EQ(parsed->tsig->time_signed, 1700000000u);
  EXPECT_EQ(parsed->tsig->mac, *mac);
  EXPECT_EQ(parsed->tsig->offset, unsigned_msg.size());

  // A NOERROR reply to the update: header with QR, zone section echoed.
  std::string reply = unsigned_msg.substr(0, 12);
  reply[2] = static_cast<char>(0xa8);        // QR, UPDATE
  reply[8] = reply[9] = 0;                   // no update section in the reply
  reply += unsigned_msg.substr(12, 11 + 4);  // zone name (\x04zone\x04test\x00) + type, class
  std::string good = signedReply(reply, *key, *mac, 1700000001);
  auto r = parseDnsReply(good);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->response);
  EXPECT_EQ(r->opcode, kDnsOpcodeUpdate);
  EXPECT_TRUE(verifyTsigReply(good, *r, *key, *mac, 1700000001));
  // Another request's MAC, a wrong MAC, a stale time, another key, an error: all refused.
  EXPECT_FALSE(verifyTsigReply(good, *r, *key, std::string(32, 'x'), 1700000001));
  EXPECT_FALSE(verifyTsigReply(good, *r, *key, *mac, 1700001000));
  TsigKey other = *key;
  other.secret[0] ^= 1;
  EXPECT_FALSE(verifyTsigReply(good, *r, other, *mac, 1700000001));
  std::string bad = signedReply(reply, *key, *mac, 1700000001, 0, false);
  auto rb = parseDnsReply(bad);
  ASSERT_TRUE(rb);
  EXPECT_FALSE(verifyTsigReply(bad, *rb, *key, *mac, 1700000001));
  std::string badkey = signedReply(reply, *key, *mac, 1700000001, 17);
  auto rk = parseDnsReply(badkey);
  ASSERT_TRUE(rk);
  auto v = verifyTsigReply(badkey, *rk, *key, *mac, 1700000001);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message().find("BADKEY"), std::string::npos);
  auto plain = parseDnsReply(reply);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(verifyTsigReply(reply, *plain, *key, *mac, 1700000001));
}

TEST(DnsUpdate, FindsTheZoneInAnNxdomainReply) {
  // NXDOMAIN for _acme-challenge.zone.test, the zone's SOA in the authority section, its
  // owner compressed as a pointer to the question.
  std::string q = *makeSoaQuery(9, "_acme-challenge.zone.test");
  std::string r = q;
  r[2] = static_cast<char>(0x84);  // QR, AA
  r[3] = 3;                        // NXDOMAIN
  r[9] = 1;                        // NSCOUNT 1
  std::string soa_rdata =
      bytes({0xc0, 28, 0xc0, 28, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5});
  // "\x0f_acme-challenge" is 16 bytes at offset 12: "zone.test" starts at 28.
  r +=
      bytes({0xc0, 28, 0, 6, 0, 1, 0, 0, 0, 60, 0, static_cast<int>(soa_rdata.size())}) + soa_rdata;
  auto p = parseDnsReply(r);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->rcode, 3);
  EXPECT_EQ(dnsRcodeName(p->rcode), "NXDOMAIN");
  EXPECT_EQ(soaOwner(*p), "zone.test");
}

TEST(DnsUpdate, RefusesMalformedReplies) {
  std::string q = *makeSoaQuery(9, "a.test");
  EXPECT_FALSE(parseDnsReply(q.substr(0, 11)));
  EXPECT_FALSE(parseDnsReply(q.substr(0, q.size() - 1)));
  EXPECT_FALSE(parseDnsReply(q + "x"));
  // A name pointing at itself, or forwards.
  std::string loop = q.substr(0, 12) + bytes({0xc0, 12, 0, 6, 0, 1});
  EXPECT_FALSE(parseDnsReply(loop));
  std::string fwd = q.substr(0, 12) + bytes({0xc0, 14, 0, 6, 0, 1, 0});
  EXPECT_FALSE(parseDnsReply(fwd));
  // An answer counted but missing; a TSIG that is not the last record.
  std::string missing = q;
  missing[7] = 1;
  EXPECT_FALSE(parseDnsReply(missing));
  EXPECT_EQ(dnsRcodeName(17), "BADKEY");
  EXPECT_EQ(dnsRcodeName(99), "99");
}

}  // namespace
}  // namespace tunnel
