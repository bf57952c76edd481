// Lets OpenSSL sign with a key that stays in the HSM: X509_sign, X509_REQ_sign and EVP_DigestSign
// on the returned EVP_PKEY send the digest to the HSM through the key's session pool.
//
// Why not libp11's PKCS11_get_private_key: libp11 loads the module into its own context, and releasing
// that context calls C_CloseAllSessions and C_Finalize on the module — the same loaded module whose
// sessions our SessionPool holds. So the bridge is an EC_KEY_METHOD over our own sessions instead
// (the mechanism libp11 itself uses), and libp11 serves as an independent interop check in the tests.
#ifndef SIGNET_PKCS11_OPENSSL_BRIDGE_H_
#define SIGNET_PKCS11_OPENSSL_BRIDGE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/openssl_ptr.h"
#include "pkcs11/hsm_key.h"

namespace signet::pkcs11 {

// The EVP_PKEY holds a reference to `key`; its public half is the HSM key's public key.
absl::StatusOr<EvpPkeyPtr> HsmKeyToEvpPkey(std::shared_ptr<HsmKey> key);

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_OPENSSL_BRIDGE_H_
