// RSA key files: loading private and public PEM keys (with the private key's
// permission check) and writing a new key pair the way upstream's key setup
// does (PKCS#1 private, SubjectPublicKeyInfo public).
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>

#include "cybexp/envelope.h"
#include "envelope/openssl_error.h"
#include "util/encoding.h"

namespace cybexp {

struct PrivateKey::Impl {
  EVP_PKEY* pkey = nullptr;
  std::string origin;
  std::size_t modulus_bytes = 0;
  ~Impl() { EVP_PKEY_free(pkey); }
};

struct PublicKey::Impl {
  EVP_PKEY* pkey = nullptr;
  std::string origin;
  std::size_t modulus_bytes = 0;
  ~Impl() { EVP_PKEY_free(pkey); }
};

namespace {

namespace fs = std::filesystem;
using envelope_detail::openssl_failure;

// Key files are a few KiB; anything this big is not one, and reading it whole
// would only waste memory.
constexpr std::size_t kMaxKeyFileSize = 1 << 20;

std::string errno_text(int err) { return std::generic_category().message(err); }

// The label of the first PEM block ("RSA PRIVATE KEY"), or empty if none.
std::string_view pem_label(std::string_view pem) {
  constexpr std::string_view kBegin = "-----BEGIN ";
  const std::size_t start = pem.find(kBegin);
  if (start == std::string_view::npos) return {};
  const std::size_t label = start + kBegin.size();
  const std::size_t end = pem.find("-----", label);
  if (end == std::string_view::npos) return {};
  return pem.substr(label, end - label);
}

struct DecoderFree {
  void operator()(OSSL_DECODER_CTX* c) const { OSSL_DECODER_CTX_free(c); }
};

// Any key type is accepted here so that the caller can say "this is an EC key"
// rather than a generic decoder failure.
Result<EVP_PKEY*> decode_pem(std::string_view pem, int selection, const std::string& what) {
  EVP_PKEY* pkey = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, DecoderFree> dctx(
      OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, nullptr, selection, nullptr, nullptr));
  if (!dctx) return openssl_failure(ErrorKind::kCrypto, "cannot create a PEM decoder");
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  std::size_t len = pem.size();
  if (OSSL_DECODER_from_data(dctx.get(), &data, &len) != 1 || pkey == nullptr) {
    EVP_PKEY_free(pkey);
    return openssl_failure(ErrorKind::kInvalidArgument, "cannot parse " + what);
  }
  return pkey;
}

// Only RSA can decrypt the OAEP session key; say so plainly for anything else.
Result<void> require_rsa(EVP_PKEY* pkey, const std::string& what) {
  if (EVP_PKEY_is_a(pkey, "RSA")) return {};
  const char* type = EVP_PKEY_get0_type_name(pkey);
  return make_error(ErrorKind::kInvalidArgument,
                    what + " is a " + (type != nullptr ? type : "non-RSA") +
                        " key; only RSA keys are supported");
}

// Reads a whole (small) file into T, a byte container.
template <class T>
Result<T> read_key_file(const fs::path& path, const char* what, bool check_permissions) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    return make_error(ErrorKind::kIo,
                      std::string("cannot open ") + what + " " + path.string() + ": " + errno_text(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // fstat on the open descriptor: the mode checked is the mode of the file read.
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return make_error(ErrorKind::kIo, std::string("cannot stat ") + what + " " + path.string() + ": " +
                                          errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorKind::kInvalidArgument,
                      std::string(what) + " " + path.string() + " is not a regular file");
  }
  if (check_permissions && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(ErrorKind::kInvalidArgument,
                      std::string(what) + " " + path.string() + " is readable by group or others (mode " +
                          mode + "): run chmod 600 " + path.string());
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileSize) {
    return make_error(ErrorKind::kInvalidArgument, std::string(what) + " " + path.string() + " is " +
                                                       std::to_string(st.st_size) +
                                                       " bytes, too large to be a key file");
  }
  T buf;
  buf.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return make_error(ErrorKind::kIo, std::string("cannot read ") + what + " " + path.string() + ": " +
                                            errno_text(err));
    }
    if (n == 0) break;  // shrank while we read; parse what is there
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  return buf;
}

// ---- writing -------------------------------------------------------------

struct EncodedFree {
  std::size_t len = 0;
  void operator()(unsigned char* p) const { OPENSSL_clear_free(p, len); }
};
using Encoded = std::unique_ptr<unsigned char, EncodedFree>;

Result<Encoded> encode_pem(EVP_PKEY* pkey, int selection, const char* structure, const char* what) {
  OSSL_ENCODER_CTX* ectx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "PEM", structure, nullptr);
  if (ectx == nullptr || OSSL_ENCODER_CTX_get_num_encoders(ectx) == 0) {
    OSSL_ENCODER_CTX_free(ectx);
    return openssl_failure(ErrorKind::kCrypto, std::string("no PEM encoder for the ") + what);
  }
  unsigned char* data = nullptr;
  std::size_t len = 0;
  const int ok = OSSL_ENCODER_to_data(ectx, &data, &len);
  OSSL_ENCODER_CTX_free(ectx);
  if (ok != 1 || data == nullptr) return openssl_failure(ErrorKind::kCrypto, std::string("cannot encode the ") + what);
  return Encoded(data, EncodedFree{len});
}

