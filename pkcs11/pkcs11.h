// The one include of the PKCS#11 C header (p11-kit's copy, in standard CK_* compat naming).
#ifndef SIGNET_PKCS11_PKCS11_H_
#define SIGNET_PKCS11_PKCS11_H_

#include <p11-kit/pkcs11.h>

#endif  // SIGNET_PKCS11_PKCS11_H_
