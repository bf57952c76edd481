// signing/content_signature.h on untrusted bytes: the header parser (and BuildHeader on what it
// returns), the signature decoder, and the DER <-> r||s conversions, for every curve. What is accepted
// round-trips to the same bytes; what is refused names the header, the signature or the DER.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/ec_curve.h"
#include "signing/content_signature.h"
#include "tests/fuzz/fuzz_check.h"

using signet::EcCurve;
using signet::fuzz::CheckRefusal;
using signet::fuzz::Require;
namespace cs = signet::signing;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::span<const uint8_t> bytes(data, size);

  absl::StatusOr<cs::ContentSignatureHeader> header = cs::ParseHeader(text);
  if (!header.ok()) {
    CheckRefusal(header.status(), {"Content-Signature header: "});
  } else {
    Require(header->x5u.find(';') == std::string::npos, "x5u with ';' accepted", header->x5u);
    Require(cs::DecodeSignature(header->curve, header->signature).ok(), "accepted an undecodable signature");
    const std::string rebuilt = cs::BuildHeader(*header);
    absl::StatusOr<cs::ContentSignatureHeader> again = cs::ParseHeader(rebuilt);
    Require(again.ok(), "BuildHeader(ParseHeader(h)) does not parse", rebuilt);
    Require(
        again->x5u == header->x5u && again->curve == header->curve && again->signature == header->signature,
        "header round trip changed a field", rebuilt);
  }

  for (EcCurve curve : {EcCurve::kP256, EcCurve::kP384, EcCurve::kP521}) {
    const size_t raw_bytes = 2 * signet::GetEcCurveInfo(curve).field_bytes;

    absl::StatusOr<std::vector<uint8_t>> raw = cs::DecodeSignature(curve, text);
    if (!raw.ok()) {
      CheckRefusal(raw.status(), {"signature"});
    } else {
      Require(raw->size() == raw_bytes, "decoded signature length");
      absl::StatusOr<std::string> encoded = cs::EncodeSignature(curve, *raw);
      Require(encoded.ok() && *encoded == text, "signature decode/encode differ", text);
    }

    absl::StatusOr<std::vector<uint8_t>> from_der = cs::DerToRawSignature(curve, bytes);
    if (!from_der.ok()) {
      CheckRefusal(from_der.status(), {"DER signature"});
    } else {
      Require(from_der->size() == raw_bytes, "DER -> raw length");
      absl::StatusOr<std::vector<uint8_t>> der = cs::RawToDerSignature(curve, *from_der);
      Require(der.ok() && *der == std::vector<uint8_t>(bytes.begin(), bytes.end()),
              "canonical DER did not round-trip");
    }

    absl::StatusOr<std::vector<uint8_t>> to_der = cs::RawToDerSignature(curve, bytes);
    if (!to_der.ok()) {
      CheckRefusal(to_der.status(), {"signature"});
    } else {
      absl::StatusOr<std::vector<uint8_t>> back = cs::DerToRawSignature(curve, *to_der);
      Require(back.ok() && *back == std::vector<uint8_t>(bytes.begin(), bytes.end()), "raw -> DER -> raw",
              back.ok() ? "" : back.status().ToString());
    }

    (void)cs::CheckDigestLength(curve, size);
  }
  return 0;
}
