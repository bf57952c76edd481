#include "pkcs11/module.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "pkcs11/error.h"
#include "spdlog/spdlog.h"

namespace signet::pkcs11 {
namespace {

std::mutex g_modules_mu;
// realpath → the live Module for it. Weak: the last owner's release finalizes the module.
std::map<std::string, std::weak_ptr<Module>>& LoadedModules() {
  static auto* modules = new std::map<std::string, std::weak_ptr<Module>>();
  return *modules;
}

std::string Trim(const unsigned char* field, size_t len) {
  std::string s(reinterpret_cast<const char*>(field), len);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

Module::Module(std::string path, void* handle, CK_FUNCTION_LIST* functions)
    : path_(std::move(path)), handle_(handle), functions_(functions) {
  debug_ = spdlog::should_log(spdlog::level::debug);
}

bool Module::IsLoaded(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return false;
  std::lock_guard<std::mutex> lock(g_modules_mu);
  auto it = LoadedModules().find(resolved);
  return it != LoadedModules().end() && !it->second.expired();
}

absl::StatusOr<std::shared_ptr<Module>> Module::Load(const std::string& path) {
  if (path.empty() || path.size() > PATH_MAX) {
    return absl::InvalidArgumentError("PKCS#11 module path is empty or longer than PATH_MAX");
  }
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) {
    return absl::NotFoundError(absl::StrCat("PKCS#11 module ", path, ": ", std::strerror(errno)));
  }
  struct stat st {};
  if (::stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("PKCS#11 module ", path, ": not a regular file"));
  }

  std::lock_guard<std::mutex> lock(g_modules_mu);
  auto& loaded = LoadedModules();
  if (auto it = loaded.find(resolved); it != loaded.end()) {
    if (auto existing = it->second.lock()) return existing;
  }

  void* handle = ::dlopen(resolved, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("PKCS#11 module ", path, ": dlopen: ", ::dlerror()));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  if (get_list == nullptr) {
    ::dlclose(handle);
    return absl::InvalidArgumentError(
        absl::StrCat("PKCS#11 module ", path, ": no C_GetFunctionList symbol; is it a PKCS#11 module?"));
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    ::dlclose(handle);
    return WithContext(CkrToStatus("C_GetFunctionList", rv == CKR_OK ? CKR_GENERAL_ERROR : rv),
                       absl::StrCat("PKCS#11 module ", path));
  }
  if (functions->version.major != 2) {
    ::dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat("PKCS#11 module ", path, ": Cryptoki version ",
                                                      functions->version.major, ".", functions->version.minor,
                                                      " is not 2.x"));
  }

  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&args);
  if (rv != CKR_OK) {
    // Not ours to finalize if someone else in the process initialized it: refuse rather than share
    // state we do not own.
    ::dlclose(handle);
    return WithContext(CkrToStatus("C_Initialize", rv), absl::StrCat("PKCS#11 module ", path));
  }
  std::shared_ptr<Module> module(new Module(resolved, handle, functions));
  loaded[resolved] = module;
  spdlog::debug("pkcs11: loaded module {}", module->path_);
  return module;
}

Module::~Module() {
  // Under the registry lock, so a concurrent Load cannot C_Initialize while we C_Finalize.
  std::lock_guard<std::mutex> lock(g_modules_mu);
  if (functions_ != nullptr) {
    CK_RV rv = functions_->C_Finalize(nullptr);
    if (rv != CKR_OK) spdlog::warn("pkcs11: C_Finalize of {}: {}", path_, CkrName(rv));
  }
  if (handle_ != nullptr) ::dlclose(handle_);
  auto& loaded = LoadedModules();
  if (auto it = loaded.find(path_); it != loaded.end() && it->second.expired()) loaded.erase(it);
}

