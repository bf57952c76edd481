#include "keymgmt/x509_builder.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/openssl_error.h"
#include "common/time_text.h"
#include "signing/chain.h"  // kMaxChainBytes

namespace signet::keymgmt {
namespace {

constexpr size_t kSerialBytes = 16;

}  // namespace

void CheckOpenSsl(bool ok, const char* what) {
  if (ok) return;
  std::string errors = ConsumeOpenSslErrors();
  (void)std::fprintf(stderr, "signet: fatal: %s failed: %s\n", what, errors.c_str());
  std::abort();
}

absl::StatusOr<Validity> ValidateValidity(absl::Time not_before, absl::Time not_after) {
  if (not_before == absl::InfinitePast() || not_before == absl::InfiniteFuture() ||
      not_after == absl::InfinitePast() || not_after == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("not_before and not_after must be finite times");
  }
  // X.509 has one-second resolution: compare what will actually be encoded.
  Validity v{absl::ToTimeT(not_before), absl::ToTimeT(not_after)};
  if (v.not_after <= v.not_before) {
    return absl::InvalidArgumentError(absl::StrCat("not_after (", absl::FormatTime(not_after),
                                                   ") must be later than not_before (",
                                                   absl::FormatTime(not_before), ")"));
  }
  return v;
}

X509Ptr NewCertificate(const X509_NAME* subject, const EVP_PKEY* subject_key, const Validity& validity) {
  X509Ptr cert(X509_new());
  CheckOpenSsl(cert != nullptr, "X509_new");
  CheckOpenSsl(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");

  unsigned char serial[kSerialBytes];
  CheckOpenSsl(RAND_bytes(serial, sizeof(serial)) == 1, "RAND_bytes");
  serial[0] = (serial[0] & 0x7f) | 0x40;  // positive, and exactly 16 bytes when DER-encoded
  BignumPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  CheckOpenSsl(bn != nullptr, "BN_bin2bn");
  Asn1IntegerPtr asn1_serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  CheckOpenSsl(asn1_serial != nullptr, "BN_to_ASN1_INTEGER");
  CheckOpenSsl(X509_set_serialNumber(cert.get(), asn1_serial.get()) == 1, "X509_set_serialNumber");

  // ASN1_TIME_set picks UTCTime up to 2049 and GeneralizedTime after, as RFC 5280 requires.
  CheckOpenSsl(ASN1_TIME_set(X509_getm_notBefore(cert.get()), validity.not_before) != nullptr,
               "ASN1_TIME_set");
  CheckOpenSsl(ASN1_TIME_set(X509_getm_notAfter(cert.get()), validity.not_after) != nullptr, "ASN1_TIME_set");
  CheckOpenSsl(X509_set_subject_name(cert.get(), subject) == 1, "X509_set_subject_name");
  // X509_set_pubkey takes a non-const key but only reads it (it encodes the SPKI).
  CheckOpenSsl(X509_set_pubkey(cert.get(), const_cast<EVP_PKEY*>(subject_key)) == 1, "X509_set_pubkey");
  return cert;
}

void AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  CheckOpenSsl(ext != nullptr, value);
  CheckOpenSsl(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

void PushIa5Name(GENERAL_NAMES* names, int type, const std::string& value) {
  Asn1Ia5StringPtr ia5(ASN1_IA5STRING_new());
  CheckOpenSsl(ia5 != nullptr, "ASN1_IA5STRING_new");
  CheckOpenSsl(ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size())) == 1,
               "ASN1_STRING_set");
  GeneralNamePtr gn(GENERAL_NAME_new());
  CheckOpenSsl(gn != nullptr, "GENERAL_NAME_new");
  GENERAL_NAME_set0_value(gn.get(), type, ia5.release());
  CheckOpenSsl(sk_GENERAL_NAME_push(names, gn.get()) > 0, "sk_GENERAL_NAME_push");
  (void)gn.release();
}

absl::Status SignCertificate(X509* cert, EVP_PKEY* key, const EVP_MD* md) {
  if (X509_sign(cert, key, md) <= 0) {
    return absl::InternalError(absl::StrCat("signing the certificate failed: ", ConsumeOpenSslErrors()));
  }
  return absl::OkStatus();
}

std::string CertPem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  CheckOpenSsl(bio != nullptr, "BIO_new");
  CheckOpenSsl(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string CertDer(const X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  CheckOpenSsl(len > 0, "i2d_X509");
  OpenSslBytesPtr owned(der);
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
}

absl::StatusOr<X509Ptr> ParseOnePemCertificate(std::string_view pem, std::string_view what) {
  if (pem.size() > signing::kMaxChainBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Av(what), ": larger than ", signing::kMaxChainBytes, " bytes"));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(Av(what), ": no PEM certificate"));
  }
  // A second certificate in a file meant to hold one is a mistake worth stopping on.
  X509Ptr extra(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (extra) return absl::InvalidArgumentError(absl::StrCat(Av(what), ": holds more than one certificate"));
  return cert;
}

absl::Time CertTime(const ASN1_TIME* t) { return Asn1TimeToTime(t).value_or(absl::InfinitePast()); }

}  // namespace signet::keymgmt
