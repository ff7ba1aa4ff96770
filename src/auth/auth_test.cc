// The portal's decisions without a socket: password hashes against vectors made with Debian's
// tools, access control as Authelia decides it, signed cookies (forged and expired ones
// refused), the open-redirect check, sessions' lifetimes, regulation, and TOTP against the
// RFC 4226 and RFC 6238 vectors.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "auth/internal.h"
#include "base/base.h"
#include "config/config.h"

namespace auth {
namespace {

using namespace std::chrono_literals;
using config::AccessPolicy;

// `echo -n 'correct horse' | argon2 somesaltsomesalt -id -t 3 -m 16 -p 4 -l 32 -e`
constexpr std::string_view kArgonDefault =
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$"
    "7YbYS2w24dSTBgFeLZ/Pp5pFxLjWTXyOMrr1Ld8BcEI";
// `echo -n 'correct horse' | argon2 anothersalt12345 -id -t 1 -m 10 -p 1 -l 32 -e`
constexpr std::string_view kArgonSmall =
    "$argon2id$v=19$m=1024,t=1,p=1$YW5vdGhlcnNhbHQxMjM0NQ$"
    "mH7vKNyvM1sn9BO47Vo95qrBgxPCrizevDyj6ALygkI";
// `htpasswd -nbB -C 5 alice 'battery staple'`
constexpr std::string_view kBcrypt2y =
    "$2y$05$TD6zXnPpDgmGr2nkRE1aOukIgBQ.L72MNxHXiaWFNFlv6va2ZNL9e";
// `openssl passwd -6 -salt saltsalt 'tr0ub4dor&3'` and `-5`
constexpr std::string_view kSha512 =
    "$6$saltsalt$w4JRS/rzf33ha13fW3n.44FLfJzgVCHUkebD.iMpeDxki4R8KJaWd/GtcSbAlMDBZd2LX1HOdeAoqh"
    "ucRq3yI.";
constexpr std::string_view kSha256 = "$5$saltsalt$EjEmejwbhrpok7DqHI0MeVrx0S3ihYDguayW01OJQm8";

config::PasswordHash hashOf(std::string_view encoded) {
  auto h = config::parsePasswordHash(encoded);
  EXPECT_TRUE(h) << encoded << ": " << h.error().message();
  return h ? *h : config::PasswordHash{};
}

TEST(Password, VerifiesArgon2idMadeByTheArgon2Tool) {
  EXPECT_TRUE(verifyPassword(hashOf(kArgonDefault), "correct horse"));
  EXPECT_FALSE(verifyPassword(hashOf(kArgonDefault), "correct horsf"));
  EXPECT_FALSE(verifyPassword(hashOf(kArgonDefault), ""));
  EXPECT_TRUE(verifyPassword(hashOf(kArgonSmall), "correct horse"));
  EXPECT_FALSE(verifyPassword(hashOf(kArgonSmall), "correct horse "));
}

TEST(Password, VerifiesBcryptFromHtpasswdInEveryPrefix) {
  EXPECT_TRUE(verifyPassword(hashOf(kBcrypt2y), "battery staple"));
  EXPECT_FALSE(verifyPassword(hashOf(kBcrypt2y), "battery stapler"));
  // $2a$, $2b$ and $2y$ name the same algorithm for passwords like this one.
  std::string b(kBcrypt2y);
  b[2] = 'b';
  EXPECT_TRUE(verifyPassword(hashOf(b), "battery staple"));
  b[2] = 'a';
  EXPECT_TRUE(verifyPassword(hashOf(b), "battery staple"));
  EXPECT_FALSE(verifyPassword(hashOf(kBcrypt2y), std::string("battery staple\0x", 16)));
}

TEST(Password, VerifiesShaCryptFromOpenssl) {
  EXPECT_TRUE(verifyPassword(hashOf(kSha512), "tr0ub4dor&3"));
  EXPECT_FALSE(verifyPassword(hashOf(kSha512), "tr0ub4dor&4"));
  EXPECT_TRUE(verifyPassword(hashOf(kSha256), "tr0ub4dor&3"));
}

TEST(Password, HashesWithAutheliasDefaults) {
  auto h = hashPassword("s3cret pass");
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->starts_with("$argon2id$v=19$m=65536,t=3,p=4$")) << *h;
  // 16 bytes of salt and a 32-byte key, in base64 without padding.
  const std::string_view rest = std::string_view(*h).substr(31);
  EXPECT_EQ(rest.find('$'), 22u) << *h;
  EXPECT_EQ(rest.size(), 22u + 1 + 43u) << *h;
  EXPECT_TRUE(verifyPassword(hashOf(*h), "s3cret pass"));
  EXPECT_FALSE(verifyPassword(hashOf(*h), "s3cret pas"));
  auto again = hashPassword("s3cret pass");
  ASSERT_TRUE(again);
  EXPECT_NE(*h, *again);  // a new salt each time
  EXPECT_FALSE(hashPassword(std::string(2000, 'x')));
}

// ---- Access control ----

config::AutheliaConfig configWith(std::vector<config::AccessRule> rules,
                                  AccessPolicy default_policy = AccessPolicy::Deny) {
  config::AutheliaConfig cfg;
  cfg.session_secret = "secret";
  config::SessionCookie c;
  c.domain = "example.com";
  c.authelia_url = "https://auth.example.com";
  cfg.cookies.push_back(c);
  config::SessionCookie plain;
  plain.domain = "lan.test";
  plain.authelia_url = "http://auth.lan.test";
  plain.secure = false;
  cfg.cookies.push_back(plain);
  cfg.rules = std::move(rules);
  cfg.default_policy = default_policy;
  return cfg;
}

config::AccessRule rule(std::vector<std::string> domains, AccessPolicy p) {
  config::AccessRule r;
  r.domains = std::move(domains);
  r.policy = p;
  return r;
}

config::AccessRule withResources(config::AccessRule r, std::vector<std::string> res) {
  for (const std::string& s : res) {
    r.resources.push_back(s);
    r.resource_res.push_back(std::make_shared<const re2::RE2>(s));
  }
  return r;
}

Target target(std::string_view url, std::string method = "GET") {
  auto u = config::parseHttpUrl(url);
  EXPECT_TRUE(u) << url;
  return Target{std::move(method), *u};
}

const Identity kJohn{"john", "John Doe", "john@example.com", {"admins", "dev"}};
const Identity kAlice{"alice", "Alice", "", {"users"}};

TEST(Access, FirstMatchingRuleDecides) {
  auto cfg = configWith({
      rule({"public.example.com"}, AccessPolicy::Bypass),
      rule({"*.example.com"}, AccessPolicy::OneFactor),
      rule({"app.example.com"}, AccessPolicy::Bypass),  // never reached: the rule above wins
  });
  EXPECT_EQ(decide(cfg, target("https://public.example.com/"), nullptr, Level::Anonymous),
            Verdict::Allow);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/"), nullptr, Level::Anonymous),
            Verdict::NeedLogin);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/"), &kJohn, Level::OneFactor),
            Verdict::Allow);
  // "*.example.com" covers subdomains at any depth, but not example.com itself.
  EXPECT_EQ(decide(cfg, target("https://a.b.example.com/"), nullptr, Level::Anonymous),
            Verdict::NeedLogin);
  EXPECT_EQ(decide(cfg, target("https://example.com/"), &kJohn, Level::OneFactor),
            Verdict::Forbidden);  // default_policy deny
}

