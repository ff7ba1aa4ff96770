// Authelia's configuration.yml and users_database.yml: every key burrow reads, Authelia's
// defaults, the one warning for keys burrow does not implement, and the errors (FILE:LINE:
// key) for what would leave a protection unenforced.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/base.h"
#include "config/config.h"

namespace config {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::string_view kArgon =
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$"
    "7YbYS2w24dSTBgFeLZ/Pp5pFxLjWTXyOMrr1Ld8BcEI";
constexpr std::string_view kBcrypt = "$2y$05$TD6zXnPpDgmGr2nkRE1aOukIgBQ.L72MNxHXiaWFNFlv6va2ZNL9e";
constexpr std::string_view kSha512 =
    "$6$saltsalt$w4JRS/rzf33ha13fW3n.44FLfJzgVCHUkebD.iMpeDxki4R8KJaWd/GtcSbAlMDBZd2LX1HOdeAoqh"
    "ucRq3yI.";

// The smallest configuration burrow accepts; `tail` goes on from line 8.
std::string minimal(std::string_view tail = "") {
  return fmt::format(
      "session:\n"                                      // 1
      "  secret: insecure_session_secret\n"             // 2
      "  cookies:\n"                                    // 3
      "    - domain: example.com\n"                     // 4
      "      authelia_url: https://auth.example.com\n"  // 5
      "authentication_backend:\n"                       // 6
      "  file: {{path: /etc/authelia/users.yml}}\n"     // 7
      "{}",
      tail);
}

base::Result<AutheliaConfig> parse(std::string_view yaml,
                                   const std::vector<std::string>& env = {}) {
  return parseAutheliaConfig(yaml, "configuration.yml", env);
}

std::string errorOf(std::string_view yaml, const std::vector<std::string>& env = {}) {
  auto r = parse(yaml, env);
  return r ? std::string("(no error)") : r.error().message();
}

TEST(AutheliaConfig, DefaultsAreAutheliasOwn) {
  auto c = parse(minimal());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->listen_host, "");
  EXPECT_EQ(c->listen_port, 9091);
  EXPECT_EQ(c->session_secret, "insecure_session_secret");
  ASSERT_EQ(c->cookies.size(), 1u);
  const SessionCookie& k = c->cookies[0];
  EXPECT_EQ(k.domain, "example.com");
  EXPECT_EQ(k.authelia_url, "https://auth.example.com");
  EXPECT_EQ(k.name, "authelia_session");
  EXPECT_EQ(k.same_site, "lax");
  EXPECT_EQ(k.expiration, hours(1));
  EXPECT_EQ(k.inactivity, minutes(5));
  EXPECT_EQ(k.remember_me, hours(24 * 30));
  EXPECT_TRUE(k.secure);
  EXPECT_EQ(k.line, 4);
  EXPECT_EQ(c->users_file, "/etc/authelia/users.yml");
  EXPECT_EQ(c->default_policy, AccessPolicy::Deny);
  EXPECT_TRUE(c->rules.empty());
  EXPECT_EQ(c->max_retries, 3);
  EXPECT_EQ(c->find_time, minutes(2));
  EXPECT_EQ(c->ban_time, minutes(5));
  EXPECT_EQ(c->totp_issuer, "Authelia");
  EXPECT_TRUE(c->warnings.empty());
}

