// End-entity key rotation for contentsignaturepki signers (DESIGN §2). One rotation:
//   1 generate the EE key in the HSM (sensitive, non-extractable), label "<signer>/<UTC yyyymmddThhmmssZ>";
//   2 issue its certificate with the intermediate key in the HSM;
//   3 build the chain EE + intermediate + root (PEM);
//   4 publish it, named by content, never overwriting;
//   5 fetch it back through its x5u URL and verify it with Firefox's rules against the root SHA-256
//     from the policy (never the fetched root);
//   6 store the certificate object on the token with the key's CKA_ID: this is the activation;
//   7 prune EE keys and certificates whose certificates have expired.
// A failure at any step before 6 destroys the new key and leaves the current one serving.
//
// The token is the source of truth: every replica finds the active key with FindActiveEndEntity, and
// derives the same chain and x5u URL from the certificate object and the policy.
#ifndef SIGNET_KEYMGMT_ROTATION_H_
#define SIGNET_KEYMGMT_ROTATION_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ec_curve.h"
#include "common/openssl_ptr.h"
#include "keymgmt/publication.h"
#include "keymgmt/x509_builder.h"  // ParseOnePemCertificate
#include "pkcs11/hsm_key.h"
#include "pkcs11/session.h"
#include "pkcs11/session_pool.h"

namespace signet::keymgmt {

struct RotationPolicy {
  std::string signer_id;
  EcCurve curve = EcCurve::kP384;
  std::string ee_name;  // the EE certificate's DNS SAN
  absl::Duration validity = absl::Hours(24 * 60);
  absl::Duration rotate_before = absl::Hours(24 * 30);  // rotate when the active cert expires within this
  absl::Duration clock_skew = absl::Minutes(10);  // NotBefore = now - skew, NotAfter = now + validity + skew
  std::string x5u_base_url;                       // https://.../ ; the chain's URL is this + ChainFileName
  std::vector<uint8_t> root_sha256;               // the pin
  std::string intermediate_key_label;             // on the online token
  std::string intermediate_cert_pem;
  std::string root_cert_pem;
  std::optional<std::string> lock_file;  // flock'ed for the whole rotation: one writer per host
};

// An EE key's certificate object on the token.
struct EndEntity {
  std::string label;
  std::vector<uint8_t> id;
  X509Ptr cert;
  absl::Time not_before;
  absl::Time not_after;
};

// The certificate objects labelled "<signer>/..." on the token, newest NotBefore first.
absl::StatusOr<std::vector<EndEntity>> ListEndEntities(const pkcs11::Session& session,
                                                       const std::string& signer_id);

// The newest certificate valid at `now` (NotBefore <= now < NotAfter); NotFound if there is none.
absl::StatusOr<EndEntity> FindActiveEndEntity(const pkcs11::Session& session, const std::string& signer_id,
                                              absl::Time now);

// The chain file for an EE certificate: EE, intermediate and root, each as one PEM block.
std::string BuildChainPem(const X509* ee, const X509* intermediate, const X509* root);

// The x5u URL of a chain under a base URL ("https://h/x5u/" + "<signer>-<sha256>.pem").
std::string ChainUrl(const std::string& base_url, const std::string& signer_id, const std::string& chain_pem);

struct RotationOutcome {
  bool rotated = false;
  std::string reason;  // why it rotated or did not
  std::string label;   // of the new key (when rotated)
  std::string key_id_hex;
  std::string x5u;
  absl::Time not_after;
  size_t pruned = 0;  // EE keys removed because their certificates expired
};

class Rotator {
 public:
  // `pool` holds read-write sessions on the online token. The intermediate key and certificates are
  // checked here (key matches certificate, intermediate issued by the root, root matches the pin).
  static absl::StatusOr<std::unique_ptr<Rotator>> Create(RotationPolicy policy,
                                                         std::shared_ptr<pkcs11::SessionPool> pool,
                                                         std::unique_ptr<ChainPublisher> publisher,
                                                         std::unique_ptr<X5uFetcher> fetcher);

  // Rotates when no certificate is active at `now`, when the active one expires within rotate_before,
  // or when `force`; prunes expired keys either way. Errors say which step failed.
  absl::StatusOr<RotationOutcome> RotateIfDue(absl::Time now, bool force = false);

  const RotationPolicy& policy() const { return policy_; }

 private:
  Rotator(RotationPolicy policy, std::shared_ptr<pkcs11::SessionPool> pool,
          std::unique_ptr<ChainPublisher> publisher, std::unique_ptr<X5uFetcher> fetcher)
      : policy_(std::move(policy)),
        pool_(std::move(pool)),
        publisher_(std::move(publisher)),
        fetcher_(std::move(fetcher)) {}
  absl::StatusOr<RotationOutcome> Rotate(absl::Time now, RotationOutcome outcome);
  absl::StatusOr<size_t> Prune(absl::Time now);

  RotationPolicy policy_;
  std::shared_ptr<pkcs11::SessionPool> pool_;
  std::unique_ptr<ChainPublisher> publisher_;
  std::unique_ptr<X5uFetcher> fetcher_;
  X509Ptr intermediate_;
  X509Ptr root_;
  std::shared_ptr<pkcs11::HsmKey> intermediate_key_;
  std::mutex mu_;  // one rotation at a time in this process
};

// "<signer>/<UTC yyyymmddThhmmssZ>"
std::string EndEntityLabel(const std::string& signer_id, absl::Time now);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_ROTATION_H_
