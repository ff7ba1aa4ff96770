#include "tunnel/registration.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/base.h"
#include "tunnel/token.h"

namespace tunnel {
namespace {

using nlohmann::json;

Registration validRegistration() {
  Registration r;
  r.tunnel_id = base::randomUuid();
  r.secret = base::randomBytes(kSecretSize);
  r.conn_index = 3;
  r.connector_id = base::randomUuid();
  return r;
}

// Payload of a frame (drops the header after checking it announces the right length).
std::string payloadOf(const std::string& frame) {
  EXPECT_GE(frame.size(), kFrameHeader);
  auto n = frameLength(std::string_view(frame).substr(0, kFrameHeader));
  EXPECT_TRUE(n) << n.error().message();
  EXPECT_EQ(n.value_or(0), frame.size() - kFrameHeader);
  return frame.substr(kFrameHeader);
}

json registrationJson() { return json::parse(payloadOf(encodeRegistration(validRegistration()))); }

void expectRegistrationRejected(const json& j, const std::string& needle) {
  auto r = decodeRegistration(j.dump());
  ASSERT_FALSE(r) << "accepted: " << j.dump();
  EXPECT_NE(r.error().message().find(needle), std::string::npos)
      << "message '" << r.error().message() << "' lacks '" << needle << "'";
}

std::string header(uint32_t n) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(n >> 24);
  h[1] = static_cast<char>(n >> 16);
  h[2] = static_cast<char>(n >> 8);
  h[3] = static_cast<char>(n);
  return h;
}

TEST(Registration, RoundTrips) {
  Registration r = validRegistration();
  std::string frame = encodeRegistration(r);
  auto d = decodeRegistration(payloadOf(frame));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->tunnel_id, r.tunnel_id);
  EXPECT_EQ(d->secret, r.secret);
  EXPECT_EQ(d->conn_index, 3u);
  EXPECT_EQ(d->connector_id, r.connector_id);
  EXPECT_EQ(d->version, kProtocolVersion);
}

TEST(Registration, WireFieldsAreTheDocumentedOnes) {
  Registration r = validRegistration();
  json j = json::parse(payloadOf(encodeRegistration(r)));
  EXPECT_EQ(j["tunnel_id"], r.tunnel_id);
  EXPECT_EQ(j["secret"], base::base64Encode(r.secret));
  EXPECT_EQ(j["conn_index"], 3);
  EXPECT_EQ(j["connector_id"], r.connector_id);
  EXPECT_EQ(j["version"], kProtocolVersion);
}

TEST(Registration, FrameHeaderIsBigEndian) {
  std::string frame = encodeRegistration(validRegistration());
  const size_t n = frame.size() - kFrameHeader;
  EXPECT_EQ(frame.substr(0, 4), header(static_cast<uint32_t>(n)));
}

TEST(Registration, EachFieldIsRequired) {
  for (const char* k : {"tunnel_id", "secret", "conn_index", "connector_id", "version"}) {
    json j = registrationJson();
    j.erase(k);
    expectRegistrationRejected(j, k);
  }
}

TEST(Registration, FieldTypesAreChecked) {
  for (const char* k : {"tunnel_id", "secret", "connector_id"}) {
    json j = registrationJson();
    j[k] = 7;
    expectRegistrationRejected(j, k);
  }
  for (const char* k : {"conn_index", "version"}) {
    for (json bad : {json("1"), json(-1), json(1.5), json(4294967296ull), json(nullptr)}) {
      json j = registrationJson();
      j[k] = bad;
      expectRegistrationRejected(j, k);
    }
  }
}

TEST(Registration, IdsMustBeUuids) {
  json j = registrationJson();
  j["tunnel_id"] = "tunnel-one";
  expectRegistrationRejected(j, "tunnel_id");
  j = registrationJson();
  j["connector_id"] = "";
  expectRegistrationRejected(j, "connector_id");
}

TEST(Registration, SecretMustBe32BytesAndIsNeverEchoed) {
  const std::string secret = "this-secret-is-31-bytes-long!!!";
  ASSERT_EQ(secret.size(), 31u);
  json j = registrationJson();
  j["secret"] = base::base64Encode(secret);
  auto r = decodeRegistration(j.dump());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("secret"), std::string::npos);
  EXPECT_EQ(r.error().message().find(secret), std::string::npos);
  EXPECT_EQ(r.error().message().find(base::base64Encode(secret)), std::string::npos);
  j["secret"] = "%%%";
  expectRegistrationRejected(j, "secret");
}

TEST(Registration, VersionZeroIsRefusedButFutureVersionsParse) {
  json j = registrationJson();
  j["version"] = 0;
  expectRegistrationRejected(j, "version");
  // A newer version parses: the edge answers UnsupportedVersion rather than Malformed.
  j["version"] = 2;
  auto r = decodeRegistration(j.dump());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->version, 2u);
}

TEST(Registration, ClientVersionIsOptionalShortAndPrintable) {
  Registration r = validRegistration();
  r.client_version = "burrow 0.1.0";
  auto d = decodeRegistration(payloadOf(encodeRegistration(r)));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->client_version, "burrow 0.1.0");
  // A connector from before the field.
  json j = registrationJson();
  j.erase("client_version");
  d = decodeRegistration(j.dump());
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->client_version, "");
  for (json bad : {json(7), json(nullptr), json(std::string(kMaxClientVersion + 1, 'v')),
                   json("burrow\n0.1.0"), json("<\x1b[31m>")}) {
    j = registrationJson();
    j["client_version"] = bad;
    expectRegistrationRejected(j, "client_version");
  }
}

