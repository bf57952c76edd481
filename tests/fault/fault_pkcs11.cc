// A fault-injecting PKCS#11 module for tests: it forwards every call to a real module (SoftHSM2 by
// default) and, driven by a control file, makes chosen functions fail, slow down, hang, or corrupt
// the signature they return. signetd loads it like any module (hsm.module), so the daemon's recovery is
// tested against the same C_* calls a broken HSM would give it.
//
// Environment:
//   SIGNET_FAULT_TARGET   the real module (default /usr/lib/softhsm/libsofthsm2.so)
//   SIGNET_FAULT_CONTROL  the control file; absent or missing file: no faults
//
// The control file is read again whenever it changes (size, mtime or inode), and each change resets
// the rules' counters and windows. One rule per line; '#' starts a comment:
//   <function|*> error <CKR_NAME|0xHEX> [every N] [count N] [for MS]
//   <function|*> delay <MS>             [every N] [count N] [for MS]
//   <function|*> hang                   [every N] [count N] [for MS]
//   C_Sign       corrupt <flip|zero|truncate> [every N] [count N] [for MS]
// every N: only every Nth matching call of each thread fires; count N: at most N firings; for MS: only during
// the first MS milliseconds after the file changed. A hung call waits until the file no longer holds a hang
// rule for its function, then goes on to the real module. An error is returned without calling the real
// module (as a device that never received the call).
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace {

using Clock = std::chrono::steady_clock;

enum class Kind { kError, kDelay, kHang, kCorrupt };

struct Rule {
  std::string function;  // "*" matches all
  Kind kind = Kind::kError;
  CK_RV rv = CKR_OK;
  long delay_ms = 0;
  std::string corrupt;  // flip | zero | truncate
  uint64_t every = 1;
  uint64_t count = 0;  // 0: unlimited
  long for_ms = 0;     // 0: no window
  uint64_t fired = 0;
};

struct Action {
  Kind kind = Kind::kError;
  bool fire = false;
  CK_RV rv = CKR_OK;
  long delay_ms = 0;
  std::string corrupt;
};

std::mutex g_mu;
CK_FUNCTION_LIST* g_real = nullptr;
void* g_handle = nullptr;
std::vector<Rule> g_rules;
uint64_t g_generation = 1;  // moves on each reload
Clock::time_point g_loaded;
struct FileId {
  bool exists = false;
  off_t size = 0;
  long mtime_ns = 0;
  ino_t inode = 0;
  bool operator==(const FileId&) const = default;
} g_file;

CK_RV ParseRv(const std::string& text, bool* ok) {
  static const struct {
    const char* name;
    CK_RV rv;
  } kNames[] = {
      {"CKR_DEVICE_ERROR", CKR_DEVICE_ERROR},
      {"CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED},
      {"CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY},
      {"CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID},
      {"CKR_SESSION_CLOSED", CKR_SESSION_CLOSED},
      {"CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN},
      {"CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT},
      {"CKR_GENERAL_ERROR", CKR_GENERAL_ERROR},
      {"CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED},
      {"CKR_CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED},
      {"CKR_KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID},
      {"CKR_OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID},
      {"CKR_OPERATION_ACTIVE", CKR_OPERATION_ACTIVE},
      {"CKR_HOST_MEMORY", CKR_HOST_MEMORY},
  };
  *ok = true;
  for (const auto& n : kNames) {
    if (text == n.name) return n.rv;
  }
  if (text.rfind("0x", 0) == 0) {
    char* end = nullptr;
    unsigned long v = std::strtoul(text.c_str() + 2, &end, 16);
    if (end != nullptr && *end == '\0') return v;
  }
  *ok = false;
  return CKR_OK;
}

void Complain(const std::string& line, const char* why) {
  std::fprintf(stderr, "fault_pkcs11: control line ignored (%s): %s\n", why, line.c_str());
}

std::vector<Rule> ParseRules(const std::string& text) {
  std::vector<Rule> rules;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    Rule r;
    std::string kind;
    if (!(words >> r.function)) continue;
    if (!(words >> kind)) {
      Complain(line, "no action");
      continue;
    }
    bool ok = true;
    if (kind == "error") {
      r.kind = Kind::kError;
      std::string rv;
      words >> rv;
      r.rv = ParseRv(rv, &ok);
    } else if (kind == "delay") {
      r.kind = Kind::kDelay;
      ok = static_cast<bool>(words >> r.delay_ms) && r.delay_ms >= 0;
    } else if (kind == "hang") {
      r.kind = Kind::kHang;
    } else if (kind == "corrupt") {
      r.kind = Kind::kCorrupt;
      words >> r.corrupt;
      ok = r.corrupt == "flip" || r.corrupt == "zero" || r.corrupt == "truncate";
    } else {
      ok = false;
    }
    std::string opt;
    while (ok && words >> opt) {
      long v = 0;
      if (!(words >> v) || v <= 0) {
        ok = false;
      } else if (opt == "every") {
        r.every = static_cast<uint64_t>(v);
      } else if (opt == "count") {
        r.count = static_cast<uint64_t>(v);
      } else if (opt == "for") {
        r.for_ms = v;
      } else {
        ok = false;
      }
    }
    if (!ok) {
      Complain(line, "bad syntax");
      continue;
    }
    rules.push_back(r);
  }
  return rules;
}

// Under g_mu: re-reads the control file if it changed.
void ReloadLocked() {
  const char* path = std::getenv("SIGNET_FAULT_CONTROL");
  FileId id;
  struct stat st {};
  if (path != nullptr && ::stat(path, &st) == 0) {
    id.exists = true;
    id.size = st.st_size;
    id.mtime_ns = st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
    id.inode = st.st_ino;
  }
  if (id == g_file) return;
  g_file = id;
  g_loaded = Clock::now();
  ++g_generation;
  g_rules.clear();
  if (!id.exists) return;
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  g_rules = ParseRules(text.str());
}

bool Matches(const Rule& r, const char* function) { return r.function == "*" || r.function == function; }

// The first rule that matches `function` and fires now.
Action Decide(const char* function, bool corrupt_only) {
  std::lock_guard<std::mutex> lock(g_mu);
  ReloadLocked();
  Action a;
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - g_loaded).count();
  for (Rule& r : g_rules) {
    if (!Matches(r, function) || (r.kind == Kind::kCorrupt) != corrupt_only) continue;
    if (r.for_ms > 0 && age >= r.for_ms) continue;
    if (r.count > 0 && r.fired >= r.count) continue;
    if (r.every > 1) {
      // Counted per thread: a retry on the same thread right after an injected failure is never the
      // next Nth call, whatever other threads do meanwhile.
      thread_local std::vector<uint64_t> seen;
      thread_local uint64_t seen_generation = 0;
      if (seen_generation != g_generation) {
        seen.assign(g_rules.size(), 0);
        seen_generation = g_generation;
      }
      const size_t i = static_cast<size_t>(&r - g_rules.data());
      if (++seen[i] % r.every != 0) continue;
    }
    ++r.fired;
    a.fire = true;
    a.kind = r.kind;
    a.rv = r.rv;
    a.delay_ms = r.delay_ms;
    a.corrupt = r.corrupt;
    return a;
  }
  return a;
}

bool StillHung(const char* function) {
  std::lock_guard<std::mutex> lock(g_mu);
  ReloadLocked();
  for (const Rule& r : g_rules) {
    if (Matches(r, function) && r.kind == Kind::kHang) return true;
  }
  return false;
}

// Applies an error/delay/hang action. Returns true with *rv set when the call must not go on.
bool Inject(const char* function, CK_RV* rv) {
  if (std::getenv("SIGNET_FAULT_CONTROL") == nullptr) return false;
  Action a = Decide(function, /*corrupt_only=*/false);
  if (!a.fire) return false;
  switch (a.kind) {
    case Kind::kError:
      *rv = a.rv;
      return true;
    case Kind::kDelay:
      std::this_thread::sleep_for(std::chrono::milliseconds(a.delay_ms));
      return false;
    case Kind::kHang:
      while (StillHung(function)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return false;
    case Kind::kCorrupt:
      return false;
  }
  return false;
}

template <typename T>
struct Forward;

template <typename... A>
struct Forward<CK_RV (*)(A...)> {
  template <CK_RV (*CK_FUNCTION_LIST::*Member)(A...), const char* Name>
  static CK_RV Call(A... args) {
    if (g_real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
    CK_RV rv = CKR_OK;
    if (Inject(Name, &rv)) return rv;
    return (g_real->*Member)(args...);
  }
};

constexpr char kSign[] = "C_Sign";

CK_RV FaultSign(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR signature,
                CK_ULONG_PTR signature_len) {
  if (g_real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  CK_RV rv = CKR_OK;
  if (Inject(kSign, &rv)) return rv;
  rv = g_real->C_Sign(session, data, data_len, signature, signature_len);
  if (rv != CKR_OK || signature == nullptr || signature_len == nullptr || *signature_len == 0 ||
      std::getenv("SIGNET_FAULT_CONTROL") == nullptr) {
    return rv;
  }
  Action a = Decide(kSign, /*corrupt_only=*/true);
  if (!a.fire) return rv;
  if (a.corrupt == "flip") {
    signature[*signature_len / 2 - 1] ^= 0x01;  // the low bit of r: still well formed, no longer valid
  } else if (a.corrupt == "zero") {
    std::memset(signature, 0, *signature_len / 2);  // r = 0: malformed
  } else {
    *signature_len -= 1;  // truncated
  }
  return CKR_OK;
}

CK_FUNCTION_LIST g_list{};

#define SIGNET_FAULT_FUNCTIONS(X)                                                                            \
  X(C_Initialize)                                                                                            \
  X(C_Finalize) X(C_GetInfo) X(C_GetSlotList) X(C_GetSlotInfo) X(C_GetTokenInfo) X(C_GetMechanismList)       \
      X(C_GetMechanismInfo) X(C_InitToken) X(C_InitPIN) X(C_SetPIN) X(C_OpenSession) X(C_CloseSession)       \
          X(C_CloseAllSessions) X(C_GetSessionInfo) X(C_GetOperationState) X(C_SetOperationState) X(C_Login) \
              X(C_Logout) X(C_CreateObject) X(C_CopyObject) X(C_DestroyObject) X(C_GetObjectSize)            \
                  X(C_GetAttributeValue) X(C_SetAttributeValue) X(C_FindObjectsInit) X(C_FindObjects) X(     \
                      C_FindObjectsFinal) X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate) X(C_EncryptFinal) \
                      X(C_DecryptInit) X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal) X(C_DigestInit)     \
                          X(C_Digest) X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal) X(C_SignInit)        \
                              X(C_SignUpdate) X(C_SignFinal) X(C_SignRecoverInit) X(C_SignRecover)           \
                                  X(C_VerifyInit) X(C_Verify) X(C_VerifyUpdate) X(C_VerifyFinal)             \
                                      X(C_VerifyRecoverInit) X(C_VerifyRecover) X(C_DigestEncryptUpdate)     \
                                          X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate)                    \
                                              X(C_DecryptVerifyUpdate) X(C_GenerateKey) X(C_GenerateKeyPair) \
                                                  X(C_WrapKey) X(C_UnwrapKey) X(C_DeriveKey) X(C_SeedRandom) \
                                                      X(C_GenerateRandom) X(C_GetFunctionStatus)             \
                                                          X(C_CancelFunction) X(C_WaitForSlotEvent)

#define SIGNET_FAULT_NAME(fn) constexpr char kName_##fn[] = #fn;
SIGNET_FAULT_FUNCTIONS(SIGNET_FAULT_NAME)

CK_RV Load() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_real != nullptr) return CKR_OK;
  const char* target = std::getenv("SIGNET_FAULT_TARGET");
  if (target == nullptr) target = "/usr/lib/softhsm/libsofthsm2.so";
  g_handle = ::dlopen(target, RTLD_NOW | RTLD_LOCAL);
  if (g_handle == nullptr) {
    std::fprintf(stderr, "fault_pkcs11: cannot load %s: %s\n", target, ::dlerror());
    return CKR_GENERAL_ERROR;
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(g_handle, "C_GetFunctionList"));
  if (get == nullptr || get(&g_real) != CKR_OK || g_real == nullptr) {
    g_real = nullptr;
    return CKR_GENERAL_ERROR;
  }
  g_list.version = g_real->version;
#define SIGNET_FAULT_SET(fn) \
  g_list.fn = &Forward<decltype(CK_FUNCTION_LIST::fn)>::Call<&CK_FUNCTION_LIST::fn, kName_##fn>;
  SIGNET_FAULT_FUNCTIONS(SIGNET_FAULT_SET)
  g_list.C_Sign = &FaultSign;
  return CKR_OK;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  if (CK_RV rv = Load(); rv != CKR_OK) return rv;
  g_list.C_GetFunctionList = &C_GetFunctionList;
  *list = &g_list;
  return CKR_OK;
}
