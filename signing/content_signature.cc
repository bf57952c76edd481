#include "signing/content_signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/openssl_ptr.h"
#include "signing/base64url.h"
#include "common/openssl_error.h"

namespace signet::signing {
namespace {


// "P-384 (p384ecdsa)", for error messages.
std::string CurveLabel(const EcCurveInfo& info) {
  return absl::StrCat(Av(info.name), " (", Av(info.cs_param), ")");
}

absl::Status CheckRawLength(const EcCurveInfo& info, size_t len) {
  if (len == 2 * info.field_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("signature is ", len, " bytes; ", CurveLabel(info),
                                                 " signatures are ", 2 * info.field_bytes, " bytes (r||s, ",
                                                 info.field_bytes, " bytes each)"));
}

// Longest canonical DER ECDSA-Sig-Value for the curve: each INTEGER has a 2-byte header and up to
// field_bytes + 1 content bytes (a 0x00 sign byte); the SEQUENCE needs a 3-byte header once its content
// passes 127 bytes, which covers all three curves.
size_t MaxDerSignatureBytes(const EcCurveInfo& info) { return 3 + 2 * (2 + info.field_bytes + 1); }

// Trims spaces and tabs (the "optional spaces" around header parts).
std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A header fragment safe to put in an error message: escaped and bounded.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxQuoted = 64;
  std::string out = absl::StrCat("'", absl::CHexEscape(Av(s.substr(0, kMaxQuoted))), "'");
  if (s.size() > kMaxQuoted) absl::StrAppend(&out, "...");
  return out;
}

std::optional<EcCurve> CurveForParam(std::string_view name) {
  for (EcCurve c : {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521}) {
    if (GetEcCurveInfo(c).cs_param == name) return c;
  }
  return std::nullopt;
}

absl::Status HeaderError(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("Content-Signature header: ", Av(what)));
}

}  // namespace

std::vector<uint8_t> ContentSignatureDigest(EcCurve curve, std::span<const uint8_t> data) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) OpenSslInvariantFailure("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex(ctx.get(), info.md(), nullptr) != 1) OpenSslInvariantFailure("EVP_DigestInit_ex");
  if (EVP_DigestUpdate(ctx.get(), kContentSignaturePrefix.data(), kContentSignaturePrefix.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1) {
    OpenSslInvariantFailure("EVP_DigestUpdate");
  }
  std::vector<uint8_t> digest(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1) OpenSslInvariantFailure("EVP_DigestFinal_ex");
  if (len != info.digest_bytes) OpenSslInvariantFailure("digest size check");
  digest.resize(len);
  return digest;
}

absl::Status CheckDigestLength(EcCurve curve, size_t digest_len) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  if (digest_len == info.digest_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("digest is ", digest_len, " bytes; ", CurveLabel(info),
                                                 " signs a ", info.digest_bytes, "-byte ",
                                                 Av(info.hash_name), " digest"));
}

absl::StatusOr<std::string> EncodeSignature(EcCurve curve, std::span<const uint8_t> raw_rs) {
  if (absl::Status s = CheckRawLength(GetEcCurveInfo(curve), raw_rs.size()); !s.ok()) return s;
  return Base64UrlEncode(raw_rs);
}

absl::StatusOr<std::vector<uint8_t>> DecodeSignature(EcCurve curve, std::string_view b64) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  const size_t expected = 2 * info.field_bytes;
  // Unpadded base64url of `expected` bytes; anything longer is the wrong length whatever it contains.
  const size_t expected_chars = (expected * 4 + 2) / 3;
  // Too long, or a length no byte string encodes to (one character cut off): report it as a length problem.
  if (b64.size() > expected_chars || b64.size() % 4 == 1) {
    return absl::InvalidArgumentError(absl::StrCat("signature is ", b64.size(), " base64url characters; ",
                                                   CurveLabel(info), " signatures are ", expected, " bytes, ",
                                                   expected_chars, " characters"));
  }
  absl::StatusOr<std::vector<uint8_t>> raw = Base64UrlDecode(b64, expected);
  if (!raw.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("signature: ", raw.status().message()));
  }
  if (absl::Status s = CheckRawLength(info, raw->size()); !s.ok()) return s;
  return raw;
}

