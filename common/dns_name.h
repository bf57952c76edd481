// DNS names as certificates carry them (SANs, name constraints) and as config files name them.
#ifndef SIGNET_COMMON_DNS_NAME_H_
#define SIGNET_COMMON_DNS_NAME_H_

#include <string>

#include "absl/status/status.h"

namespace signet {

// At most 253 bytes of letters, digits and hyphens in dot-separated labels of 1..63 bytes; a leading
// "*." is accepted when allow_wildcard. InvalidArgument messages name `what` ("DNS SAN", "ee_name").
absl::Status ValidateDnsName(const std::string& name, const std::string& what = "DNS SAN",
                             bool allow_wildcard = true);

}  // namespace signet

#endif  // SIGNET_COMMON_DNS_NAME_H_
