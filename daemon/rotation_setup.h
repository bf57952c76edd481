// From a contentsignaturepki signer's configuration to its Rotator: the one place that turns config
// into a RotationPolicy, shared by signetd's internal timer and `signet rotate`.
#ifndef SIGNET_DAEMON_ROTATION_SETUP_H_
#define SIGNET_DAEMON_ROTATION_SETUP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/config.h"
#include "keymgmt/rotation.h"
#include "pkcs11/session_pool.h"

namespace signet::daemon {

// The lock file every writer for one publication directory takes.
std::string RotationLockFile(const PkiSignerConfig& pki);

// Reads the intermediate and root certificates, and builds a Rotator that publishes into
// publication_dir and reads back over HTTPS (trusting x5u_ca_file when set). `pool` must hold
// read-write sessions on the token that holds the intermediate key.
absl::StatusOr<std::unique_ptr<keymgmt::Rotator>> MakeRotator(const SignerConfig& signer,
                                                              std::shared_ptr<pkcs11::SessionPool> pool);

}  // namespace signet::daemon

#endif  // SIGNET_DAEMON_ROTATION_SETUP_H_
