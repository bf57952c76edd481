#include "signing/keys.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/ec_curve.h"
#include "common/openssl_error.h"

namespace signet::signing {
namespace {


absl::Status CheckInputSize(const char* what, size_t size) {
  if (size <= kMaxKeyInputBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " is ", size, " bytes, more than the limit of ", kMaxKeyInputBytes));
}

// Signet only handles EC keys on its three curves; say so at the door rather than at first use.
absl::StatusOr<EvpPkeyPtr> RequireSupportedEcKey(EvpPkeyPtr key) {
  if (absl::StatusOr<EcCurve> curve = EcCurveOfKey(key.get()); !curve.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("public key: ", curve.status().message()));
  }
  return key;
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> PublicKeyFromPem(std::string_view pem) {
  if (absl::Status s = CheckInputSize("PEM public key", pem.size()); !s.ok()) return s;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) OpenSslInvariantFailure("BIO_new_mem_buf");
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no readable PEM PUBLIC KEY block: ", ConsumeOpenSslErrors()));
  }
  return RequireSupportedEcKey(std::move(key));
}

absl::StatusOr<EvpPkeyPtr> PublicKeyFromSpkiDer(std::span<const uint8_t> der) {
  if (absl::Status s = CheckInputSize("DER public key", der.size()); !s.ok()) return s;
  const unsigned char* p = der.data();
  EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a DER SubjectPublicKeyInfo: ", ConsumeOpenSslErrors()));
  }
  if (p != der.data() + der.size()) {
    return absl::InvalidArgumentError(absl::StrCat("DER SubjectPublicKeyInfo has ",
                                                   der.data() + der.size() - p, " bytes of trailing data"));
  }
  return RequireSupportedEcKey(std::move(key));
}

absl::StatusOr<std::vector<uint8_t>> SpkiDer(EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("SpkiDer: no key");
  int len = i2d_PUBKEY(key, nullptr);
  if (len <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode public key: ", ConsumeOpenSslErrors()));
  }
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* out = der.data();
  if (i2d_PUBKEY(key, &out) != len) OpenSslInvariantFailure("i2d_PUBKEY");
  return der;
}

absl::StatusOr<std::string> PublicKeyPem(EVP_PKEY* key) {
  if (key == nullptr) return absl::InvalidArgumentError("PublicKeyPem: no key");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) OpenSslInvariantFailure("BIO_new");
  if (PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode public key: ", ConsumeOpenSslErrors()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) OpenSslInvariantFailure("BIO_get_mem_data");
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace signet::signing
