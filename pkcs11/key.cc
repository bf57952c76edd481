#include "pkcs11/key.h"

#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hex.h"
#include "pkcs11/error.h"
#include "pkcs11/objects.h"

namespace signet::pkcs11 {
namespace {

absl::Status CheckLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key label must be 1..", kMaxLabelBytes, " bytes, got ", label.size()));
  }
  for (size_t i = 0; i < label.size(); ++i) {
    const auto c = static_cast<unsigned char>(label[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat("key label contains a control character (0x", absl::Hex(c),
                                                     ") at offset ", i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> SpkiDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return absl::InternalError("i2d_PUBKEY failed");
  OpenSslBytesPtr owned(der);
  return std::vector<uint8_t>(der, der + len);
}

// Reads the public half of the key pair whose private key is `private_key` (from `public_key` when the
// caller knows it, else the one public key object with the same CKA_ID), and fills an EcKeyInfo.
absl::StatusOr<EcKeyInfo> DescribeKey(const Session& session, CK_OBJECT_HANDLE private_key,
                                      CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE) {
  EcKeyInfo info;
  auto id = GetAttributeBytes(session, private_key, CKA_ID, 256);
  if (!id.ok()) return id.status();
  info.id = *std::move(id);
  auto label = GetAttributeBytes(session, private_key, CKA_LABEL, kMaxLabelBytes);
  if (label.ok()) info.label.assign(label->begin(), label->end());

  if (public_key == CK_INVALID_HANDLE) {
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE kt = CKK_EC;
    CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, &cls), Attr(CKA_KEY_TYPE, &kt),
                           AttrBytes(CKA_ID, info.id.data(), info.id.size())};
    auto pubs = FindObjects(session, tmpl, 16);
    if (!pubs.ok()) return pubs.status();
    if (pubs->empty()) {
      return absl::NotFoundError(
          absl::StrCat("key '", info.label, "' (id ", HexEncode(info.id), ") has no public key object on the token"));
    }
    // Public objects can be created by anyone with a session: an ambiguous id is refused, never guessed.
    if (pubs->size() > 1) {
      return absl::FailedPreconditionError(absl::StrCat("key '", info.label, "' (id ", HexEncode(info.id), "): ",
                                                        pubs->size(), " public key objects share its id"));
    }
    public_key = pubs->front();
  }
  auto params = GetAttributeBytes(session, public_key, CKA_EC_PARAMS, 256);
  if (!params.ok()) return params.status();
  auto curve = EcCurveFromOidDer(*params);
  if (!curve.ok()) return WithContext(curve.status(), absl::StrCat("key '", info.label, "'"));
  info.curve = *curve;
  auto point = GetAttributeBytes(session, public_key, CKA_EC_POINT, 512);
  if (!point.ok()) return point.status();
  auto pub = EcPublicKey(info.curve, *point);
  if (!pub.ok()) return WithContext(pub.status(), absl::StrCat("key '", info.label, "'"));
  info.public_key = *std::move(pub);
  auto spki = SpkiDer(info.public_key.get());
  if (!spki.ok()) return spki.status();
  info.spki_der = *std::move(spki);
  return info;
}

}  // namespace

std::string KeyQuery::Describe() const {
  std::string d;
  if (label) absl::StrAppend(&d, "label '", *label, "'");
  if (id) absl::StrAppend(&d, d.empty() ? "" : ", ", "id ", HexEncode(*id));
  return d.empty() ? "any key" : d;
}

absl::StatusOr<EvpPkeyPtr> EcPublicKey(EcCurve curve, std::span<const uint8_t> ec_point) {
  const EcCurveInfo& ci = GetEcCurveInfo(curve);
  const size_t raw_len = 1 + 2 * ci.field_bytes;
  std::vector<uint8_t> point;
  if (ec_point.size() == raw_len && ec_point[0] == 0x04) {
    point.assign(ec_point.begin(), ec_point.end());  // some modules return the bare point
  } else {
    const unsigned char* p = ec_point.data();
    Asn1OctetStringPtr os(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(ec_point.size())));
    if (!os || p != ec_point.data() + ec_point.size()) {
      return absl::InvalidArgumentError("CKA_EC_POINT is neither a DER OCTET STRING nor an uncompressed point");
    }
    point.assign(ASN1_STRING_get0_data(os.get()), ASN1_STRING_get0_data(os.get()) + ASN1_STRING_length(os.get()));
  }
  if (point.size() != raw_len || point[0] != 0x04) {
    return absl::InvalidArgumentError(
        absl::StrCat("CKA_EC_POINT is not an uncompressed ", Av(ci.name), " point (", point.size(), " bytes)"));
  }
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, ci.openssl_group.data(), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return absl::InternalError("OSSL_PARAM_BLD failed");
  }
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("CKA_EC_POINT is not a valid ", Av(ci.name), " point"));
  }
  EvpPkeyPtr key(raw);
  // fromdata does not check that the point is on the curve; do it here.
  EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("CKA_EC_POINT is not on ", Av(ci.name)));
  }
  return key;
}