TEST(AutheliaConfig, EveryKeyIsRead) {
  auto c = parse(
      "server:\n"
      "  address: 'tcp://127.0.0.1:9092/'\n"
      "session:\n"
      "  secret: s3cret\n"
      "  name: global_name\n"
      "  same_site: strict\n"
      "  expiration: 2h\n"
      "  inactivity: 10m\n"
      "  remember_me: 1w\n"
      "  cookies:\n"
      "    - domain: Example.COM\n"
      "      authelia_url: http://auth.example.com:8080/\n"
      "      default_redirection_url: https://www.example.com/home\n"
      "    - domain: other.net\n"
      "      authelia_url: https://login.other.net\n"
      "      name: other_session\n"
      "      same_site: none\n"
      "      expiration: 30m\n"
      "      inactivity: 1m\n"
      "      remember_me: -1\n"
      "authentication_backend:\n"
      "  file:\n"
      "    path: users.yml\n"
      "access_control:\n"
      "  default_policy: one_factor\n"
      "  rules:\n"
      "    - domain: public.example.com\n"
      "      policy: bypass\n"
      "    - domain: ['*.example.com', other.net]\n"
      "      resources: ['^/api([/?].*)?$', '^/admin']\n"
      "      methods: [GET, POST]\n"
      "      subject:\n"
      "        - user:john\n"
      "        - ['group:admin', 'group:ops']\n"
      "      policy: deny\n"
      "regulation:\n"
      "  max_retries: 5\n"
      "  find_time: 10m\n"
      "  ban_time: 1h\n"
      "totp:\n"
      "  issuer: example.com\n"
      "storage:\n"
      "  encryption_key: a_very_important_secret\n"
      "  local:\n"
      "    path: /var/lib/authelia/db.sqlite3\n");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 9092);
  ASSERT_EQ(c->cookies.size(), 2u);
  const SessionCookie& a = c->cookies[0];
  EXPECT_EQ(a.domain, "example.com");
  EXPECT_EQ(a.authelia_url, "http://auth.example.com:8080");
  EXPECT_FALSE(a.secure);
  EXPECT_EQ(a.default_redirection_url, "https://www.example.com/home");
  EXPECT_EQ(a.name, "global_name");
  EXPECT_EQ(a.same_site, "strict");
  EXPECT_EQ(a.expiration, hours(2));
  EXPECT_EQ(a.inactivity, minutes(10));
  EXPECT_EQ(a.remember_me, hours(24 * 7));
  const SessionCookie& b = c->cookies[1];
  EXPECT_EQ(b.name, "other_session");
  EXPECT_EQ(b.same_site, "none");
  EXPECT_EQ(b.expiration, minutes(30));
  EXPECT_EQ(b.inactivity, minutes(1));
  EXPECT_EQ(b.remember_me, Millis(0));
  EXPECT_TRUE(b.secure);
  EXPECT_EQ(c->users_file, "users.yml");
  EXPECT_EQ(c->default_policy, AccessPolicy::OneFactor);
  ASSERT_EQ(c->rules.size(), 2u);
  EXPECT_EQ(c->rules[0].domains, std::vector<std::string>{"public.example.com"});
  EXPECT_EQ(c->rules[0].policy, AccessPolicy::Bypass);
  EXPECT_EQ(c->rules[0].line, 27);
  const AccessRule& r = c->rules[1];
  EXPECT_EQ(r.domains, (std::vector<std::string>{"*.example.com", "other.net"}));
  EXPECT_EQ(r.resources.size(), 2u);
  EXPECT_EQ(r.resource_res.size(), 2u);
  EXPECT_EQ(r.methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_EQ(r.subjects.size(), 2u);
  EXPECT_EQ(r.subjects[0], std::vector<std::string>{"user:john"});
  EXPECT_EQ(r.subjects[1], (std::vector<std::string>{"group:admin", "group:ops"}));
  EXPECT_EQ(r.policy, AccessPolicy::Deny);
  EXPECT_EQ(c->max_retries, 5);
  EXPECT_EQ(c->find_time, minutes(10));
  EXPECT_EQ(c->ban_time, hours(1));
  EXPECT_EQ(c->totp_issuer, "example.com");
  EXPECT_EQ(c->storage_encryption_key, "a_very_important_secret");
  EXPECT_EQ(c->storage_path, "/var/lib/authelia/db.sqlite3");
  EXPECT_TRUE(c->warnings.empty()) << c->warnings[0];
}

TEST(AutheliaConfig, ServerAddressAsAutheliaWritesIt) {
  struct Case {
    std::string_view text;
    std::string_view host;
    int port;
  } cases[] = {
      {"tcp://127.0.0.1:9091/", "127.0.0.1", 9091},
      {"tcp://:9092", "", 9092},
      {"0.0.0.0:9093", "0.0.0.0", 9093},
      {"tcp4://localhost", "localhost", 9091},
      {"tcp://[::1]:80/", "::1", 80},
  };
  for (const Case& c : cases) {
    auto r = parse(minimal(fmt::format("server: {{address: '{}'}}\n", c.text)));
    ASSERT_TRUE(r) << c.text << ": " << r.error().message();
    EXPECT_EQ(r->listen_host, c.host) << c.text;
    EXPECT_EQ(r->listen_port, c.port) << c.text;
  }
  EXPECT_EQ(errorOf(minimal("server: {address: 'tcp://:9091/authelia'}\n")),
            "configuration.yml:8: server.address: 'tcp://:9091/authelia': burrow serves the "
            "portal at / only, not under a path");
  EXPECT_NE(
      errorOf(minimal("server: {address: 'unix:///run/a.sock'}\n")).find("tcp:// addresses only"),
      std::string::npos);
  EXPECT_NE(errorOf(minimal("server: {address: 'tcp://:99999'}\n")).find("configuration.yml:8:"),
            std::string::npos);
}