TEST(Access, ResourcesMatchPathAndQuery) {
  auto cfg = configWith(
      {withResources(rule({"app.example.com"}, AccessPolicy::Bypass), {"^/api([/?].*)?$"}),
       withResources(rule({"app.example.com"}, AccessPolicy::Deny), {"secret=1"})},
      AccessPolicy::OneFactor);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/api"), nullptr, Level::Anonymous),
            Verdict::Allow);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/api?x=1"), nullptr, Level::Anonymous),
            Verdict::Allow);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/apix"), nullptr, Level::Anonymous),
            Verdict::NeedLogin);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/x?secret=1"), &kJohn, Level::OneFactor),
            Verdict::Forbidden);
}

TEST(Access, MethodsNarrowARule) {
  auto r = rule({"app.example.com"}, AccessPolicy::Bypass);
  r.methods = {"OPTIONS"};
  auto cfg = configWith({r}, AccessPolicy::OneFactor);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/", "OPTIONS"), nullptr, Level::Anonymous),
            Verdict::Allow);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/", "GET"), nullptr, Level::Anonymous),
            Verdict::NeedLogin);
}

TEST(Access, SubjectsAsAutheliaMatchesThem) {
  auto admins = rule({"*.example.com"}, AccessPolicy::OneFactor);
  admins.subjects = {{"user:alice"}, {"group:admins", "group:dev"}};
  auto deny_users = rule({"mail.example.com"}, AccessPolicy::Deny);
  deny_users.subjects = {{"group:users"}};
  auto cfg = configWith({deny_users, admins}, AccessPolicy::Deny);
  // Anonymous: a rule with a subject asks for a login, deny ones included.
  EXPECT_EQ(decide(cfg, target("https://mail.example.com/"), nullptr, Level::Anonymous),
            Verdict::NeedLogin);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/"), nullptr, Level::Anonymous),
            Verdict::NeedLogin);
  // alice is in `users`: denied on mail; she is named on the second rule elsewhere.
  EXPECT_EQ(decide(cfg, target("https://mail.example.com/"), &kAlice, Level::OneFactor),
            Verdict::Forbidden);
  EXPECT_EQ(decide(cfg, target("https://app.example.com/"), &kAlice, Level::OneFactor),
            Verdict::Allow);
  // john is in both admins and dev (the inner list is AND), and not in users.
  EXPECT_EQ(decide(cfg, target("https://mail.example.com/"), &kJohn, Level::OneFactor),
            Verdict::Allow);
  Identity half = kJohn;
  half.groups = {"admins"};
  EXPECT_EQ(decide(cfg, target("https://app.example.com/"), &half, Level::OneFactor),
            Verdict::Forbidden);  // falls through to default_policy
}