TEST(Registration, RejectsNonObjectsAndOversizePayloads) {
  EXPECT_FALSE(decodeRegistration(""));
  EXPECT_FALSE(decodeRegistration("[]"));
  EXPECT_FALSE(decodeRegistration("\"x\""));
  EXPECT_FALSE(decodeRegistration("{"));
  EXPECT_FALSE(decodeRegistration(std::string("{\"a\":1}\0", 8)));
  json j = registrationJson();
  j["padding"] = std::string(kMaxFrame, 'x');
  expectRegistrationRejected(j, "exceeds");
}

TEST(FrameLength, AcceptsOneToMax) {
  EXPECT_EQ(*frameLength(header(1)), 1u);
  EXPECT_EQ(*frameLength(header(kMaxFrame)), kMaxFrame);
}

TEST(FrameLength, RejectsZeroOversizeAndShortHeaders) {
  auto zero = frameLength(header(0));
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message().find("zero"), std::string::npos);
  EXPECT_FALSE(frameLength(header(kMaxFrame + 1)));
  EXPECT_FALSE(frameLength(header(0xffffffffu)));
  EXPECT_FALSE(frameLength(std::string("\0\0\1", 3)));
  EXPECT_FALSE(frameLength(std::string("\0\0\0\1\0", 5)));
  EXPECT_FALSE(frameLength(""));
}

TEST(Verdict, NamesRoundTripAndPermanence) {
  struct Case {
    Verdict v;
    const char* name;
    bool permanent;
  };
  for (Case c : {Case{Verdict::Accepted, "accepted", false},
                 Case{Verdict::UnknownTunnel, "unknown_tunnel", true},
                 Case{Verdict::BadSecret, "bad_secret", true},
                 Case{Verdict::UnsupportedVersion, "unsupported_version", true},
                 Case{Verdict::Malformed, "malformed", true}, Case{Verdict::Busy, "busy", false}}) {
    EXPECT_EQ(verdictName(c.v), c.name);
    EXPECT_EQ(isPermanent(c.v), c.permanent) << c.name;
    auto back = verdictFromName(c.name);
    ASSERT_TRUE(back) << c.name;
    EXPECT_EQ(*back, c.v);
  }
  EXPECT_FALSE(verdictFromName("ACCEPTED"));
  EXPECT_FALSE(verdictFromName(""));
}

TEST(Reply, RoundTrips) {
  Reply r{Verdict::Accepted, base::randomUuid(), ""};
  auto d = decodeReply(payloadOf(encodeReply(r)));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->verdict, Verdict::Accepted);
  EXPECT_EQ(d->connection_id, r.connection_id);
  EXPECT_EQ(d->message, "");

  Reply refusal{Verdict::BadSecret, "", "the secret does not match tunnel home"};
  d = decodeReply(payloadOf(encodeReply(refusal)));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->verdict, Verdict::BadSecret);
  EXPECT_EQ(d->message, refusal.message);
  json j = json::parse(payloadOf(encodeReply(refusal)));
  EXPECT_EQ(j["verdict"], "bad_secret");
  EXPECT_FALSE(d->client_address);

  r.client_address = true;
  d = decodeReply(payloadOf(encodeReply(r)));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_TRUE(d->client_address);
}

// An edge from before Reply::client_address sends no such field: its connectors must not
// trust a Cf-Connecting-Ip header it passed through from the client.
TEST(Reply, ClientAddressIsOptionalAndFalseWhenAbsent) {
  json old = {{"verdict", "accepted"}, {"connection_id", "c1"}, {"message", ""}};
  auto d = decodeReply(old.dump());
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_FALSE(d->client_address);
  old["client_address"] = "yes";
  d = decodeReply(old.dump());
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("client_address"), std::string::npos);
}

TEST(Reply, ValidatesFields) {
  auto bad = [](json j, const std::string& needle) {
    auto r = decodeReply(j.dump());
    ASSERT_FALSE(r) << j.dump();
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
  };
  json ok = {{"verdict", "busy"}, {"connection_id", ""}, {"message", "starting"}};
  ASSERT_TRUE(decodeReply(ok.dump()));
  for (const char* k : {"verdict", "connection_id", "message"}) {
    json j = ok;
    j.erase(k);
    bad(j, k);
    j = ok;
    j[k] = false;
    bad(j, k);
  }
  json j = ok;
  j["verdict"] = "maybe";
  bad(j, "verdict");
  j = ok;
  j["verdict"] = "accepted";
  bad(j, "connection_id");  // accepted needs a connection id
  j = ok;
  j["connection_id"] = std::string(kMaxConnectionId + 1, 'c');
  bad(j, "connection_id");
  j = ok;
  j["message"] = "line one\nforged line";
  bad(j, "message");
  j = ok;
  j["message"] = std::string(kMaxMessage + 1, 'm');
  bad(j, "message");
}

TEST(Reply, EncodeMakesAnyMessageDecodable) {
  std::string nasty = "\x01\n\xff\xfe ok \xe2\x82";   // control chars, invalid and cut UTF-8
  for (int i = 0; i < 600; ++i) nasty += "\xc3\xa9";  // 1200 bytes of 'é'
  auto d = decodeReply(payloadOf(encodeReply(Reply{Verdict::Busy, "", nasty})));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_LE(d->message.size(), kMaxMessage);
  EXPECT_EQ(d->message.substr(0, 9), "  ?? ok ?");
  // Cut on a character boundary: an even number of bytes of two-byte 'é' after the prefix.
  EXPECT_EQ((d->message.size() - 10) % 2, 0u);
}

}  // namespace
}  // namespace tunnel