TEST(AutheliaConfig, TwoFactorNeedsStorage) {
  const std::string rule =
      "access_control:\n"              // 8
      "  rules:\n"                     // 9
      "    - domain: a.example.com\n"  // 10
      "      policy: two_factor\n";    // 11
  EXPECT_EQ(errorOf(minimal(rule)),
            "configuration.yml:1: storage.local.path is required by the two_factor rule at line "
            "10: TOTP secrets are kept in that SQLite database");
  EXPECT_EQ(errorOf(minimal(rule + "storage: {local: {path: /var/lib/a.sqlite3}}\n")),
            "configuration.yml:12: storage.encryption_key (or "
            "AUTHELIA_STORAGE_ENCRYPTION_KEY_FILE) is required by the two_factor rule at line 10: "
            "TOTP secrets are stored encrypted under it");
  EXPECT_EQ(errorOf(minimal(rule + "storage:\n"
                                   "  encryption_key: too_short\n"
                                   "  local: {path: /var/lib/a.sqlite3}\n")),
            "configuration.yml:13: storage.encryption_key: must be at least 20 characters");
  auto c = parse(minimal(rule + "storage:\n"
                                "  encryption_key: a_very_important_secret\n"
                                "  local: {path: /var/lib/a.sqlite3}\n"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->rules.at(0).policy, AccessPolicy::TwoFactor);
  EXPECT_NE(errorOf(minimal("access_control: {default_policy: two_factor}\n"))
                .find("configuration.yml:1: storage.local.path is required by default_policy "
                      "two_factor"),
            std::string::npos);
  EXPECT_NE(errorOf(minimal("access_control: {default_policy: allow}\n")).find("unknown policy"),
            std::string::npos);
}

TEST(AutheliaConfig, CriteriaBurrowCannotCheckAreErrors) {
  for (std::string_view key :
       {"networks: [10.0.0.0/8]", "domain_regex: '^a$'", "query: [[{key: a}]]"}) {
    const std::string e =
        errorOf(minimal(fmt::format("access_control:\n"
                                    "  rules:\n"
                                    "    - domain: a.example.com\n"
                                    "      policy: one_factor\n"
                                    "      {}\n",
                                    key)));
    EXPECT_NE(e.find("configuration.yml:12: access_control.rules[0]."), std::string::npos) << e;
    EXPECT_NE(e.find("does not implement this criterion"), std::string::npos) << e;
  }
  EXPECT_NE(errorOf(minimal("access_control:\n"
                            "  rules: [{domain: '{user}.example.com', policy: one_factor}]\n"))
                .find("{user}"),
            std::string::npos);
  EXPECT_NE(errorOf(minimal("access_control:\n"
                            "  rules: [{domain: a.example.com, policy: one_factor, "
                            "subject: 'oauth2:client:x'}]\n"))
                .find("OAuth 2.0"),
            std::string::npos);
  EXPECT_EQ(errorOf("session:\n"
                    "  secret: x\n"
                    "  cookies: [{domain: example.com, authelia_url: 'https://example.com'}]\n"
                    "authentication_backend:\n"
                    "  ldap: {address: 'ldap://127.0.0.1'}\n"),
            "configuration.yml:5: authentication_backend.ldap: burrow reads users from a file "
            "only (authentication_backend.file.path)");
}

TEST(AutheliaConfig, RuleErrorsNameTheLine) {
  EXPECT_EQ(errorOf(minimal("access_control:\n"
                            "  rules:\n"
                            "    - domain: a.example.com\n"
                            "      subject: group:x\n"
                            "      policy: bypass\n")),
            "configuration.yml:10: access_control.rules[0]: a bypass rule cannot have a subject "
            "(knowing the user needs a login)");
  EXPECT_EQ(errorOf(minimal("access_control:\n"
                            "  rules:\n"
                            "    - domain: a.example.com\n"
                            "      resources: ['^/(a']\n"
                            "      policy: deny\n")),
            "configuration.yml:11: access_control.rules[0].resources: '^/(a' is not a regular "
            "expression: missing ): ^/(a");
  EXPECT_NE(errorOf(minimal("access_control: {rules: [{policy: deny}]}\n")).find("needs a domain"),
            std::string::npos);
  EXPECT_NE(errorOf(minimal("access_control: {rules: [{domain: a.example.com}]}\n"))
                .find("needs a policy"),
            std::string::npos);
  EXPECT_NE(errorOf(minimal("access_control: {rules: [{domain: a.example.com, policy: deny, "
                            "methods: [FETCH]}]}\n"))
                .find("'FETCH' is not a method"),
            std::string::npos);
  EXPECT_NE(errorOf(minimal("access_control: {rules: [{domain: a.example.com, policy: deny, "
                            "subject: 'john'}]}\n"))
                .find("not a subject"),
            std::string::npos);
  EXPECT_NE(errorOf(minimal("access_control: {rules: [{domain: a.example.com, policy: deny, "
                            "colour: red}]}\n"))
                .find("unknown rule key"),
            std::string::npos);
}

TEST(AutheliaConfig, SubjectTakesAutheliasThreeShapes) {
  for (std::string_view s : {"'group:admins'", "['group:admins']", "[['group:admins']]"}) {
    auto c = parse(minimal(fmt::format(
        "access_control: {{rules: [{{domain: a.example.com, policy: deny, subject: {}}}]}}\n", s)));
    ASSERT_TRUE(c) << s << ": " << c.error().message();
    ASSERT_EQ(c->rules[0].subjects.size(), 1u);
    EXPECT_EQ(c->rules[0].subjects[0], std::vector<std::string>{"group:admins"});
  }
}

TEST(AutheliaConfig, UnimplementedKeysMakeOneWarning) {
  auto c = parse(minimal("theme: dark\n"
                         "log: {level: debug}\n"
                         "totp: {period: 30}\n"
                         "notifier: {filesystem: {filename: /tmp/n}}\n"),
                 {"AUTHELIA_JWT_SECRET_FILE=/run/secrets/jwt", "PATH=/bin"});
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_EQ(c->warnings[0],
            "configuration.yml: keys burrow does not implement (ignored): theme (line 8), log "
            "(line 9), totp.period (line 10), notifier (line 11), AUTHELIA_JWT_SECRET_FILE "
            "(environment)");
}

TEST(AutheliaConfig, SecretsFromFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "burrow-authelia-test";
  std::filesystem::create_directories(dir);
  const std::string secret = (dir / "session").string();
  std::ofstream(secret) << "from-a-file\n";
  const std::string key = (dir / "key").string();
  std::ofstream(key) << "storage-key-of-20-characters";
  std::string no_secret = minimal();
  no_secret.replace(no_secret.find("  secret: insecure_session_secret\n"), 34, "");
  auto c = parse(no_secret, {"AUTHELIA_SESSION_SECRET_FILE=" + secret,
                             "AUTHELIA_STORAGE_ENCRYPTION_KEY_FILE=" + key});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->session_secret, "from-a-file");
  EXPECT_EQ(c->storage_encryption_key, "storage-key-of-20-characters");
  EXPECT_EQ(errorOf(minimal(), {"AUTHELIA_SESSION_SECRET_FILE=" + secret}),
            "configuration.yml: session.secret is set both in the file and by "
            "AUTHELIA_SESSION_SECRET_FILE; keep one");
  EXPECT_NE(errorOf(no_secret, {"AUTHELIA_SESSION_SECRET_FILE=/nonexistent/x"})
                .find("AUTHELIA_SESSION_SECRET_FILE: "),
            std::string::npos);
  EXPECT_EQ(errorOf(no_secret),
            "configuration.yml:1: session.secret is required (or AUTHELIA_SESSION_SECRET_FILE "
            "naming a file)");
  std::filesystem::remove_all(dir);
}

