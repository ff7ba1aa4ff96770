// The TOTP store on a real SQLite file in a temp dir: secrets round-trip encrypted (never in
// clear on disk), the file is 0600, a wrong key is refused at open, used steps are kept.
#include "auth/totp_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "base/base.h"

namespace auth {
namespace {

constexpr std::string_view kKey = "a_very_important_secret";
constexpr std::string_view kSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

std::string tempDb(std::string_view name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("burrow-totp-store-" + base::hexEncode(base::randomBytes(6)));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(TotpStore, KeepsSecretsEncryptedInA0600File) {
  const std::string path = tempDb("db.sqlite3");
  {
    auto s = TotpStore::open(path, kKey);
    ASSERT_TRUE(s) << s.error().message();
    auto none = (*s)->find("john");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE((*s)->save("john", std::string(kSecret)));
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.find(kSecret), std::string::npos);

  auto s = TotpStore::open(path, kKey);  // reopened: the enrolment is still there
  ASSERT_TRUE(s) << s.error().message();
  auto c = (*s)->find("john");
  ASSERT_TRUE(c && c->has_value());
  EXPECT_EQ((*c)->secret, kSecret);
  EXPECT_EQ((*c)->last_step, 0u);
  ASSERT_TRUE((*s)->markUsed("john", 1000));
  ASSERT_TRUE((*s)->markUsed("john", 999));  // never goes back
  EXPECT_EQ((*(*s)->find("john"))->last_step, 1000u);
  ASSERT_TRUE((*s)->save("john", "ANOTHERSECRET234"));  // a new enrolment starts afresh
  EXPECT_EQ((*(*s)->find("john"))->last_step, 0u);
}

TEST(TotpStore, AWrongKeyIsRefusedAtOpen) {
  const std::string path = tempDb("db.sqlite3");
  ASSERT_TRUE(TotpStore::open(path, kKey));
  auto s = TotpStore::open(path, "another_key_of_20_characters");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("storage.encryption_key: not the key the database"),
            std::string::npos)
      << s.error().message();
  EXPECT_FALSE(TotpStore::open("/nonexistent-dir/db.sqlite3", kKey));
}

TEST(TotpStore, AnAutheliaDatabaseIsRefused) {
  const std::string path = tempDb("authelia.sqlite3");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE totp_configurations (id INTEGER PRIMARY KEY, created_at "
                         "TIMESTAMP, last_used_at TIMESTAMP, username VARCHAR(100), issuer "
                         "VARCHAR(100), algorithm VARCHAR(6), digits INTEGER, period INTEGER, "
                         "secret BLOB)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = TotpStore::open(path, kKey);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("a database burrow did not make"), std::string::npos)
      << s.error().message();
}

TEST(TotpStore, SealedSecretsAreBoundToKeyAndUser) {
  const std::string key(32, 'k');
  const std::string sealed = sealSecret(key, "secret", "totp:john");
  EXPECT_EQ(sealed.size(), 12u + 6u + 16u);
  EXPECT_EQ(openSecret(key, sealed, "totp:john"), "secret");
  EXPECT_FALSE(openSecret(key, sealed, "totp:jane"));
  EXPECT_FALSE(openSecret(std::string(32, 'x'), sealed, "totp:john"));
  std::string flipped = sealed;
  flipped[14] ^= 1;
  EXPECT_FALSE(openSecret(key, flipped, "totp:john"));
  EXPECT_FALSE(openSecret(key, sealed.substr(0, 20), "totp:john"));
  EXPECT_NE(sealSecret(key, "secret", "totp:john"), sealed);  // a fresh nonce each time
}

}  // namespace
}  // namespace auth
