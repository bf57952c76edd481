#include "pkcs11/error.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::pkcs11 {
namespace {

TEST(CkrName, NamesStandardAndVendorCodes) {
  EXPECT_EQ(CkrName(CKR_OK), "CKR_OK");
  EXPECT_EQ(CkrName(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
  EXPECT_EQ(CkrName(CKR_ATTRIBUTE_SENSITIVE), "CKR_ATTRIBUTE_SENSITIVE");
  EXPECT_EQ(CkrName(CKR_VENDOR_DEFINED | 0x2a), "CKR_VENDOR_DEFINED+0x2a");
  EXPECT_EQ(CkrName(0x7777), "CKR_UNKNOWN(0x7777)");
}

TEST(CkrToStatus, CarriesFunctionNameCodeAndRv) {
  EXPECT_TRUE(CkrToStatus("C_Sign", CKR_OK).ok());
  absl::Status s = CkrToStatus("C_Login", CKR_PIN_INCORRECT);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(s.message(), "C_Login: CKR_PIN_INCORRECT");
  EXPECT_EQ(CkrOf(s), CKR_PIN_INCORRECT);
  EXPECT_FALSE(CkrOf(absl::InternalError("x")).has_value());
}

TEST(CkrToStatus, MapsClassesToCodes) {
  EXPECT_EQ(CkrToCode(CKR_DEVICE_ERROR), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CkrToCode(CKR_DEVICE_REMOVED), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CkrToCode(CKR_SESSION_HANDLE_INVALID), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CkrToCode(CKR_ATTRIBUTE_SENSITIVE), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CkrToCode(CKR_KEY_HANDLE_INVALID), absl::StatusCode::kNotFound);
  EXPECT_EQ(CkrToCode(CKR_DATA_LEN_RANGE), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CkrToCode(CKR_HOST_MEMORY), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CkrToCode(CKR_FUNCTION_NOT_SUPPORTED), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(CkrToCode(0x7777), absl::StatusCode::kInternal);
}

TEST(WithContext, KeepsTheCkrPayload) {
  absl::Status s = WithContext(CkrToStatus("C_Sign", CKR_DEVICE_ERROR), "token 'x'");
  EXPECT_EQ(s.message(), "token 'x': C_Sign: CKR_DEVICE_ERROR");
  EXPECT_EQ(CkrOf(s), CKR_DEVICE_ERROR);
  EXPECT_TRUE(WithContext(absl::OkStatus(), "x").ok());
}

TEST(Classes, RecoverableFailures) {
  EXPECT_TRUE(IsSessionError(CKR_SESSION_CLOSED));
  EXPECT_TRUE(IsSessionError(CKR_SESSION_HANDLE_INVALID));
  EXPECT_TRUE(IsSessionError(CKR_OPERATION_ACTIVE));
  EXPECT_TRUE(IsLoginError(CKR_USER_NOT_LOGGED_IN));
  EXPECT_TRUE(IsHandleError(CKR_KEY_HANDLE_INVALID));
  EXPECT_TRUE(IsDeviceError(CKR_DEVICE_REMOVED));
  EXPECT_FALSE(IsSessionError(CKR_DEVICE_ERROR));
  EXPECT_FALSE(IsDeviceError(CKR_PIN_INCORRECT));
}

}  // namespace
}  // namespace signet::pkcs11
