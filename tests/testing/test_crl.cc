#include "tests/testing/test_crl.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>

namespace signet::testing {
namespace {

using Asn1TimePtr = OpenSslPtr<ASN1_TIME, ASN1_TIME_free>;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "MakeCrl: %s failed\n", what);
    std::abort();
  }
}

Asn1TimePtr Time(absl::Time t) { return Asn1TimePtr(ASN1_TIME_set(nullptr, absl::ToTimeT(t))); }

}  // namespace

std::string MakeCrl(const CrlSpec& spec) {
  X509CrlPtr crl(X509_CRL_new());
  Check(crl != nullptr, "X509_CRL_new");
  Check(X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) == 1, "X509_CRL_set_version");
  Check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(spec.issuer)) == 1, "set_issuer_name");
  Check(X509_CRL_set1_lastUpdate(crl.get(), Time(spec.this_update).get()) == 1, "set1_lastUpdate");
  if (spec.next_update) Check(X509_CRL_set1_nextUpdate(crl.get(), Time(*spec.next_update).get()) == 1, "nextUpdate");
  for (const X509* cert : spec.revoked) {
    X509RevokedPtr r(X509_REVOKED_new());
    Check(r != nullptr, "X509_REVOKED_new");
    Check(X509_REVOKED_set_serialNumber(r.get(), const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(cert))) == 1,
          "X509_REVOKED_set_serialNumber");
    Check(X509_REVOKED_set_revocationDate(r.get(), Time(spec.this_update).get()) == 1, "set_revocationDate");
    Check(X509_CRL_add0_revoked(crl.get(), r.release()) == 1, "X509_CRL_add0_revoked");
  }
  Check(X509_CRL_sort(crl.get()) == 1, "X509_CRL_sort");
  Check(X509_CRL_sign(crl.get(), const_cast<EVP_PKEY*>(spec.signing_key), EVP_sha256()) > 0, "X509_CRL_sign");
  if (spec.der) {
    unsigned char* der = nullptr;
    const int n = i2d_X509_CRL(crl.get(), &der);
    Check(n > 0, "i2d_X509_CRL");
    std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    return out;
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509_CRL(bio.get(), crl.get()) == 1, "PEM_write_bio_X509_CRL");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace signet::testing
