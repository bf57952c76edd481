#include "common/ec_curve.h"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"

namespace signet {
namespace {

constexpr uint8_t kOidP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kOidP384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kOidP521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

const std::array<EcCurveInfo, 3> kCurves = {{
    {EcCurve::kP256, "P-256", "prime256v1", NID_X9_62_prime256v1, 32, 32, "SHA-256", Sha256Md,
     "p256ecdsa", kOidP256},
    {EcCurve::kP384, "P-384", "secp384r1", NID_secp384r1, 48, 48, "SHA-384", Sha384Md, "p384ecdsa",
     kOidP384},
    {EcCurve::kP521, "P-521", "secp521r1", NID_secp521r1, 66, 64, "SHA-512", Sha512Md, "p521ecdsa",
     kOidP521},
}};

}  // namespace

const EcCurveInfo& GetEcCurveInfo(EcCurve curve) { return kCurves[static_cast<size_t>(curve)]; }

absl::StatusOr<EcCurve> EcCurveFromName(std::string_view name) {
  // Debian's absl::string_view is not std::string_view, so go through std::string.
  std::string n(name);
  absl::AsciiStrToLower(&n);
  if (n == "p-256" || n == "p256" || n == "prime256v1" || n == "secp256r1") return EcCurve::kP256;
  if (n == "p-384" || n == "p384" || n == "secp384r1") return EcCurve::kP384;
  if (n == "p-521" || n == "p521" || n == "secp521r1") return EcCurve::kP521;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported curve '", std::string(name.substr(0, 64)), "'; use P-256, P-384 or P-521"));
}

absl::StatusOr<EcCurve> EcCurveFromOidDer(std::span<const uint8_t> der) {
  for (const auto& c : kCurves) {
    if (std::ranges::equal(der, c.oid_der)) return c.curve;
  }
  return absl::InvalidArgumentError("CKA_EC_PARAMS is not the named curve P-256, P-384 or P-521");
}

absl::StatusOr<EcCurve> EcCurveOfKey(const EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return absl::InvalidArgumentError("key is not an EC key");
  }
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) != 1) {
    return absl::InvalidArgumentError("EC key has no named curve");
  }
  return EcCurveFromName(std::string_view(group, len));
}

}  // namespace signet
