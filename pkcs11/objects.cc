#include "pkcs11/objects.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pkcs11/error.h"

namespace signet::pkcs11 {

std::unique_lock<std::mutex> LockTokenObjects() {
  static std::mutex mu;
  return std::unique_lock<std::mutex>(mu);
}

absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(const Session& session, std::span<CK_ATTRIBUTE> tmpl,
                                                          size_t max_objects) {
  const Module& m = session.module();
  // Token objects only, and only once their creator has stored its template (see objects.h).
  CK_BBOOL on_token = CK_TRUE;
  std::vector<CK_ATTRIBUTE> search(tmpl.begin(), tmpl.end());
  if (std::none_of(search.begin(), search.end(), [](const CK_ATTRIBUTE& a) { return a.type == CKA_TOKEN; })) {
    search.push_back(Attr(CKA_TOKEN, &on_token));
  }
  {
    auto lock = LockTokenObjects();  // the module takes its listing of the token here
    if (auto s = SIGNET_P11(m, C_FindObjectsInit, session.handle(), search.data(), search.size()); !s.ok())
      return s;
  }
  std::vector<CK_OBJECT_HANDLE> found;
  absl::Status status;
  while (true) {
    CK_OBJECT_HANDLE batch[32];
    CK_ULONG count = 0;
    status = SIGNET_P11(m, C_FindObjects, session.handle(), batch, 32, &count);
    if (!status.ok() || count == 0) break;
    found.insert(found.end(), batch, batch + count);
    if (found.size() > max_objects) {
      status = absl::ResourceExhaustedError(absl::StrCat("object search matched more than ", max_objects, " objects"));
      break;
    }
  }
  absl::Status final_status = SIGNET_P11(m, C_FindObjectsFinal, session.handle());
  if (!status.ok()) return status;
  if (!final_status.ok()) return final_status;
  return found;
}

absl::StatusOr<std::vector<uint8_t>> GetAttributeBytes(const Session& session, CK_OBJECT_HANDLE object,
                                                       CK_ATTRIBUTE_TYPE type, size_t max_bytes) {
  const Module& m = session.module();
  CK_ATTRIBUTE attr{type, nullptr, 0};
  if (auto s = SIGNET_P11(m, C_GetAttributeValue, session.handle(), object, &attr, 1); !s.ok()) return s;
  if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return absl::NotFoundError(absl::StrCat("attribute 0x", absl::Hex(type), " is unavailable"));
  }
  if (attr.ulValueLen > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("attribute 0x", absl::Hex(type), " is ", attr.ulValueLen, " bytes, over the ", max_bytes, " bound"));
  }
  std::vector<uint8_t> value(attr.ulValueLen);
  attr.pValue = value.data();
  if (auto s = SIGNET_P11(m, C_GetAttributeValue, session.handle(), object, &attr, 1); !s.ok()) return s;
  value.resize(attr.ulValueLen);
  return value;
}

absl::StatusOr<bool> GetAttributeBool(const Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr = Attr(type, &value);
  if (auto s = SIGNET_P11(session.module(), C_GetAttributeValue, session.handle(), object, &attr, 1); !s.ok()) {
    return s;
  }
  return value == CK_TRUE;
}

absl::Status DestroyObject(const Session& session, CK_OBJECT_HANDLE object) {
  auto lock = LockTokenObjects();
  return SIGNET_P11(session.module(), C_DestroyObject, session.handle(), object);
}

}  // namespace signet::pkcs11