absl::StatusOr<std::vector<uint8_t>> DerToRawSignature(EcCurve curve, std::span<const uint8_t> der) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  if (der.size() > MaxDerSignatureBytes(info)) {
    return absl::InvalidArgumentError(absl::StrCat("DER signature is ", der.size(), " bytes; a ",
                                                   CurveLabel(info), " ECDSA-Sig-Value is at most ",
                                                   MaxDerSignatureBytes(info), " bytes"));
  }
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("DER signature is not an ECDSA-Sig-Value: ", ConsumeOpenSslErrors()));
  }
  if (p != der.data() + der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DER signature has ", der.data() + der.size() - p, " bytes of trailing data"));
  }
  // OpenSSL's decoder tolerates some BER; only the canonical DER encoding re-encodes to the same bytes.
  unsigned char* reencoded_raw = nullptr;
  int reencoded_len = i2d_ECDSA_SIG(sig.get(), &reencoded_raw);
  OpenSslBytesPtr reencoded(reencoded_raw);
  if (reencoded_len < 0) OpenSslInvariantFailure("i2d_ECDSA_SIG");
  if (static_cast<size_t>(reencoded_len) != der.size() ||
      !std::equal(der.begin(), der.end(), reencoded.get())) {
    return absl::InvalidArgumentError("DER signature is not canonical DER");
  }

  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::vector<uint8_t> raw(2 * info.field_bytes);
  for (auto [name, bn, offset] : {std::tuple{"r", r, size_t{0}}, std::tuple{"s", s, info.field_bytes}}) {
    if (BN_is_negative(bn) || BN_is_zero(bn)) {
      return absl::InvalidArgumentError(absl::StrCat("DER signature: ", name, " is zero or negative"));
    }
    auto len = static_cast<size_t>(BN_num_bytes(bn));
    if (len > info.field_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("DER signature: ", name, " is ", len, " bytes; ",
                                                     CurveLabel(info), " allows at most ", info.field_bytes));
    }
    if (BN_bn2binpad(bn, raw.data() + offset, static_cast<int>(info.field_bytes)) < 0) {
      OpenSslInvariantFailure("BN_bn2binpad");
    }
  }
  return raw;
}

absl::StatusOr<std::vector<uint8_t>> RawToDerSignature(EcCurve curve, std::span<const uint8_t> raw_rs) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  if (absl::Status st = CheckRawLength(info, raw_rs.size()); !st.ok()) return st;
  const int fb = static_cast<int>(info.field_bytes);
  BignumPtr r(BN_bin2bn(raw_rs.data(), fb, nullptr));
  BignumPtr s(BN_bin2bn(raw_rs.data() + fb, fb, nullptr));
  if (r == nullptr || s == nullptr) OpenSslInvariantFailure("BN_bin2bn");
  if (BN_is_zero(r.get())) return absl::InvalidArgumentError("signature: r is zero");
  if (BN_is_zero(s.get())) return absl::InvalidArgumentError("signature: s is zero");
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (sig == nullptr) OpenSslInvariantFailure("ECDSA_SIG_new");
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) OpenSslInvariantFailure("ECDSA_SIG_set0");
  // sig owns r and s now.
  (void)r.release();
  (void)s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) OpenSslInvariantFailure("i2d_ECDSA_SIG");
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) OpenSslInvariantFailure("i2d_ECDSA_SIG");
  return der;
}

std::string BuildHeader(const ContentSignatureHeader& h) {
  const EcCurveInfo& info = GetEcCurveInfo(h.curve);
  if (h.x5u.empty()) return absl::StrCat(Av(info.cs_param), "=", h.signature);
  return absl::StrCat("x5u=", h.x5u, ";", Av(info.cs_param), "=", h.signature);
}

