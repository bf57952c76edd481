// Signer id → the key and metadata that serve it. Entries are immutable snapshots swapped whole, so a
// request holds one consistent view (key, x5u, key id) even while rotation replaces it.
#ifndef SIGNET_DAEMON_SIGNER_REGISTRY_H_
#define SIGNET_DAEMON_SIGNER_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ec_curve.h"
#include "daemon/config.h"
#include "pkcs11/hsm_key.h"
#include "pkcs11/session_pool.h"

namespace signet::daemon {

struct SignerState {
  std::string id;
  std::string type;  // "contentsignature"
  EcCurve curve = EcCurve::kP384;
  std::shared_ptr<pkcs11::HsmKey> key;
  std::string key_id_hex;
  std::string x5u;
  std::vector<uint8_t> spki_der;
  std::string chain_pem;
  int64_t not_after_unix = 0;
  std::string header_prefix;  // "x5u=<url>;p384ecdsa=" (or "p384ecdsa="), precomputed for the hot path
};

class SignerRegistry {
 public:
  // Loads every configured signer's key from the HSM; a missing key fails start-up with its signer named.
  static absl::StatusOr<std::unique_ptr<SignerRegistry>> Create(const std::vector<SignerConfig>& signers,
                                                                std::shared_ptr<pkcs11::SessionPool> pool);

  // The current snapshot, or nullptr for an unknown id.
  std::shared_ptr<const SignerState> Find(std::string_view id) const;
  std::vector<std::shared_ptr<const SignerState>> All() const;
  std::vector<std::string> Ids() const;
  // Swaps in a new snapshot for an existing id (rotation). Requests already holding the old one finish with it.
  absl::Status Replace(std::shared_ptr<const SignerState> state);

  static std::shared_ptr<const SignerState> MakeState(const SignerConfig& config,
                                                      std::shared_ptr<pkcs11::HsmKey> key);

 private:
  SignerRegistry() = default;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const SignerState>, std::less<>> signers_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_SIGNER_REGISTRY_H_
