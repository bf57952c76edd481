// signetd: the signing daemon.
//   signetd --config FILE            serve until SIGTERM/SIGINT (drains in-flight calls)
//   signetd --config FILE --check-config   validate the file (and the TLS files it names), then exit
// Exit codes, for service managers: 0 clean stop, 64 usage, 78 configuration error,
// 69 HSM or listen address unavailable at start, 1 anything else.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/hardening.h"
#include "common/malloc_tuning.h"
#include "common/thread_sched.h"
#include "daemon/config.h"
#include "daemon/mozlog.h"
#include "daemon/server.h"
#include "daemon/tls.h"
#include "spdlog/spdlog.h"

namespace {

constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;
constexpr int kExitConfig = 78;

constexpr char kUsage[] =
    "usage: signetd --config FILE [--check-config]\n"
    "       signetd --version\n";

int Run(int argc, char** argv) {
  // Keys live in the HSM, but the process still holds the PIN and the TLS key: no core dumps, no
  // ptrace by peers. First thing, before any file is read.
  if (auto s = signet::DisableCoreDumps(); !s.ok()) {
    std::cerr << "signetd: cannot disable core dumps: " << s.message() << "\n";
    return 1;
  }
  // gRPC reads its TLS 1.2 cipher list from the environment once, when the first credentials are
  // built; set it before anything can touch gRPC (SECURITY.md, "TLS profile").
  signet::daemon::UseSignetGrpcCipherSuites();
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.starts_with("--config=")) {
      config_path = a.substr(9);
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--version") {
      std::cout << "signetd " << SIGNET_VERSION << "\n";
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "signetd: unknown argument '" << a.substr(0, 64) << "'\n" << kUsage;
      return kExitUsage;
    }
  }
  if (config_path.empty()) {
    std::cerr << "signetd: --config FILE is required\n" << kUsage;
    return kExitUsage;
  }
  auto config = signet::daemon::Config::Load(config_path);
  if (!config.ok()) {
    std::cerr << "signetd: " << config.status().message() << "\n";
    return kExitConfig;
  }
  if (check_only) {
    if (auto s = signet::daemon::ValidateTlsFiles(config->server.tls); !s.ok()) {
      std::cerr << "signetd: " << config_path << ": " << s.message() << "\n";
      return kExitConfig;
    }
    std::cout << "signetd: " << config_path << ": configuration OK (" << config->signers.size() << " signers)\n";
    return 0;
  }

  signet::daemon::MozLog::Install(config->logging.logger_name, spdlog::level::from_str(config->logging.level),
                                  /*json=*/config->logging.format == "mozlog");
  // Before gRPC starts its threads, so they inherit it; the HSM workers put themselves back.
  if (config->batching.scheduling == "hsm_first") {
    if (auto s = signet::YieldToHsmWorkers(); !s.ok()) {
      spdlog::warn("signetd: batching.scheduling hsm_first not applied ({}); threads stay SCHED_OTHER",
                   signet::Sv(s.message()));
    }
  }

  // Signals are taken synchronously by this thread; every other thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = signet::daemon::SignetServer::Start(*config);
  if (!server.ok()) {
    spdlog::error("signetd: start failed: {}", signet::Sv(server.status().message()));
    const auto code = server.status().code();
    return (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ||
            code == absl::StatusCode::kPermissionDenied || code == absl::StatusCode::kFailedPrecondition)
               ? kExitConfig
               : kExitUnavailable;
  }
  if (config->server.ready_file) {
    std::string tmp = *config->server.ready_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f != nullptr) {
      std::fprintf(f, "{\"grpc_port\": %d, \"http_port\": %d, \"pid\": %d}\n", (*server)->grpc_port(),
                   (*server)->http_port(), static_cast<int>(getpid()));
      std::fclose(f);
      std::rename(tmp.c_str(), config->server.ready_file->c_str());
    } else {
      spdlog::warn("signetd: cannot write ready_file {}: {}", *config->server.ready_file, std::strerror(errno));
    }
  }
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // Certificate files are watched and reloaded automatically; SIGHUP confirms they are valid now,
      // and re-reads server.tls.crl_file (new handshakes use a newer CRL; a bad one changes nothing).
      auto s = signet::daemon::ValidateTlsFiles(config->server.tls, /*check_crl=*/false);
      if (s.ok()) {
        spdlog::info("signetd: SIGHUP: TLS files valid; new connections use them");
      } else {
        spdlog::error("signetd: SIGHUP: {}", signet::Sv(s.message()));
      }
      if (config->server.tls.crl_file) {
        auto crl = (*server)->ReloadCrl();
        if (crl.ok()) {
          spdlog::info("signetd: SIGHUP: server.tls.crl_file: {}", *crl);
        } else {
          spdlog::error("signetd: SIGHUP: {}", signet::Sv(crl.status().message()));
        }
      }
      continue;
    }
    spdlog::info("signetd: {} received; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  (*server)->Shutdown();
  spdlog::info("signetd: stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts: glibc's fastbins off, so the free tops of the threads' arenas are
  // trimmed as they are freed (common/malloc_tuning.h says why).
  if (auto s = signet::DisableMallocFastbins(); !s.ok()) {
    std::cerr << "signetd: " << s.message() << "; RSS may stay high after a load\n";
  }
  signet::DisableAbslDeadlockDetection();
  return Run(argc, argv);
}