TEST(Access, TwoFactorIsNotMetByOneFactor) {
  auto cfg = configWith({rule({"app.example.com"}, AccessPolicy::TwoFactor)});
  EXPECT_EQ(decide(cfg, target("https://app.example.com/"), &kJohn, Level::OneFactor),
            Verdict::NeedLogin);
}

TEST(Access, CookieDomainForAHost) {
  auto cfg = configWith({});
  config::SessionCookie sub;
  sub.domain = "auth.example.com";
  sub.authelia_url = "https://auth.example.com";
  cfg.cookies.push_back(sub);
  ASSERT_NE(cookieFor(cfg, "app.example.com"), nullptr);
  EXPECT_EQ(cookieFor(cfg, "app.example.com")->domain, "example.com");
  EXPECT_EQ(cookieFor(cfg, "auth.example.com")->domain, "auth.example.com");
  EXPECT_EQ(cookieFor(cfg, "evil.com"), nullptr);
  EXPECT_EQ(cookieFor(cfg, "notexample.com"), nullptr);
}

TEST(Redirect, OnlyInsideTheSessionDomains) {
  auto cfg = configWith({});
  EXPECT_TRUE(safeRedirect(cfg, "https://app.example.com/x?y=1"));
  EXPECT_TRUE(safeRedirect(cfg, "https://example.com/"));
  EXPECT_TRUE(safeRedirect(cfg, "http://app.lan.test/"));  // that domain's portal is http
  for (std::string_view bad :
       {"https://evil.com/", "https://example.com.evil.com/", "https://evilexample.com/",
        "http://app.example.com/",  // downgrade from an https portal
        "//evil.com/", "/local", "javascript:alert(1)", "https://example.com@evil.com/",
        "https://evil.com\\@example.com/", "", "data:text/html,x"})
    EXPECT_FALSE(safeRedirect(cfg, bad)) << bad;
}

// ---- Cookies ----

TEST(Cookie, SignedIdsVerifyAndForgeriesDoNot) {
  SessionStore store;
  const std::string id = store.create(Session{"john", "example.com"});
  ASSERT_EQ(id.size(), 32u);
  const std::string value = signSessionId("secret", id);
  EXPECT_EQ(verifySessionCookie("secret", value), id);
  EXPECT_FALSE(verifySessionCookie("other secret", value));
  std::string forged = value;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifySessionCookie("secret", forged));
  std::string other_id = value;
  other_id[0] = other_id[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifySessionCookie("secret", other_id));
  EXPECT_FALSE(verifySessionCookie("secret", id));
  EXPECT_FALSE(verifySessionCookie("secret", ""));
  EXPECT_FALSE(verifySessionCookie("secret", value + "x"));
  EXPECT_FALSE(verifySessionCookie("secret", std::string(32, '!') + value.substr(32)));
}

TEST(Cookie, ValuesFromCookieHeaders) {
  const std::vector<std::string_view> headers = {"a=1; authelia_session=abc; b=2",
                                                 "authelia_session=\"def\""};
  EXPECT_EQ(cookieValues(headers, "authelia_session"),
            (std::vector<std::string_view>{"abc", "def"}));
  EXPECT_TRUE(cookieValues(headers, "other").empty());
  EXPECT_TRUE(cookieValues({"authelia_sessionx=1"}, "authelia_session").empty());
}

