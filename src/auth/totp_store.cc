// The TOTP store (totp_store.h) over SQLite's C API, with OpenSSL's EVP for AES-256-GCM.
#include "auth/totp_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include <fmt/format.h>

#include "base/base.h"
#include "base/unique_fd.h"

namespace auth {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr std::string_view kCheckPlain = "burrow storage key check";
constexpr std::string_view kCheckAad = "burrow:check";

using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

base::Unexpected sqlError(sqlite3* db, std::string_view what) {
  return base::makeError(std::errc::io_error, "{}: {}", what, sqlite3_errmsg(db));
}

base::Result<Stmt> prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK)
    return sqlError(db, "storage");
  return Stmt(s, &sqlite3_finalize);
}

void bindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
void bindBlob(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
std::string columnBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(s, i)) : std::string();
}

}  // namespace

std::string sealSecret(std::string_view key, std::string_view plain, std::string_view aad) {
  std::string out = base::randomBytes(kNonceBytes);
  out.resize(kNonceBytes + plain.size() + kTagBytes);
  auto* u = reinterpret_cast<unsigned char*>(out.data());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0, total = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr);
  EVP_EncryptInit_ex(ctx, nullptr, nullptr, reinterpret_cast<const unsigned char*>(key.data()), u);
  EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                    static_cast<int>(aad.size()));
  EVP_EncryptUpdate(ctx, u + kNonceBytes, &len,
                    reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  total = len;
  EVP_EncryptFinal_ex(ctx, u + kNonceBytes + total, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, u + kNonceBytes + plain.size());
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

std::optional<std::string> openSecret(std::string_view key, std::string_view sealed,
                                      std::string_view aad) {
  if (key.size() != 32 || sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  const size_t n = sealed.size() - kNonceBytes - kTagBytes;
  const auto* u = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string out(n, '\0');
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  bool ok =
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx, nullptr, nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                         u) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u + kNonceBytes,
                        static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          const_cast<unsigned char*>(u + kNonceBytes + n)) == 1 &&
      EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) return std::nullopt;
  return out;
}

base::Result<std::unique_ptr<TotpStore>> TotpStore::open(const std::string& path,
                                                         std::string_view encryption_key) {
  // Created 0600 here, before SQLite opens it: it holds every user's (encrypted) secret.
  // (SQLite creates its journal with the database file's mode.)
  {
    base::UniqueFd fd(
        base::retryEintr([&] { return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); }));
    if (!fd) return base::sysError("storage.local.path {}", path);
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    auto err = base::makeError(std::errc::io_error, "storage.local.path {}: {}", path,
                               db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return err;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(encryption_key.data()), encryption_key.size(),
         digest);
  std::unique_ptr<TotpStore> s(
      new TotpStore(db, std::string(reinterpret_cast<const char*>(digest), sizeof digest)));
  sqlite3_busy_timeout(db, 2000);
  auto schema = s->exec(
      "CREATE TABLE IF NOT EXISTS burrow_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);"
      "CREATE TABLE IF NOT EXISTS totp_configurations ("
      " username TEXT PRIMARY KEY, secret BLOB NOT NULL, created INTEGER NOT NULL,"
      " last_step INTEGER NOT NULL DEFAULT 0);");
  if (!schema) {
    return base::makeError(std::errc::io_error, "storage.local.path {}: {}", path,
                           schema.error().message());
  }
  // Authelia's own database has a totp_configurations table of another shape: refused, rather
  // than failing at the first code.
  if (!prepare(db, "SELECT username, secret, created, last_step FROM totp_configurations")) {
    return base::invalid(
        "storage.local.path {}: a database burrow did not make (Authelia's?): burrow keeps TOTP "
        "configurations in its own format; give it a path of its own",
        path);
  }
  ASSIGN_OR_RETURN(Stmt q, prepare(db, "SELECT value FROM burrow_meta WHERE name = 'key_check'"));
  const int rc = sqlite3_step(q.get());
  if (rc == SQLITE_ROW) {
    auto plain = openSecret(s->key_, columnBlob(q.get(), 0), kCheckAad);
    if (!plain || *plain != kCheckPlain) {
      return base::invalid(
          "storage.encryption_key: not the key the database {} was created with (its TOTP "
          "secrets cannot be read under this one)",
          path);
    }
  } else if (rc == SQLITE_DONE) {
    ASSIGN_OR_RETURN(Stmt ins,
                     prepare(db, "INSERT INTO burrow_meta (name, value) VALUES ('key_check', ?)"));
    bindBlob(ins.get(), 1, sealSecret(s->key_, kCheckPlain, kCheckAad));
    if (sqlite3_step(ins.get()) != SQLITE_DONE) return sqlError(db, "storage: key check");
  } else {
    return sqlError(db, fmt::format("storage.local.path {}", path));
  }
  return s;
}

TotpStore::~TotpStore() { sqlite3_close(db_); }

base::Result<void> TotpStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "error";
    sqlite3_free(msg);
    return base::makeError(std::errc::io_error, "{}", m);
  }
  return {};
}

base::Result<std::optional<TotpConfig>> TotpStore::find(const std::string& user) {
  ASSIGN_OR_RETURN(
      Stmt q, prepare(db_, "SELECT secret, last_step FROM totp_configurations WHERE username = ?"));
  bindText(q.get(), 1, user);
  const int rc = sqlite3_step(q.get());
  if (rc == SQLITE_DONE) return std::optional<TotpConfig>();
  if (rc != SQLITE_ROW) return sqlError(db_, "storage: reading a TOTP configuration");
  auto secret = openSecret(key_, columnBlob(q.get(), 0), "totp:" + user);
  if (!secret) return base::invalid("storage: the TOTP secret of {} does not decrypt", user);
  TotpConfig c;
  c.secret = std::move(*secret);
  c.last_step = static_cast<uint64_t>(sqlite3_column_int64(q.get(), 1));
  return std::optional<TotpConfig>(std::move(c));
}

base::Result<void> TotpStore::save(const std::string& user, const std::string& secret_b32) {
  ASSIGN_OR_RETURN(Stmt q, prepare(db_,
                                   "INSERT OR REPLACE INTO totp_configurations "
                                   "(username, secret, created, last_step) VALUES (?, ?, ?, 0)"));
  bindText(q.get(), 1, user);
  bindBlob(q.get(), 2, sealSecret(key_, secret_b32, "totp:" + user));
  sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(std::time(nullptr)));
  if (sqlite3_step(q.get()) != SQLITE_DONE) return sqlError(db_, "storage: saving a TOTP secret");
  return {};
}

base::Result<void> TotpStore::markUsed(const std::string& user, uint64_t step) {
  ASSIGN_OR_RETURN(Stmt q, prepare(db_,
                                   "UPDATE totp_configurations SET last_step = ? "
                                   "WHERE username = ? AND last_step < ?"));
  sqlite3_bind_int64(q.get(), 1, static_cast<sqlite3_int64>(step));
  bindText(q.get(), 2, user);
  sqlite3_bind_int64(q.get(), 3, static_cast<sqlite3_int64>(step));
  if (sqlite3_step(q.get()) != SQLITE_DONE) return sqlError(db_, "storage: recording a TOTP use");
  return {};
}

}  // namespace auth
