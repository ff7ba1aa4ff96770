#include "tunnel/token.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/base.h"

namespace tunnel {
namespace {

using nlohmann::json;

const std::string kPin(64, 'a');

Token validToken() {
  Token t;
  t.tunnel_id = base::randomUuid();
  t.secret = base::randomBytes(kSecretSize);
  t.endpoint = "vps.example.net:7844";
  t.pin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  return t;
}

// Builds a token from a JSON object, to test fields that encodeToken() would never produce.
std::string tokenFromJson(const json& j) { return base::base64Encode(j.dump()); }

json validJson() {
  Token t = validToken();
  return {{"t", t.tunnel_id}, {"s", base::base64Encode(t.secret)}, {"e", t.endpoint}, {"p", t.pin}};
}

void expectRejected(const std::string& token, const std::string& needle) {
  auto r = decodeToken(token);
  ASSERT_FALSE(r) << "accepted: " << token;
  EXPECT_NE(r.error().message().find(needle), std::string::npos)
      << "message '" << r.error().message() << "' lacks '" << needle << "'";
}

TEST(Token, RoundTrips) {
  Token t = validToken();
  std::string text = encodeToken(t);
  auto d = decodeToken(text);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->tunnel_id, t.tunnel_id);
  EXPECT_EQ(d->secret, t.secret);
  EXPECT_EQ(d->endpoint, t.endpoint);
  EXPECT_EQ(d->pin, t.pin);
}

TEST(Token, IsStandardPaddedBase64OfCompactJson) {
  std::string text = encodeToken(validToken());
  EXPECT_EQ(text.size() % 4, 0u);
  EXPECT_EQ(
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
      std::string::npos);
  auto raw = base::base64Decode(text);
  ASSERT_TRUE(raw);
  json j = json::parse(*raw, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 4u);
  for (const char* k : {"t", "s", "e", "p"}) EXPECT_TRUE(j.contains(k)) << k;
}

TEST(Token, AcceptsSurroundingWhitespace) {
  Token t = validToken();
  auto d = decodeToken("  \n" + encodeToken(t) + "\r\n\t ");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->tunnel_id, t.tunnel_id);
}

TEST(Token, AcceptsIpv4AndBracketedIpv6Endpoints) {
  for (const char* e : {"203.0.113.7:7844", "[2001:db8::1]:443", "edge:1", "edge:65535"}) {
    Token t = validToken();
    t.endpoint = e;
    auto d = decodeToken(encodeToken(t));
    ASSERT_TRUE(d) << e << ": " << d.error().message();
    EXPECT_EQ(d->endpoint, e);
  }
}

TEST(Token, UppercasePinIsNormalised) {
  Token t = validToken();
  t.pin = std::string(64, 'A');
  auto d = decodeToken(encodeToken(t));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->pin, std::string(64, 'a'));
}

TEST(Token, RejectsEmptyGarbageAndNonObjects) {
  expectRejected("", "empty");
  expectRejected("   \n", "empty");
  expectRejected("not*base64", "base64");
  expectRejected(base::base64Encode(std::string_view("{not json")), "JSON object");
  expectRejected(base::base64Encode(std::string_view("[1,2]")), "JSON object");
  expectRejected(std::string(kMaxTokenSize + 4, 'A'), "too long");
}

TEST(Token, RejectsMissingOrMistypedFields) {
  for (const char* k : {"t", "s", "e", "p"}) {
    json j = validJson();
    j.erase(k);
    expectRejected(tokenFromJson(j), std::string("\"") + k + "\"");
    j = validJson();
    j[k] = 42;
    expectRejected(tokenFromJson(j), "not a string");
  }
}

TEST(Token, RejectsBadTunnelId) {
  for (const char* id :
       {"", "not-a-uuid", "0123456789abcdef0123456789abcdef0123",
        "0123456789AB-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdeg"}) {
    json j = validJson();
    j["t"] = id;
    expectRejected(tokenFromJson(j), "tunnel id");
  }
}

TEST(Token, RejectsWrongSecretSizeWithoutEchoingIt) {
  const std::string short_secret = "sixteen-byte-sec";
  json j = validJson();
  j["s"] = base::base64Encode(short_secret);
  auto r = decodeToken(tokenFromJson(j));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("secret"), std::string::npos);
  EXPECT_NE(r.error().message().find("32 bytes"), std::string::npos);
  EXPECT_EQ(r.error().message().find(short_secret), std::string::npos);
  EXPECT_EQ(r.error().message().find(base::base64Encode(short_secret)), std::string::npos);

  j["s"] = base::base64Encode(std::string(33, 'x'));
  expectRejected(tokenFromJson(j), "secret");
  j["s"] = "!!notbase64!!";
  expectRejected(tokenFromJson(j), "secret");
}

TEST(Token, RejectsBadEndpoints) {
  for (const char* e : {"", "edge", "edge:", ":7844", "edge:0", "edge:65536", "edge:99999999",
                        "edge:http", "2001:db8::1:443", "[2001:db8::1]", "[nothex]:443",
                        "[2001:db8::1]443", "bad host:80", "a..b:80", "edge:-1"}) {
    json j = validJson();
    j["e"] = e;
    expectRejected(tokenFromJson(j), "endpoint");
  }
}

TEST(Token, RejectsBadPins) {
  for (std::string p : {std::string(), std::string(63, 'a'), std::string(65, 'a'),
                        std::string(64, 'g'), std::string(32, 'a') + std::string(32, ' ')}) {
    json j = validJson();
    j["p"] = p;
    expectRejected(tokenFromJson(j), "pin");
  }
}

TEST(Token, IgnoresUnknownFieldsForForwardCompatibility) {
  json j = validJson();
  j["x"] = "future";
  EXPECT_TRUE(decodeToken(tokenFromJson(j)));
}

TEST(Uuid, ShapeIsCanonicalLowercase) {
  EXPECT_TRUE(isUuid(base::randomUuid()));
  EXPECT_TRUE(isUuid("01234567-89ab-cdef-0123-456789abcdef"));
  EXPECT_FALSE(isUuid("01234567-89AB-cdef-0123-456789abcdef"));
  EXPECT_FALSE(isUuid("0123456789ab-cdef-0123-456789abcdef-"));
  EXPECT_FALSE(isUuid(""));
}

TEST(LoginToken, RoundTripsAndIsNotATunnelToken) {
  LoginToken l{base::randomUuid(), base::randomBytes(kSecretSize), "vps.example.net:7844", kPin};
  std::string text = encodeLoginToken(l);
  auto back = decodeLoginToken(text);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->login_id, l.login_id);
  EXPECT_EQ(back->secret, l.secret);
  EXPECT_EQ(back->endpoint, l.endpoint);
  EXPECT_EQ(back->pin, l.pin);
  // Each kind, given where the other is expected, is named for what it is.
  expectRejected(text, "this is a login token (for burrow tunnel login), not a tunnel token");
  auto wrong = decodeLoginToken(encodeToken(validToken()));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("this is a tunnel token (for burrow tunnel run), not a "
                                         "login token"),
            std::string::npos)
      << wrong.error().message();
  json j = validJson();
  j.erase("t");
  j["l"] = "not-a-uuid";
  auto bad = decodeLoginToken(tokenFromJson(j));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("login id (\"l\") is not a UUID"), std::string::npos)
      << bad.error().message();
}

}  // namespace
}  // namespace tunnel