absl::StatusOr<EcKeyInfo> GenerateEcKey(const Session& session, EcCurve curve, std::string_view label) {
  if (auto s = CheckLabel(label); !s.ok()) return s;
  const Module& m = session.module();

  // Refuse a label that any object already carries: labels are how operators and rotation name keys.
  CK_ATTRIBUTE label_tmpl[] = {AttrBytes(CKA_LABEL, label.data(), label.size())};
  auto existing = FindObjects(session, label_tmpl);
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    return absl::AlreadyExistsError(absl::StrCat("an object labelled '", Av(label), "' already exists on the token"));
  }

  std::vector<uint8_t> id(kKeyIdBytes);
  if (auto s = SIGNET_P11(m, C_GenerateRandom, session.handle(), id.data(), id.size()); !s.ok()) return s;

  const EcCurveInfo& ci = GetEcCurveInfo(curve);
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE pub_tmpl[] = {
      AttrBytes(CKA_EC_PARAMS, ci.oid_der.data(), ci.oid_der.size()),
      Attr(CKA_TOKEN, &yes),
      Attr(CKA_PRIVATE, &no),
      Attr(CKA_VERIFY, &yes),
      Attr(CKA_ENCRYPT, &no),
      Attr(CKA_WRAP, &no),
      Attr(CKA_DERIVE, &no),
      AttrBytes(CKA_LABEL, label.data(), label.size()),
      AttrBytes(CKA_ID, id.data(), id.size()),
  };
  CK_ATTRIBUTE priv_tmpl[] = {
      Attr(CKA_TOKEN, &yes),
      Attr(CKA_PRIVATE, &yes),
      Attr(CKA_SENSITIVE, &yes),
      Attr(CKA_EXTRACTABLE, &no),
      Attr(CKA_SIGN, &yes),
      Attr(CKA_DECRYPT, &no),
      Attr(CKA_UNWRAP, &no),
      Attr(CKA_DERIVE, &no),
      Attr(CKA_SIGN_RECOVER, &no),
      AttrBytes(CKA_LABEL, label.data(), label.size()),
      AttrBytes(CKA_ID, id.data(), id.size()),
  };
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE;
  {
    auto lock = LockTokenObjects();  // not held by DescribeKey below: it searches, and takes it itself
    if (auto s = SIGNET_P11(m, C_GenerateKeyPair, session.handle(), &mech, pub_tmpl, std::size(pub_tmpl), priv_tmpl,
                            std::size(priv_tmpl), &pub, &priv);
        !s.ok()) {
      return WithContext(s, absl::StrCat("generating ", Av(ci.name), " key '", Av(label), "'"));
    }
  }
  return DescribeKey(session, priv, pub);
}

absl::StatusOr<EcKeyInfo> FindEcKey(const Session& session, const KeyQuery& query) {
  if (!query.label && !query.id) return absl::InvalidArgumentError("key query needs a label or an id");
  if (query.label) {
    if (auto s = CheckLabel(*query.label); !s.ok()) return s;
  }
  if (query.id && (query.id->empty() || query.id->size() > 256)) {
    return absl::InvalidArgumentError("key id must be 1..256 bytes");
  }
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE kt = CKK_EC;
  std::vector<CK_ATTRIBUTE> tmpl = {Attr(CKA_CLASS, &cls), Attr(CKA_KEY_TYPE, &kt)};
  if (query.label) tmpl.push_back(AttrBytes(CKA_LABEL, query.label->data(), query.label->size()));
  if (query.id) tmpl.push_back(AttrBytes(CKA_ID, query.id->data(), query.id->size()));
  auto found = FindObjects(session, tmpl, 16);
  if (!found.ok()) return found.status();
  if (found->empty()) return absl::NotFoundError(absl::StrCat("no EC private key with ", query.Describe()));
  if (found->size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(found->size(), " EC private keys match ", query.Describe(), "; select by id"));
  }
  return DescribeKey(session, found->front());
}