TEST(Cookie, SetCookieAttributes) {
  config::SessionCookie c;
  c.domain = "example.com";
  EXPECT_EQ(setCookie(c, "v", std::nullopt),
            "authelia_session=v; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax");
  c.secure = false;
  c.same_site = "strict";
  c.name = "s";
  EXPECT_EQ(setCookie(c, "", std::chrono::seconds(0)),
            "s=; Domain=example.com; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
}

// ---- Sessions ----

TEST(Sessions, ExpirationAndInactivity) {
  config::SessionCookie c;
  c.domain = "example.com";
  c.expiration = 1h;
  c.inactivity = 5min;
  c.remember_me = 24h;
  const Clock::time_point t0{};
  SessionStore store;
  const std::string id =
      store.create(Session{"john", "example.com", Level::OneFactor, false, t0, t0, {}});
  ASSERT_NE(store.find(id, c, t0 + 4min), nullptr);
  ASSERT_NE(store.find(id, c, t0 + 8min), nullptr);   // active 4 minutes ago
  EXPECT_EQ(store.find(id, c, t0 + 14min), nullptr);  // idle 6 minutes: gone
  EXPECT_EQ(store.size(), 0u);

  const std::string busy =
      store.create(Session{"john", "example.com", Level::OneFactor, false, t0, t0, {}});
  for (auto t = 4min; t < 60min; t += 4min) ASSERT_NE(store.find(busy, c, t0 + t), nullptr);
  EXPECT_EQ(store.find(busy, c, t0 + 60min), nullptr);  // expiration is absolute

  const std::string kept =
      store.create(Session{"john", "example.com", Level::OneFactor, true, t0, t0, {}});
  EXPECT_NE(store.find(kept, c, t0 + 3h), nullptr);  // remember_me: no inactivity limit
  EXPECT_EQ(store.find(kept, c, t0 + 24h), nullptr);

  const std::string other =
      store.create(Session{"john", "lan.test", Level::OneFactor, false, t0, t0, {}});
  EXPECT_EQ(store.find(other, c, t0), nullptr);  // made for another cookie domain
  store.erase(other);
  EXPECT_EQ(store.find("unknown", c, t0), nullptr);
}

TEST(Sessions, LogoutEndsTheSession) {
  config::SessionCookie c;
  c.domain = "example.com";
  SessionStore store;
  const Clock::time_point now = Clock::now();
  const std::string id =
      store.create(Session{"john", "example.com", Level::OneFactor, false, now, now, {}});
  ASSERT_NE(store.find(id, c, now), nullptr);
  store.erase(id);
  EXPECT_EQ(store.find(id, c, now), nullptr);
}

// ---- Regulation ----

TEST(Regulation, BansAfterMaxRetriesWithinFindTime) {
  Regulator r(3, 2min, 5min);
  const Clock::time_point t0{};
  r.failed("john", t0);
  r.failed("john", t0 + 30s);
  EXPECT_FALSE(r.banned("john", t0 + 31s));
  r.failed("john", t0 + 60s);
  EXPECT_TRUE(r.banned("john", t0 + 61s));
  EXPECT_TRUE(r.banned("john", t0 + 60s + 4min));
  EXPECT_FALSE(r.banned("john", t0 + 60s + 5min));
  EXPECT_FALSE(r.banned("alice", t0 + 61s));
}

TEST(Regulation, FailuresOutsideFindTimeDoNotAddUp) {
  Regulator r(3, 2min, 5min);
  const Clock::time_point t0{};
  r.failed("john", t0);
  r.failed("john", t0 + 90s);
  r.failed("john", t0 + 150s);  // the first is older than 2 minutes by now
  EXPECT_FALSE(r.banned("john", t0 + 151s));
  r.succeeded("john");
  r.failed("john", t0 + 160s);
  EXPECT_FALSE(r.banned("john", t0 + 161s));
}

TEST(Regulation, ZeroRetriesDisablesIt) {
  Regulator r(0, 2min, 5min);
  const Clock::time_point t0{};
  for (int i = 0; i < 10; ++i) r.failed("john", t0);
  EXPECT_FALSE(r.banned("john", t0));
}

// ---- Codecs ----

TEST(Codec, FormsAndUrls) {
  auto f = parseForm("username=jo%20hn&password=a+b%26c&rd=https%3A%2F%2Fa.example.com%2F&x");
  EXPECT_EQ(f["username"], "jo hn");
  EXPECT_EQ(f["password"], "a b&c");
  EXPECT_EQ(f["rd"], "https://a.example.com/");
  EXPECT_EQ(f.count("x"), 1u);
  EXPECT_FALSE(urlDecode("%4", false));
  EXPECT_FALSE(urlDecode("%zz", false));
  EXPECT_EQ(urlEncode("https://a.b/c?d=e f"), "https%3A%2F%2Fa.b%2Fc%3Fd%3De%20f");
  EXPECT_EQ(base::htmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

// RFC 4226 appendix D: the 31-bit values of counters 0 to 9 under "12345678901234567890".
TEST(Totp, HotpMatchesRfc4226AppendixD) {
  const uint32_t want[] = {1284755224, 1094287082, 137359152, 1726969429, 1640338314,
                           868254676,  1918287922, 82162583,  673399871,  645520489};
  for (uint64_t c = 0; c < 10; ++c) EXPECT_EQ(hotp("12345678901234567890", c), want[c]) << c;
}

// RFC 6238 appendix B, SHA1: the 8-digit codes end in these 6 digits.
TEST(Totp, TotpMatchesRfc6238VectorsTruncatedToSixDigits) {
  const std::string_view key = "12345678901234567890";
  const std::pair<int64_t, std::string_view> vectors[] = {
      {59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
      {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}};
  for (const auto& [t, code] : vectors) {
    EXPECT_EQ(totpCode(key, totpStep(t)), code) << t;
    EXPECT_EQ(verifyTotp(key, code, t), totpStep(t)) << t;
  }
}

TEST(Totp, AcceptsOneStepEitherSideAndNoMore) {
  const std::string key = "12345678901234567890";
  const int64_t t = 1111111111;
  const std::string code = totpCode(key, totpStep(t));
  EXPECT_EQ(verifyTotp(key, code, t + 30), totpStep(t));
  EXPECT_EQ(verifyTotp(key, code, t - 30), totpStep(t));
  EXPECT_FALSE(verifyTotp(key, code, t + 60));
  EXPECT_FALSE(verifyTotp(key, code, t - 60));
  EXPECT_FALSE(verifyTotp(key, "", t));
  EXPECT_FALSE(verifyTotp(key, code + "0", t));
  EXPECT_FALSE(verifyTotp(key, code.substr(1), t));
  EXPECT_FALSE(verifyTotp("another key", code, t));
  EXPECT_FALSE(verifyTotp(key, code, 0));  // near the epoch: no step below 0
}

TEST(Totp, Base32RoundTripsAndSecretsAre32Characters) {
  EXPECT_EQ(base32Encode("foobar"), "MZXW6YTBOI");  // RFC 4648 section 10, unpadded
  EXPECT_EQ(base32Decode("MZXW6YTBOI======"), "foobar");
  EXPECT_EQ(base32Decode("mzxw6ytboi"), "foobar");
  EXPECT_FALSE(base32Decode("MZXW6YTBO1"));
  const std::string s = newTotpSecret();
  EXPECT_EQ(s.size(), 32u);
  EXPECT_EQ(base32Decode(s)->size(), kTotpSecretBytes);
  EXPECT_NE(s, newTotpSecret());
}

TEST(Totp, OtpauthUriAsAuthenticatorAppsReadIt) {
  EXPECT_EQ(otpauthUri("example.com", "john doe", "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/example.com:john%20doe?secret=JBSWY3DPEHPK3PXP&issuer=example.com"
            "&algorithm=SHA1&digits=6&period=30");
}

TEST(Access, TwoFactorNeedsLevelTwo) {
  config::AutheliaConfig cfg;
  cfg.default_policy = AccessPolicy::TwoFactor;
  Target t{"GET", *config::parseHttpUrl("https://app.example.com/")};
  Identity who{"john", "", "", {}};
  EXPECT_EQ(decide(cfg, t, nullptr, Level::Anonymous), Verdict::NeedLogin);
  EXPECT_EQ(decide(cfg, t, &who, Level::OneFactor), Verdict::NeedLogin);
  EXPECT_EQ(decide(cfg, t, &who, Level::TwoFactor), Verdict::Allow);
}

}  // namespace
}  // namespace auth