Result<void> write_all(int fd, std::span<const std::uint8_t> data, const fs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return make_error(ErrorKind::kIo, "cannot write " + path.string() + ": " + errno_text(err));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// A fully written and fsynced file under a temporary name in the destination's
// directory (so the final rename cannot cross filesystems); removed unless
// published.
class TempFile {
 public:
  static Result<TempFile> create(const fs::path& final_path, std::span<const std::uint8_t> data,
                                 mode_t mode) {
    std::uint8_t rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1) return openssl_failure(ErrorKind::kCrypto, "RAND_bytes failed");
    TempFile t;
    t.final_ = final_path;
    t.temp_ = final_path;
    t.temp_.replace_filename("." + final_path.filename().string() + ".tmp-" + to_hex(rnd));
    // O_EXCL with the final mode: the key is never readable by others, not
    // even for an instant.
    const int fd = ::open(t.temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
      const int err = errno;
      return make_error(ErrorKind::kIo, "cannot create " + t.temp_.string() + ": " + errno_text(err));
    }
    t.owned_ = true;
    Result<void> r = [&]() -> Result<void> {
      // The umask may have removed bits we want (a public key stays 0644).
      if (::fchmod(fd, mode) != 0) {
        const int err = errno;
        return make_error(ErrorKind::kIo, "cannot chmod " + t.temp_.string() + ": " + errno_text(err));
      }
      CYBEXP_TRY_VOID(write_all(fd, data, t.temp_));
      if (::fsync(fd) != 0) {
        const int err = errno;
        return make_error(ErrorKind::kIo, "cannot fsync " + t.temp_.string() + ": " + errno_text(err));
      }
      return {};
    }();
    const int close_rc = ::close(fd);
    const int close_err = errno;
    if (!r) return std::unexpected(std::move(r).error());
    if (close_rc != 0)
      return make_error(ErrorKind::kIo, "cannot close " + t.temp_.string() + ": " + errno_text(close_err));
    return t;
  }

  // Moves the file to its final name. Without force an existing file wins,
  // checked atomically by the kernel rather than by an earlier stat.
  Result<void> publish(bool force) {
    int rc;
    if (force) {
      rc = ::rename(temp_.c_str(), final_.c_str());
    } else {
      rc = ::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, final_.c_str(), RENAME_NOREPLACE);
      if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
        // Filesystem without RENAME_NOREPLACE: link() also refuses to replace.
        rc = ::link(temp_.c_str(), final_.c_str());
        if (rc == 0) ::unlink(temp_.c_str());
      }
    }
    if (rc != 0) {
      const int err = errno;
      if (err == EEXIST) return already_exists(final_);
      return make_error(ErrorKind::kIo, "cannot rename " + temp_.string() + " to " + final_.string() +
                                            ": " + errno_text(err));
    }
    owned_ = false;
    sync_directory();
    return {};
  }

  static std::unexpected<Error> already_exists(const fs::path& p) {
    return make_error(ErrorKind::kInvalidArgument,
                      p.string() + " already exists: pass --force to overwrite it");
  }

  TempFile(TempFile&& o) noexcept
      : temp_(std::move(o.temp_)), final_(std::move(o.final_)), owned_(std::exchange(o.owned_, false)) {}
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (owned_) ::unlink(temp_.c_str());
  }

 private:
  TempFile() = default;

  // Makes the rename itself durable. Best effort: some filesystems refuse
  // fsync on a directory, and the data is already safe.
  void sync_directory() const {
    fs::path dir = final_.parent_path();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

  fs::path temp_, final_;
  bool owned_ = false;
};

}  // namespace

// ---- PrivateKey ----------------------------------------------------------

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem, std::string origin) {
  const std::string what = "private key " + origin;
  const std::string_view label = pem_label(pem);
  if (label.empty()) {
    return make_error(ErrorKind::kInvalidArgument,
                      what + " is not a PEM key (no -----BEGIN line)");
  }
  if (label == "ENCRYPTED PRIVATE KEY" || pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
    return make_error(ErrorKind::kInvalidArgument,
                      what + " is passphrase-protected, which is not supported: "
                             "store it unencrypted with mode 0600");
  }
  if (label != "RSA PRIVATE KEY" && label != "PRIVATE KEY") {
    return make_error(ErrorKind::kInvalidArgument,
                      what + " is a PEM \"" + std::string(label) +
                          "\"; expected an RSA private key (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)");
  }
  EVP_PKEY* pkey = CYBEXP_TRY(decode_pem(pem, EVP_PKEY_KEYPAIR, what));
  auto impl = std::make_shared<Impl>();
  impl->pkey = pkey;  // owned from here on, freed by ~Impl on any error below
  impl->origin = std::move(origin);
  CYBEXP_TRY_VOID(require_rsa(pkey, what));
  impl->modulus_bytes = static_cast<std::size_t>(EVP_PKEY_get_size(pkey));
  PrivateKey key;
  key.impl_ = std::move(impl);
  return key;
}