absl::StatusOr<std::vector<EcKeyInfo>> ListEcKeys(const Session& session) {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_KEY_TYPE kt = CKK_EC;
  CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, &cls), Attr(CKA_KEY_TYPE, &kt)};
  auto found = FindObjects(session, tmpl);
  if (!found.ok()) return found.status();
  std::vector<EcKeyInfo> keys;
  for (CK_OBJECT_HANDLE h : *found) {
    auto info = DescribeKey(session, h);
    if (info.ok()) {
      keys.push_back(*std::move(info));
    } else if (info.status().code() != absl::StatusCode::kNotFound &&
               info.status().code() != absl::StatusCode::kInvalidArgument &&
               info.status().code() != absl::StatusCode::kFailedPrecondition) {
      return info.status();  // a session or device error: not a key to skip
    }
  }
  return keys;
}

absl::StatusOr<CK_OBJECT_HANDLE> FindPrivateKeyHandle(const Session& session, std::span<const uint8_t> id) {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, &cls), AttrBytes(CKA_ID, id.data(), id.size())};
  auto found = FindObjects(session, tmpl, 2);
  if (!found.ok()) return found.status();
  if (found->empty()) return absl::NotFoundError(absl::StrCat("no private key with id ", HexEncode(id)));
  if (found->size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat("several private keys share id ", HexEncode(id)));
  }
  return found->front();
}

absl::StatusOr<PrivateKeyProtection> GetPrivateKeyProtection(const Session& session, std::span<const uint8_t> id) {
  auto handle = FindPrivateKeyHandle(session, id);
  if (!handle.ok()) return handle.status();
  PrivateKeyProtection p;
  struct {
    CK_ATTRIBUTE_TYPE type;
    bool* out;
  } attrs[] = {{CKA_SENSITIVE, &p.sensitive},
               {CKA_EXTRACTABLE, &p.extractable},
               {CKA_ALWAYS_SENSITIVE, &p.always_sensitive},
               {CKA_NEVER_EXTRACTABLE, &p.never_extractable}};
  for (const auto& a : attrs) {
    auto v = GetAttributeBool(session, *handle, a.type);
    if (!v.ok()) return v.status();
    *a.out = *v;
  }
  return p;
}

absl::StatusOr<std::vector<uint8_t>> SignDigest(const Session& session, CK_OBJECT_HANDLE key, EcCurve curve,
                                                std::span<const uint8_t> digest) {
  if (digest.empty() || digest.size() > kMaxDigestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest must be 1..", kMaxDigestBytes, " bytes, got ", digest.size()));
  }
  const Module& m = session.module();
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  if (auto s = SIGNET_P11(m, C_SignInit, session.handle(), &mech, key); !s.ok()) return s;
  const size_t expected = 2 * GetEcCurveInfo(curve).field_bytes;
  std::vector<uint8_t> sig(kMaxSignatureBytes);
  CK_ULONG len = sig.size();
  if (auto s = SIGNET_P11(m, C_Sign, session.handle(), const_cast<uint8_t*>(digest.data()), digest.size(),
                          sig.data(), &len);
      !s.ok()) {
    return s;
  }
  if (len != expected) {
    // CKM_ECDSA returns r||s at the curve's size; anything else is a wrong key or a broken module.
    return absl::DataLossError(absl::StrCat("C_Sign returned ", len, " bytes; ", Av(GetEcCurveInfo(curve).name),
                                            " needs ", expected));
  }
  sig.resize(len);
  return sig;
}

absl::Status DestroyKeyObjects(const Session& session, std::span<const uint8_t> id) {
  if (id.empty()) return absl::InvalidArgumentError("key id is empty");
  CK_ATTRIBUTE tmpl[] = {AttrBytes(CKA_ID, id.data(), id.size())};
  auto found = FindObjects(session, tmpl, 64);
  if (!found.ok()) return found.status();
  for (CK_OBJECT_HANDLE h : *found) {
    if (auto s = DestroyObject(session, h); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace signet::pkcs11
