// Times as certificates hold them (ASN1_TIME) and as operators read them (RFC 3339, UTC).
#ifndef SIGNET_COMMON_TIME_TEXT_H_
#define SIGNET_COMMON_TIME_TEXT_H_

#include <openssl/asn1.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace signet {

// "2026-11-23T15:04:05Z"
std::string Rfc3339(absl::Time t);

// An X.509 notBefore/notAfter as an absl::Time; InvalidArgument if it cannot be read.
absl::StatusOr<absl::Time> Asn1TimeToTime(const ASN1_TIME* t);

}  // namespace signet

#endif  // SIGNET_COMMON_TIME_TEXT_H_