absl::StatusOr<ContentSignatureHeader> ParseHeader(std::string_view value) {
  if (value.size() > kMaxHeaderBytes) {
    return HeaderError(
        absl::StrCat("value is ", value.size(), " bytes, more than the limit of ", kMaxHeaderBytes));
  }
  ContentSignatureHeader h;
  bool have_x5u = false;
  std::optional<std::string_view> sig_param;  // the name, for the duplicate message
  std::string_view rest = value;
  for (bool more = true; more;) {
    size_t semi = rest.find(';');
    more = semi != std::string_view::npos;
    std::string_view part = TrimSpace(rest.substr(0, semi));
    if (more) rest.remove_prefix(semi + 1);
    if (part.empty())
      return HeaderError("empty parameter (nothing between two ';', or a stray ';' at either end)");
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return HeaderError(absl::StrCat("parameter ", Quote(part), " has no '='"));
    }
    std::string_view name = TrimSpace(part.substr(0, eq));
    std::string_view val = TrimSpace(part.substr(eq + 1));
    if (name.empty()) return HeaderError(absl::StrCat("parameter with an empty name: ", Quote(part)));
    if (val.empty()) return HeaderError(absl::StrCat("parameter ", Quote(name), " has an empty value"));

    if (name == "x5u") {
      if (have_x5u) return HeaderError("x5u appears more than once");
      have_x5u = true;
      h.x5u = std::string(val);
    } else if (name == "keyid") {
      // Older Autograph headers carry keyid; it says nothing the signature and x5u do not.
    } else if (std::optional<EcCurve> curve = CurveForParam(name)) {
      if (sig_param.has_value()) {
        return HeaderError(absl::StrCat("more than one signature parameter (", Av(*sig_param), " and ",
                                        Av(name),
                                        "); exactly one of p256ecdsa, p384ecdsa, p521ecdsa is allowed"));
      }
      sig_param = name;
      absl::StatusOr<std::vector<uint8_t>> raw = DecodeSignature(*curve, val);
      if (!raw.ok()) return HeaderError(absl::StrCat(Av(name), ": ", raw.status().message()));
      h.curve = *curve;
      h.signature = std::string(val);
    } else {
      return HeaderError(absl::StrCat("unknown parameter ", Quote(name)));
    }
  }
  if (!sig_param.has_value()) {
    return HeaderError("no signature parameter (one of p256ecdsa, p384ecdsa, p521ecdsa)");
  }
  return h;
}

absl::Status VerifyDigest(EVP_PKEY* public_key, EcCurve curve, std::span<const uint8_t> digest,
                          std::span<const uint8_t> raw_rs) {
  const EcCurveInfo& info = GetEcCurveInfo(curve);
  absl::StatusOr<EcCurve> key_curve = EcCurveOfKey(public_key);
  if (!key_curve.ok()) return key_curve.status();
  if (*key_curve != curve) {
    return absl::InvalidArgumentError(absl::StrCat("key is on ", Av(GetEcCurveInfo(*key_curve).name),
                                                   " but the signature is for ", CurveLabel(info)));
  }
  if (absl::Status s = CheckDigestLength(curve, digest.size()); !s.ok()) return s;
  absl::StatusOr<std::vector<uint8_t>> der = RawToDerSignature(curve, raw_rs);
  if (!der.ok()) return der.status();

  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, public_key, nullptr));
  if (ctx == nullptr) OpenSslInvariantFailure("EVP_PKEY_CTX_new_from_pkey");
  if (EVP_PKEY_verify_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), info.md()) != 1) {
    return absl::InternalError(absl::StrCat("cannot set up ECDSA verification: ", ConsumeOpenSslErrors()));
  }
  int rc = EVP_PKEY_verify(ctx.get(), der->data(), der->size(), digest.data(), digest.size());
  if (rc != 1) {
    ERR_clear_error();
    return absl::UnauthenticatedError("signature does not verify");
  }
  return absl::OkStatus();
}

absl::Status VerifyData(EVP_PKEY* public_key, EcCurve curve, std::span<const uint8_t> data,
                        std::string_view signature_b64) {
  absl::StatusOr<std::vector<uint8_t>> raw = DecodeSignature(curve, signature_b64);
  if (!raw.ok()) return raw.status();
  std::vector<uint8_t> digest = ContentSignatureDigest(curve, data);
  return VerifyDigest(public_key, curve, digest, *raw);
}

}  // namespace signet::signing
