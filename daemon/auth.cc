#include "daemon/auth.h"

#include <grpc/grpc_security_constants.h>

namespace signet::daemon {
namespace {
std::string First(const grpc::AuthContext& auth, const char* property) {
  auto values = auth.FindPropertyValues(property);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}
}  // namespace

std::string IdentityOf(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) return "";
  for (const char* property : {GRPC_PEER_URI_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
    std::string v = First(auth, property);
    if (!v.empty()) return v;
  }
  return "";
}

Authorizer::Authorizer(const std::vector<AuthorizationRule>& rules) {
  for (const auto& rule : rules) {
    auto& set = grants_[rule.identity];
    set.insert(rule.signers.begin(), rule.signers.end());
  }
}

bool Authorizer::Allowed(std::string_view identity, std::string_view signer_id) const {
  auto it = grants_.find(identity);
  return it != grants_.end() && it->second.find(signer_id) != it->second.end();
}

std::vector<std::string> Authorizer::SignersFor(std::string_view identity) const {
  auto it = grants_.find(identity);
  if (it == grants_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

}  // namespace signet::daemon
