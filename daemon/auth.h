// Who is calling (from the verified mTLS client certificate) and what they may use.
#ifndef SIGNET_DAEMON_AUTH_H_
#define SIGNET_DAEMON_AUTH_H_

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/security/auth_context.h>

#include "daemon/config.h"

namespace signet::daemon {

// The caller's identity: the first URI SAN (e.g. spiffe://...), else the first DNS SAN, else the
// subject CN; "" when the connection carries no verified certificate.
std::string IdentityOf(const grpc::AuthContext& auth);

class Authorizer {
 public:
  explicit Authorizer(const std::vector<AuthorizationRule>& rules);
  bool Allowed(std::string_view identity, std::string_view signer_id) const;
  // Sorted; empty for an unknown identity.
  std::vector<std::string> SignersFor(std::string_view identity) const;

 private:
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> grants_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_AUTH_H_