Result<PrivateKey> PrivateKey::load_file(const fs::path& path, bool check_permissions) {
  // SecureBytes: the PEM text is the key itself.
  SecureBytes pem = CYBEXP_TRY(read_key_file<SecureBytes>(path, "private key", check_permissions));
  return from_pem(as_text(pem), path.string());
}

std::size_t PrivateKey::modulus_bytes() const { return impl_ ? impl_->modulus_bytes : 0; }

const std::string& PrivateKey::origin() const {
  static const std::string kNone = "<no key>";
  return impl_ ? impl_->origin : kNone;
}

void* PrivateKey::evp_pkey() const { return impl_ ? impl_->pkey : nullptr; }

// ---- PublicKey -----------------------------------------------------------

Result<PublicKey> PublicKey::from_pem(std::string_view pem, std::string origin) {
  const std::string what = "public key " + origin;
  const std::string_view label = pem_label(pem);
  if (label != "PUBLIC KEY" && label != "RSA PUBLIC KEY") {
    return make_error(ErrorKind::kInvalidArgument,
                      what + " is not a PEM public key (expected BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)");
  }
  EVP_PKEY* pkey = CYBEXP_TRY(decode_pem(pem, EVP_PKEY_PUBLIC_KEY, what));
  auto impl = std::make_shared<Impl>();
  impl->pkey = pkey;
  impl->origin = std::move(origin);
  CYBEXP_TRY_VOID(require_rsa(pkey, what));
  impl->modulus_bytes = static_cast<std::size_t>(EVP_PKEY_get_size(pkey));
  PublicKey key;
  key.impl_ = std::move(impl);
  return key;
}

Result<PublicKey> PublicKey::load_file(const fs::path& path) {
  std::string pem = CYBEXP_TRY(read_key_file<std::string>(path, "public key", false));
  return from_pem(pem, path.string());
}

std::size_t PublicKey::modulus_bytes() const { return impl_ ? impl_->modulus_bytes : 0; }

void* PublicKey::evp_pkey() const { return impl_ ? impl_->pkey : nullptr; }

// ---- generate_key_pair ---------------------------------------------------

Result<void> generate_key_pair(const fs::path& private_path, const fs::path& public_path, int bits,
                               bool force) {
  if (bits < 2048) {
    return make_error(ErrorKind::kInvalidArgument,
                      "RSA key size " + std::to_string(bits) + " is too small: use at least 2048 bits");
  }
  if (bits > 16384) {
    return make_error(ErrorKind::kInvalidArgument,
                      "RSA key size " + std::to_string(bits) + " is too large: use at most 16384 bits");
  }
  std::error_code ec1, ec2;
  const fs::path priv_abs = fs::weakly_canonical(private_path, ec1);
  const fs::path pub_abs = fs::weakly_canonical(public_path, ec2);
  if (private_path == public_path || (!ec1 && !ec2 && priv_abs == pub_abs)) {
    return make_error(ErrorKind::kInvalidArgument,
                      "private and public key paths are the same: " + private_path.string());
  }
  // Checked up front so that nothing is generated or written when either file
  // is in the way; publish() re-checks atomically.
  if (!force) {
    for (const fs::path& p : {private_path, public_path}) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(p, ec))) return TempFile::already_exists(p);
    }
  }

  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits));
  if (raw == nullptr) return openssl_failure(ErrorKind::kCrypto, "RSA key generation failed");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(raw, &EVP_PKEY_free);

  // "type-specific" is PKCS#1 (BEGIN RSA PRIVATE KEY), as pycryptodome's
  // export_key writes it upstream.
  Encoded priv_pem = CYBEXP_TRY(encode_pem(pkey.get(), EVP_PKEY_KEYPAIR, "type-specific", "private key"));
  Encoded pub_pem =
      CYBEXP_TRY(encode_pem(pkey.get(), EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo", "public key"));

  // Both files are written in full before either is put in place.
  TempFile priv = CYBEXP_TRY(TempFile::create(
      private_path, {priv_pem.get(), priv_pem.get_deleter().len}, 0600));
  TempFile pub = CYBEXP_TRY(TempFile::create(
      public_path, {pub_pem.get(), pub_pem.get_deleter().len}, 0644));
  CYBEXP_TRY_VOID(priv.publish(force));
  CYBEXP_TRY_VOID(pub.publish(force));
  return {};
}

}  // namespace cybexp
