// CK_RV becomes absl::Status here and nowhere else. The status keeps the CK_RV as a payload so that
// callers (the session pool) can classify a failure without parsing text.
#ifndef SIGNET_PKCS11_ERROR_H_
#define SIGNET_PKCS11_ERROR_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "pkcs11/pkcs11.h"

namespace signet::pkcs11 {

// "CKR_PIN_INCORRECT"; vendor codes as "CKR_VENDOR_DEFINED+0x.."; anything else "CKR_UNKNOWN(0x..)".
std::string CkrName(CK_RV rv);

// The absl code a CK_RV maps to (device and session trouble → UNAVAILABLE, PIN → UNAUTHENTICATED, ...).
absl::StatusCode CkrToCode(CK_RV rv);

// OK for CKR_OK; otherwise "<function>: <CKR_NAME>" with the CK_RV attached as a payload.
absl::Status CkrToStatus(std::string_view function, CK_RV rv);

// `status` with "<context>: " in front of its message; payloads (the CK_RV) are kept.
absl::Status WithContext(const absl::Status& status, std::string_view context);

// The CK_RV carried by a status from CkrToStatus, if any.
std::optional<CK_RV> CkrOf(const absl::Status& status);

// Classes of failure the session pool recovers from.
bool IsSessionError(CK_RV rv);  // the session is gone or stuck: open a new one
bool IsLoginError(CK_RV rv);    // the login state is gone: log in again
bool IsHandleError(CK_RV rv);   // a cached object handle is stale: look it up again
bool IsDeviceError(CK_RV rv);   // the device itself failed

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_ERROR_H_