TEST(AutheliaConfig, SessionErrors) {
  EXPECT_EQ(errorOf("session: {secret: x}\nauthentication_backend: {file: {path: u}}\n"),
            "configuration.yml:1: session.cookies is required: at least one {domain, "
            "authelia_url}");
  EXPECT_EQ(errorOf("session:\n"
                    "  secret: x\n"
                    "  cookies: [{domain: example.com, authelia_url: 'https://auth.evil.com'}]\n"
                    "authentication_backend: {file: {path: u}}\n"),
            "configuration.yml:3: session.cookies[0].authelia_url: 'https://auth.evil.com' is "
            "not within the cookie domain 'example.com'");
  EXPECT_NE(errorOf("session:\n"
                    "  secret: x\n"
                    "  cookies: [{domain: example.com}]\n"
                    "authentication_backend: {file: {path: u}}\n")
                .find("session.cookies[0].authelia_url is required"),
            std::string::npos);
  EXPECT_NE(errorOf("session:\n"
                    "  secret: x\n"
                    "  cookies: [{domain: example.com, authelia_url: 'ftp://auth.example.com'}]\n"
                    "authentication_backend: {file: {path: u}}\n")
                .find("http or https"),
            std::string::npos);
  EXPECT_NE(errorOf("session:\n"
                    "  secret: x\n"
                    "  same_site: loose\n"
                    "  cookies: [{domain: example.com, authelia_url: 'https://example.com'}]\n"
                    "authentication_backend: {file: {path: u}}\n")
                .find("configuration.yml:3: session.same_site: 'loose'"),
            std::string::npos);
  EXPECT_NE(errorOf("session:\n"
                    "  secret: x\n"
                    "  expiration: soon\n"
                    "  cookies: [{domain: example.com, authelia_url: 'https://example.com'}]\n"
                    "authentication_backend: {file: {path: u}}\n")
                .find("configuration.yml:3: session.expiration: 'soon' is not a duration"),
            std::string::npos);
  EXPECT_EQ(errorOf("session:\n"
                    "  secret: x\n"
                    "  cookies: [{domain: example.com, authelia_url: 'https://example.com'}]\n"),
            "configuration.yml:1: authentication_backend.file.path is required");
  EXPECT_NE(errorOf("session: [\n").find("invalid YAML"), std::string::npos);
}