absl::Status Module::Reinitialize(std::chrono::milliseconds wait) {
  std::unique_lock<std::shared_timed_mutex> exclusive(gate_, std::defer_lock);
  if (!exclusive.try_lock_for(wait)) {
    return absl::UnavailableError(absl::StrCat("PKCS#11 module ", path_,
                                               ": not reinitialized: an HSM call is still ",
                                               "in flight after ", wait.count(), " ms"));
  }
  std::lock_guard<std::mutex> lock(g_modules_mu);
  // Whatever C_Finalize says (the module may already consider itself finalized), start afresh.
  CK_RV rv = functions_->C_Finalize(nullptr);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_NOT_INITIALIZED) {
    spdlog::warn("pkcs11: C_Finalize of {} before reinitializing: {}", path_, CkrName(rv));
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions_->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return WithContext(CkrToStatus("C_Initialize", rv),
                       absl::StrCat("PKCS#11 module ", path_, ": reinitializing"));
  }
  spdlog::info("pkcs11: module {} reinitialized (generation {})", path_, generation_.load());
  return absl::OkStatus();
}

void Module::LogCall(const char* function, CK_RV rv) const {
  spdlog::debug("pkcs11: {} -> {}", function, CkrName(rv));
}

absl::Status Module::Failure(const char* function, CK_RV rv) const { return CkrToStatus(function, rv); }

absl::StatusOr<std::vector<CK_SLOT_ID>> Module::Slots(bool token_present) const {
  const CK_BBOOL present = token_present ? CK_TRUE : CK_FALSE;
  // The list may grow between the two calls (hot-plug, SoftHSM's fresh slot after C_InitToken).
  for (int attempt = 0; attempt < 4; ++attempt) {
    CK_ULONG count = 0;
    if (auto s = SIGNET_P11(*this, C_GetSlotList, present, nullptr, &count); !s.ok()) return s;
    if (count > 4096) return absl::InternalError("C_GetSlotList: module reports over 4096 slots");
    if (count == 0) return std::vector<CK_SLOT_ID>();
    std::vector<CK_SLOT_ID> slots(count);
    CK_RV rv = functions_->C_GetSlotList(present, slots.data(), &count);
    if (rv == CKR_BUFFER_TOO_SMALL) continue;
    if (auto s = Check("C_GetSlotList", rv); !s.ok()) return s;
    slots.resize(count);
    return slots;
  }
  return absl::UnavailableError("C_GetSlotList: slot list kept changing");
}

absl::StatusOr<TokenInfo> Module::GetTokenInfo(CK_SLOT_ID slot) const {
  CK_TOKEN_INFO info{};
  if (auto s = SIGNET_P11(*this, C_GetTokenInfo, slot, &info); !s.ok()) return s;
  TokenInfo t;
  t.slot = slot;
  t.label = Trim(info.label, sizeof(info.label));
  t.serial = Trim(info.serialNumber, sizeof(info.serialNumber));
  t.manufacturer = Trim(info.manufacturerID, sizeof(info.manufacturerID));
  t.model = Trim(info.model, sizeof(info.model));
  t.flags = info.flags;
  return t;
}

absl::StatusOr<std::vector<TokenInfo>> Module::Tokens() const {
  auto slots = Slots(/*token_present=*/true);
  if (!slots.ok()) return slots.status();
  std::vector<TokenInfo> tokens;
  for (CK_SLOT_ID slot : *slots) {
    auto info = GetTokenInfo(slot);
    if (!info.ok()) return info.status();
    tokens.push_back(*std::move(info));
  }
  return tokens;
}

absl::Status Module::InitToken(CK_SLOT_ID slot, const SecretBuffer& so_pin, std::string_view label) const {
  if (label.empty() || label.size() > 32) {
    return absl::InvalidArgumentError(absl::StrCat("token label must be 1..32 bytes, got ", label.size()));
  }
  if (so_pin.empty()) return absl::InvalidArgumentError("SO PIN is empty");
  CK_UTF8CHAR padded[32];
  std::memset(padded, ' ', sizeof(padded));
  std::memcpy(padded, label.data(), label.size());
  return SIGNET_P11(*this, C_InitToken, slot, const_cast<CK_UTF8CHAR*>(so_pin.data()), so_pin.size(), padded);
}

}  // namespace signet::pkcs11
