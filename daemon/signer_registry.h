// Signer id → the key and metadata that serve it. Entries are immutable snapshots swapped whole, so a
// request holds one consistent view (key, x5u, key id) even while rotation replaces it.
//
// A contentsignature signer's key is fixed by its label. A contentsignaturepki signer's key is whichever
// end-entity key has the newest certificate on the token that is valid now (keymgmt/rotation.h): every
// replica sharing the token finds it by itself, and Refresh() swaps it in without a restart. Its chain
// and x5u URL are derived from that certificate and the configured intermediate and root.
#ifndef SIGNET_DAEMON_SIGNER_REGISTRY_H_
#define SIGNET_DAEMON_SIGNER_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ec_curve.h"
#include "common/openssl_ptr.h"
#include "daemon/config.h"
#include "pkcs11/hsm_key.h"
#include "pkcs11/session_pool.h"

namespace signet::daemon {

struct SignerState {
  std::string id;
  size_t index = 0;  // position in the config, stable for the life of the process (per-signer tables)
  std::string type;  // "contentsignature" | "contentsignaturepki"
  EcCurve curve = EcCurve::kP384;
  std::shared_ptr<pkcs11::HsmKey> key;  // null: a pki signer with no valid certificate (see unavailable)
  std::string unavailable;              // why there is no key
  std::string key_id_hex;
  std::string key_label;
  std::string x5u;
  std::vector<uint8_t> spki_der;
  std::string chain_pem;
  int64_t not_after_unix = 0;               // the EE certificate's (pki)
  int64_t intermediate_not_after_unix = 0;  // pki
  int64_t root_not_after_unix = 0;          // pki
  std::string header_prefix;  // "x5u=<url>;p384ecdsa=" (or "p384ecdsa="), precomputed for the hot path
};

class SignerRegistry {
 public:
  // Loads every contentsignature signer's key from the HSM (a missing key fails start-up with its signer
  // named) and every pki signer's intermediate and root certificates; pki signers start without a key
  // until Refresh finds one.
  static absl::StatusOr<std::unique_ptr<SignerRegistry>> Create(const std::vector<SignerConfig>& signers,
                                                                std::shared_ptr<pkcs11::SessionPool> pool);

  // The current snapshot, or nullptr for an unknown id.
  std::shared_ptr<const SignerState> Find(std::string_view id) const;
  std::vector<std::shared_ptr<const SignerState>> All() const;
  std::vector<std::string> Ids() const;
  // Swaps in a new snapshot for an existing id. Requests already holding the old one finish with it.
  absl::Status Replace(std::shared_ptr<const SignerState> state);

  struct Change {
    std::string signer;
    std::string from_key_id;  // empty: had no key
    std::string to_key_id;    // empty: has no key now
    std::string detail;
    // Not a switch: the signer serves to_key_id (== from_key_id) while newer certificates on the token
    // were passed over (not usable: their chain, their key or its curve); `detail` names each and says
    // why. Reported once per set of passed-over labels, not on every Refresh.
    bool kept = false;
  };
  // Looks on the token for each pki signer's active key at `now` and swaps in any change. Errors (the
  // HSM unreachable) leave the snapshots as they are.
  absl::StatusOr<std::vector<Change>> Refresh(absl::Time now);

  static std::shared_ptr<const SignerState> MakeState(const SignerConfig& config, size_t index,
                                                      std::shared_ptr<pkcs11::HsmKey> key);

 private:
  struct PkiSource {
    SignerConfig config;
    size_t index = 0;
    X509Ptr intermediate;
    X509Ptr root;
  };
  SignerRegistry() = default;
  // `passed_over` gets the newer certificates skipped on the way to the returned key ("'label': why",
  // "; "-separated) and `passed_over_labels` just their labels; both are empty when there were none or
  // the signer has no key (its state's `unavailable` says why then).
  absl::StatusOr<std::shared_ptr<const SignerState>> ActiveState(const PkiSource& source, absl::Time now,
                                                                 std::string* passed_over,
                                                                 std::string* passed_over_labels);

  std::shared_ptr<pkcs11::SessionPool> pool_;
  std::map<std::string, PkiSource, std::less<>> pki_;
  std::mutex refresh_mu_;  // one Refresh at a time (the timer and an explicit call may overlap)
  // Per pki signer, the labels of the newer certificates last reported as passed over (refresh_mu_).
  std::map<std::string, std::string, std::less<>> passed_over_labels_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const SignerState>, std::less<>> signers_;
};

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_SIGNER_REGISTRY_H_