TEST(AutheliaConfig, DurationsInAutheliasSyntax) {
  struct Case {
    std::string_view text;
    Millis want;
  } cases[] = {
      {"90", seconds(90)},
      {"90s", seconds(90)},
      {"5m", minutes(5)},
      {"1h30m", minutes(90)},
      {"1 hour and 30 minutes", minutes(90)},
      {"2 days", hours(48)},
      {"1w", hours(24 * 7)},
      {"1M", hours(24 * 30)},
      {"1y", hours(24 * 365)},
      {"250ms", Millis(250)},
  };
  for (const Case& c : cases) {
    auto d = parseAutheliaDuration(c.text);
    ASSERT_TRUE(d) << c.text << ": " << d.error().message();
    EXPECT_EQ(*d, c.want) << c.text;
  }
  for (std::string_view bad : {"", "m", "5x", "1h30", "-5m", "99999999999999999999h"})
    EXPECT_FALSE(parseAutheliaDuration(bad)) << bad;
}

TEST(AutheliaConfig, RegulationValues) {
  auto c = parse(minimal("regulation: {max_retries: 0}\n"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->max_retries, 0);
  EXPECT_NE(errorOf(minimal("regulation: {max_retries: many}\n"))
                .find("configuration.yml:8: regulation.max_retries"),
            std::string::npos);
}

// ---- users_database.yml ----

base::Result<UsersDatabase> parseUsers(std::string_view yaml) {
  return parseUsersDatabase(yaml, "users.yml");
}

TEST(UsersDatabase, ReadsAutheliasUserFields) {
  auto db =
      parseUsers(fmt::format("users:\n"
                             "  john:\n"
                             "    disabled: false\n"
                             "    displayname: 'John Doe'\n"
                             "    password: '{}'\n"
                             "    email: john.doe@example.com\n"
                             "    groups: [admins, dev]\n"
                             "  alice:\n"
                             "    password: '{}'\n"
                             "    disabled: true\n"
                             "  bob:\n"
                             "    password: '{}'\n"
                             "    groups: users\n",
                             kArgon, kBcrypt, kSha512));
  ASSERT_TRUE(db) << db.error().message();
  ASSERT_EQ(db->users.size(), 3u);
  const AutheliaUser* john = db->find("john");
  ASSERT_NE(john, nullptr);
  EXPECT_EQ(john->display_name, "John Doe");
  EXPECT_EQ(john->email, "john.doe@example.com");
  EXPECT_EQ(john->groups, (std::vector<std::string>{"admins", "dev"}));
  EXPECT_FALSE(john->disabled);
  EXPECT_EQ(john->password.kind, PasswordHash::Kind::Argon2id);
  EXPECT_EQ(john->password.encoded, kArgon);
  EXPECT_EQ(john->line, 2);
  EXPECT_TRUE(db->find("alice")->disabled);
  EXPECT_EQ(db->find("alice")->password.kind, PasswordHash::Kind::Bcrypt);
  EXPECT_EQ(db->find("bob")->password.kind, PasswordHash::Kind::ShaCrypt);
  EXPECT_EQ(db->find("bob")->groups, std::vector<std::string>{"users"});
  EXPECT_EQ(db->find("nobody"), nullptr);
  EXPECT_TRUE(db->warnings.empty());
}

TEST(UsersDatabase, BadHashNamesTheUserAndLine) {
  EXPECT_EQ(parseUsers("users:\n"
                       "  john:\n"
                       "    password: 'hunter2'\n")
                .error()
                .message(),
            "users.yml:3: user 'john': password: not a password hash (burrow reads "
            "$argon2id$..., bcrypt $2b$... and $6$.../$5$...; make one with `burrow auth "
            "hash-password`)");
  const std::string bad_params = parseUsers(
                                     "users:\n  john:\n    password: "
                                     "'$argon2id$v=19$m=65536,t=0,p=4$c29tZXNhbHQ$aGFzaGhhc2g'\n")
                                     .error()
                                     .message();
  EXPECT_NE(bad_params.find("users.yml:3: user 'john': password: bad argon2id hash"),
            std::string::npos)
      << bad_params;
  EXPECT_NE(parseUsers("users:\n  john:\n    password: '$pbkdf2-sha512$310000$c2FsdA$aGFzaA'\n")
                .error()
                .message()
                .find("'pbkdf2-sha512' is not one burrow verifies"),
            std::string::npos);
  EXPECT_NE(parseUsers("users:\n  john:\n    password: '$2b$05$short'\n")
                .error()
                .message()
                .find("bad 2b hash"),
            std::string::npos);
  EXPECT_EQ(parseUsers("users:\n  john:\n    displayname: J\n").error().message(),
            "users.yml:2: user 'john' has no password");
  EXPECT_NE(
      parseUsers(fmt::format("users:\n  john:\n    password: '{}'\n    disabled: maybe\n", kArgon))
          .error()
          .message()
          .find("users.yml:4: users.john.disabled: expected true or false"),
      std::string::npos);
  EXPECT_EQ(
      parseUsers(fmt::format(
                     "users:\n  john:\n    password: '{}'\n    displayname: \"J\\r\\nX-Evil: 1\"\n",
                     kArgon))
          .error()
          .message(),
      "users.yml:2: user 'john': names, email and groups may not hold control characters");
  EXPECT_NE(
      parseUsers(fmt::format("users:\n  john:\n    password: '{}'\n    groups: ['a,b']\n", kArgon))
          .error()
          .message()
          .find("may not be empty or hold a comma"),
      std::string::npos);
  EXPECT_EQ(parseUsers("groups: []\n").error().message(),
            "users.yml:1: users: is required (users: NAME: {password: ...})");
}

TEST(UsersDatabase, UnknownFieldsMakeOneWarning) {
  auto db = parseUsers(fmt::format(
      "users:\n  john:\n    password: '{}'\n    given_name: John\n    locale: en\n", kArgon));
  ASSERT_TRUE(db) << db.error().message();
  ASSERT_EQ(db->warnings.size(), 1u);
  EXPECT_EQ(db->warnings[0],
            "users.yml: keys burrow does not implement (ignored): users.john.given_name (line 4), "
            "users.john.locale (line 5)");
}

TEST(UsersDatabase, LoadsAFile) {
  auto db = loadUsersDatabase(std::string(BURROW_AUTH_TEST_DATA) + "/users_database.yml");
  ASSERT_TRUE(db) << db.error().message();
  EXPECT_NE(db->find("john"), nullptr);
  EXPECT_FALSE(loadUsersDatabase("/nonexistent/users.yml"));
}

TEST(HttpUrl, SplitsWhatThePortalNeeds) {
  auto u = parseHttpUrl("HTTPS://App.Example.com:8443/a/b?c=d#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "app.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->path, "/a/b?c=d");
  u = parseHttpUrl("http://[::1]?x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->path, "/?x");
  for (std::string_view bad :
       {"/relative", "//evil.com/x", "javascript:alert(1)", "https://user@example.com/",
        "https:///x", "https://a b.com/", "https://example.com\\@evil.com"})
    EXPECT_FALSE(parseHttpUrl(bad)) << bad;
  EXPECT_TRUE(hostWithinDomain("example.com", "example.com"));
  EXPECT_TRUE(hostWithinDomain("a.b.example.com", "example.com"));
  EXPECT_FALSE(hostWithinDomain("badexample.com", "example.com"));
  EXPECT_FALSE(hostWithinDomain("example.com.evil.net", "example.com"));
}

}  // namespace
}  // namespace config
