// Password hashes: argon2id through libargon2, bcrypt and SHA-crypt through crypt_r(3).
#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>

#include <memory>
#include <string>
#include <string_view>

#include "auth/internal.h"
#include "base/base.h"

namespace auth {
namespace {

// Authelia's defaults for new argon2id hashes.
constexpr uint32_t kIterations = 3;
constexpr uint32_t kMemoryKib = 65536;
constexpr uint32_t kParallelism = 4;
constexpr size_t kKeyBytes = 32;
constexpr size_t kSaltBytes = 16;
// Longer passwords are refused rather than hashed: they can only be an attack on CPU time.
constexpr size_t kMaxPasswordBytes = 1024;

}  // namespace

base::Result<std::string> hashPassword(std::string_view password) {
  if (password.size() > kMaxPasswordBytes)
    return base::invalid("a password may be at most {} bytes", kMaxPasswordBytes);
  const std::string salt = base::randomBytes(kSaltBytes);
  const size_t len =
      argon2_encodedlen(kIterations, kMemoryKib, kParallelism, kSaltBytes, kKeyBytes, Argon2_id);
  std::string encoded(len, '\0');
  const int rc =
      argon2id_hash_encoded(kIterations, kMemoryKib, kParallelism, password.data(), password.size(),
                            salt.data(), salt.size(), kKeyBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return base::invalid("argon2id: {}", argon2_error_message(rc));
  encoded.resize(encoded.find('\0'));
  return encoded;
}

bool verifyPassword(const config::PasswordHash& hash, std::string_view password) {
  if (password.size() > kMaxPasswordBytes) return false;
  if (hash.kind == config::PasswordHash::Kind::Argon2id) {
    // argon2_verify recomputes the hash and compares it in constant time.
    return argon2id_verify(hash.encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
  }
  // crypt(3) reads C strings: a password with a NUL in it cannot be the stored one.
  if (password.find('\0') != std::string_view::npos) return false;
  auto data = std::make_unique<crypt_data>();
  const std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.encoded.c_str(), data.get());
  if (!out || out[0] == '*') return false;
  const std::string_view got(out);
  return got.size() == hash.encoded.size() &&
         CRYPTO_memcmp(got.data(), hash.encoded.data(), got.size()) == 0;
}

}  // namespace auth
