#include "pkcs11/certificate.h"

#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/openssl_ptr.h"
#include "pkcs11/objects.h"

namespace signet::pkcs11 {
namespace {

template <typename T, int (*I2d)(const T*, unsigned char**)>
absl::StatusOr<std::vector<uint8_t>> ToDer(const T* value, std::string_view what) {
  unsigned char* der = nullptr;
  int len = I2d(value, &der);
  if (len <= 0) return absl::InvalidArgumentError(absl::StrCat("certificate: cannot encode ", Av(what)));
  OpenSslBytesPtr owned(der);
  return std::vector<uint8_t>(der, der + len);
}

}  // namespace

absl::Status StoreCertificate(const Session& session, std::span<const uint8_t> der, std::span<const uint8_t> id,
                              std::string_view label) {
  if (der.empty() || der.size() > kMaxCertificateBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate must be 1..", kMaxCertificateBytes, " bytes of DER, got ", der.size()));
  }
  if (id.empty() || id.size() > 256) return absl::InvalidArgumentError("certificate CKA_ID must be 1..256 bytes");
  if (label.empty() || label.size() > 128) return absl::InvalidArgumentError("certificate label must be 1..128 bytes");
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) {
    return absl::InvalidArgumentError("certificate is not one DER X.509 certificate");
  }
  auto subject = ToDer<X509_NAME, i2d_X509_NAME>(X509_get_subject_name(cert.get()), "subject");
  if (!subject.ok()) return subject.status();
  auto issuer = ToDer<X509_NAME, i2d_X509_NAME>(X509_get_issuer_name(cert.get()), "issuer");
  if (!issuer.ok()) return issuer.status();
  auto serial = ToDer<ASN1_INTEGER, i2d_ASN1_INTEGER>(X509_get0_serialNumber(cert.get()), "serial");
  if (!serial.ok()) return serial.status();

  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  CK_CERTIFICATE_TYPE type = CKC_X_509;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      Attr(CKA_CLASS, &cls),
      Attr(CKA_CERTIFICATE_TYPE, &type),
      Attr(CKA_TOKEN, &yes),
      Attr(CKA_PRIVATE, &no),
      AttrBytes(CKA_LABEL, label.data(), label.size()),
      AttrBytes(CKA_ID, id.data(), id.size()),
      AttrBytes(CKA_SUBJECT, subject->data(), subject->size()),
      AttrBytes(CKA_ISSUER, issuer->data(), issuer->size()),
      AttrBytes(CKA_SERIAL_NUMBER, serial->data(), serial->size()),
      AttrBytes(CKA_VALUE, der.data(), der.size()),
  };
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  auto lock = LockTokenObjects();
  return SIGNET_P11(session.module(), C_CreateObject, session.handle(), tmpl, std::size(tmpl), &handle);
}

absl::StatusOr<std::vector<CertificateObject>> FindCertificates(const Session& session,
                                                                std::optional<std::span<const uint8_t>> id) {
  CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
  CK_CERTIFICATE_TYPE type = CKC_X_509;
  std::vector<CK_ATTRIBUTE> tmpl = {Attr(CKA_CLASS, &cls), Attr(CKA_CERTIFICATE_TYPE, &type)};
  if (id) tmpl.push_back(AttrBytes(CKA_ID, id->data(), id->size()));
  auto handles = FindObjects(session, tmpl);
  if (!handles.ok()) return handles.status();
  std::vector<CertificateObject> certs;
  for (CK_OBJECT_HANDLE h : *handles) {
    CertificateObject c;
    c.handle = h;
    auto value = GetAttributeBytes(session, h, CKA_VALUE, kMaxCertificateBytes);
    if (!value.ok()) return value.status();
    c.der = *std::move(value);
    auto cid = GetAttributeBytes(session, h, CKA_ID, 256);
    if (cid.ok()) c.id = *std::move(cid);
    auto label = GetAttributeBytes(session, h, CKA_LABEL, 128);
    if (label.ok()) c.label.assign(label->begin(), label->end());
    certs.push_back(std::move(c));
  }
  return certs;
}

}  // namespace signet::pkcs11
