// Object search and attribute reads, bounded, with C_FindObjectsFinal always called.
#ifndef SIGNET_PKCS11_OBJECTS_H_
#define SIGNET_PKCS11_OBJECTS_H_

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "pkcs11/session.h"

namespace signet::pkcs11 {

inline constexpr size_t kMaxObjectsPerSearch = 4096;
inline constexpr size_t kMaxAttributeBytes = 64 * 1024;

// Held, process-wide, around every call that lists a token's objects (C_FindObjectsInit) or adds or
// removes one (C_GenerateKeyPair, C_CreateObject, C_DestroyObject). SoftHSM 2.6 re-reads its token
// directory on C_FindObjectsInit without a lock against an object being created by another thread of the
// same process (OSToken::index compares its directory listing with a set createObject has just added to),
// so a search racing a creation could hide the new object until the token next changed: a rotated key
// that the daemon never picked up. These calls are key-management work, never on the signing path.
std::unique_lock<std::mutex> LockTokenObjects();

// Searches add CKA_TOKEN = CK_TRUE to the template unless it names CKA_TOKEN itself. Besides keeping
// session objects out, this hides an object that another process is still creating. SoftHSM 2.6.1
// (Debian 12) writes a new object to its file in steps: first the class, then its defaults one at a
// time (CKA_TOKEN false, an empty label and CKA_ID), and the caller's template last, in one write.
// C_GetAttributeValue on an object read between those steps fills in the missing defaults and writes
// them back to the file, over the template the creator stored meanwhile. The object then has no label,
// CKA_ID or value for any process: a certificate from `signet rotate` lost this way leaves replicas on
// the old key (seen twice in CI). Until the template is stored, CKA_TOKEN is absent or false, so such an
// object never matches a search and is never read. tests/integration/token_visibility_test.cc loses
// certificates without this. Not covered: C_GenerateKeyPair stores a key's template (CKA_TOKEN true)
// one write before the key's value; Signet looks a new key up only by the CKA_ID of its certificate,
// which is stored after the key is complete.
absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(const Session& session, std::span<CK_ATTRIBUTE> tmpl,
                                                          size_t max_objects = kMaxObjectsPerSearch);

absl::StatusOr<std::vector<uint8_t>> GetAttributeBytes(const Session& session, CK_OBJECT_HANDLE object,
                                                       CK_ATTRIBUTE_TYPE type,
                                                       size_t max_bytes = kMaxAttributeBytes);

absl::StatusOr<bool> GetAttributeBool(const Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

absl::Status DestroyObject(const Session& session, CK_OBJECT_HANDLE object);

// Builds a CK_ATTRIBUTE pointing at caller-owned storage.
template <typename T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T* value) {
  return CK_ATTRIBUTE{type, value, sizeof(T)};
}
inline CK_ATTRIBUTE AttrBytes(CK_ATTRIBUTE_TYPE type, const void* data, size_t len) {
  return CK_ATTRIBUTE{type, const_cast<void*>(data), len};
}

}  // namespace signet::pkcs11

#endif  // SIGNET_PKCS11_OBJECTS_H_
