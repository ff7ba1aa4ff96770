// Private to src/auth: the TOTP configurations in Authelia's storage.local.path, a SQLite
// database. Secrets are stored encrypted with AES-256-GCM under SHA-256(storage.encryption_key),
// a random 12-byte nonce each, the username as associated data; a check value encrypted the
// same way tells a wrong key at open, before any code is checked against garbage.
// A TotpStore owns its connection; it is not thread-safe (the portal's one thread uses it).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace auth {

struct TotpConfig {
  std::string secret;      // base32, as the otpauth URI carries it
  uint64_t last_step = 0;  // the last time step whose code was accepted; 0: none yet
};

class TotpStore {
 public:
  // Opens (creating it 0600 when missing) the database at `path`; an existing database made
  // under another key is an error.
  static base::Result<std::unique_ptr<TotpStore>> open(const std::string& path,
                                                       std::string_view encryption_key);
  ~TotpStore();
  TotpStore(const TotpStore&) = delete;
  TotpStore& operator=(const TotpStore&) = delete;

  base::Result<std::optional<TotpConfig>> find(const std::string& user);
  // Stores `secret_b32` for `user`, replacing any it had.
  base::Result<void> save(const std::string& user, const std::string& secret_b32);
  // Records that `step`'s code was used, so that it is refused from now on (replay).
  base::Result<void> markUsed(const std::string& user, uint64_t step);

 private:
  TotpStore(sqlite3* db, std::string key) : db_(db), key_(std::move(key)) {}
  base::Result<void> exec(const char* sql);

  sqlite3* db_;      // owned; closed by the destructor
  std::string key_;  // 32 bytes: SHA-256 of storage.encryption_key
};

// AES-256-GCM of `plain` under the 32-byte `key`: nonce (12) || ciphertext || tag (16).
std::string sealSecret(std::string_view key, std::string_view plain, std::string_view aad);
// The plaintext, or nothing when the key, the associated data or the bytes are not the sealer's.
std::optional<std::string> openSecret(std::string_view key, std::string_view sealed,
                                      std::string_view aad);

}  // namespace auth
