// SHA-2 message digests fetched from OpenSSL once per process.
//
// EVP_sha256() and the one-shot SHA256() hand OpenSSL 3 a legacy digest that it looks up again in
// its provider store on every use: a name lookup under a lock that every OpenSSL user in the
// process shares, SoftHSM's own signing included. signetd hashes every input twice (the
// Content-Signature digest and the audit line's input_sha256), so it asks for the digest once.
// The returned objects live until the process exits; never free them.
#ifndef SIGNET_COMMON_DIGEST_H_
#define SIGNET_COMMON_DIGEST_H_

#include <openssl/evp.h>

namespace signet {

const EVP_MD* Sha256Md();
const EVP_MD* Sha384Md();
const EVP_MD* Sha512Md();

}  // namespace signet

#endif  // SIGNET_COMMON_DIGEST_H_
