// signet-bench: measures signetd against the HSM's own ceiling and against a remote-signing peer.
//
//   signet-bench ceiling   --token T --pin-file F --key LABEL [--module M] [--threads 2] [--duration 5s]
//       C_SignInit + C_Sign in-process, one session per thread: what this machine and token can do.
//   signet-bench peer      the same flags; run it with --module p11-kit-client.so and
//       P11_KIT_SERVER_ADDRESS set, so every call crosses `p11-kit server` over a Unix socket.
//   signet-bench daemon    --server H:P --ca-file CA --cert-file C --key-file K --signer ID
//                          [--concurrency 32] [--items 1] [--channels 2] [--duration 5s] [--verify]
//       closed loop: `concurrency` calls of `items` inputs each always in flight over mTLS. The report
//       counts signatures per key that signed, with when the first and the last arrived ("keys");
//       --verify checks each signature against the key its key_id names, asking GetSigner once for
//       each key_id not seen before, so a run may span a key rotation (a contentsignaturepki signer
//       switching keys mid-run). Sign calls spread over --channels connections; GetSigner has
//       one more of its own.
//   signet-bench open-loop the daemon flags plus --rate CALLS_PER_SECOND [--max-in-flight N]: calls
//       start on a fixed schedule whatever the answers do (a pacer thread), and latency counts from
//       the scheduled start (no coordinated omission); start_lag_* says how late the pacer was.
//       --max-in-flight caps the calls awaiting an answer: past it the pacer waits (its lag, and the
//       latencies, grow) instead of queueing calls in this client, where a server slowed for a moment
//       would see them arrive too late to answer before their deadline. Calls scheduled before the
//       end but not started by then count as "not_started".
//
// The load generator is one thread on one completion queue (plus the pacer in open loop): its CPU
// competes with signetd's on the same cores, so it must stay cheap. Each run prints one JSON object.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/sign_answer.h"
#include "common/absl_compat.h"
#include "common/ec_curve.h"
#include "common/files.h"
#include "common/secret.h"
#include "common/sha256.h"
#include "keymgmt/cli_args.h"
#include "pkcs11/key.h"
#include "pkcs11/module.h"
#include "pkcs11/token.h"
#include "pkcs11/uri.h"
#include "signet/v1/signer.grpc.pb.h"
#include "signing/content_signature.h"
#include "signing/keys.h"

namespace signet::bench {
namespace {

namespace v1 = ::signet::v1;
using Clock = std::chrono::steady_clock;
using keymgmt::CliArgs;
using keymgmt::FlagSpec;

constexpr size_t kMaxPemBytes = 1 << 20;
constexpr size_t kInputBytes = 128;  // a small document; ECDSA cost does not depend on it

constexpr char kUsage[] = R"(usage:
  signet-bench ceiling|peer --token T --pin-file F --key LABEL [--module M] [--threads 2] [--duration 5s]
  signet-bench daemon --server H:P --ca-file CA --cert-file C --key-file K --signer ID
                      [--concurrency 32] [--items 1] [--channels 2] [--duration 5s] [--warmup 1s] [--verify]
  signet-bench open-loop (the daemon flags) --rate CALLS_PER_SECOND [--max-in-flight N]
)";

absl::StatusOr<absl::Duration> DurationFlag(const CliArgs& args, const std::string& name,
                                            absl::Duration def) {
  auto v = args.Get(name);
  if (!v) return def;
  absl::Duration d;
  if (!absl::ParseDuration(*v, &d) || d < absl::ZeroDuration() || d > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a duration such as 5s, got '", *v, "'"));
  }
  return d;
}

absl::StatusOr<int> IntFlag(const CliArgs& args, const std::string& name, int def, int min, int max) {
  auto v = args.Get(name);
  if (!v) return def;
  int n = 0;
  if (!absl::SimpleAtoi(*v, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be ", min, "..", max, ", got '", *v, "'"));
  }
  return n;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

// ---- ceiling / peer: the PKCS#11 module directly -------------------------------------------------

absl::Status RunModule(const std::string& mode, const CliArgs& args) {
  auto token = args.Require("token");
  if (!token.ok()) return token.status();
  auto pin_file = args.Require("pin-file");
  if (!pin_file.ok()) return pin_file.status();
  auto label = args.Require("key");
  if (!label.ok()) return label.status();
  auto threads = IntFlag(args, "threads", 2, 1, 256);
  if (!threads.ok()) return threads.status();
  auto duration = DurationFlag(args, "duration", absl::Seconds(5));
  if (!duration.ok()) return duration.status();
  auto pin = ReadSecretFile(*pin_file);
  if (!pin.ok()) return pin.status();
  auto module = pkcs11::Module::Load(args.Get("module").value_or("/usr/lib/softhsm/libsofthsm2.so"));
  if (!module.ok()) return module.status();
  auto selector = pkcs11::ParseTokenSelector(*token);
  if (!selector.ok()) return selector.status();
  auto logged_in = pkcs11::Token::Login(*module, *selector, *std::move(pin));
  if (!logged_in.ok()) return logged_in.status();

  struct Worker {
    pkcs11::Session session;
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    EcCurve curve = EcCurve::kP384;
    uint64_t ops = 0;
    absl::Status error;
  };
  std::vector<Worker> workers(static_cast<size_t>(*threads));
  for (Worker& w : workers) {
    auto session = (*logged_in)->OpenSession(/*read_write=*/false);
    if (!session.ok()) return session.status();
    w.session = *std::move(session);
    auto info = pkcs11::FindEcKey(w.session, pkcs11::KeyQuery{.label = *label});
    if (!info.ok()) return info.status();
    auto handle = pkcs11::FindPrivateKeyHandle(w.session, info->id);
    if (!handle.ok()) return handle.status();
    w.key = *handle;
    w.curve = info->curve;
  }
  const EcCurve curve = workers.front().curve;
  const std::vector<uint8_t> digest(GetEcCurveInfo(curve).digest_bytes, 0x5a);
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> pool;
  for (Worker& w : workers) {
    pool.emplace_back([&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      while (!stop.load(std::memory_order_relaxed)) {
        auto sig = pkcs11::SignDigest(w.session, w.key, w.curve, digest);
        if (!sig.ok()) {
          w.error = sig.status();
          return;
        }
        ++w.ops;
      }
    });
  }
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(absl::ToChronoMilliseconds(*duration));
  stop.store(true);
  for (auto& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t ops = 0;
  for (const Worker& w : workers) {
    if (!w.error.ok()) return w.error;
    ops += w.ops;
  }
  std::printf("{\"mode\":%s,\"curve\":%s,\"threads\":%d,\"ops\":%llu,\"seconds\":%.3f,\"sigs_per_s\":%.1f}\n",
              JsonString(mode).c_str(), JsonString(GetEcCurveInfo(curve).name).c_str(), *threads,
              static_cast<unsigned long long>(ops), seconds, static_cast<double>(ops) / seconds);
  return absl::OkStatus();
}

// ---- daemon / open-loop: signetd over mTLS --------------------------------------------------------

struct DaemonOptions {
  int concurrency = 32;
  int items = 1;
  int channels = 2;
  double rate = 0;        // calls/s; 0 = closed loop
  int max_in_flight = 0;  // open loop: 0 = no cap
  absl::Duration duration = absl::Seconds(5);
  absl::Duration warmup = absl::Seconds(1);
  bool verify = false;
};

// A Sign connection: its channel and the Sign method registered on it, as a generated stub has it. The
// load generator sends a request serialized once and reads each answer's bytes (bench/sign_answer.h)
// instead of building a SignResponse per call: this process's CPU counts against signetd on a shared
// machine, and parsing the answer was a fifth of it at 64 items per call.
struct SignChannel {
  explicit SignChannel(std::shared_ptr<grpc::Channel> ch)
      : channel(std::move(ch)), sign(kSignMethod, grpc::internal::RpcMethod::NORMAL_RPC, channel) {}
  static constexpr char kSignMethod[] = "/signet.v1.Signer/Sign";
  std::shared_ptr<grpc::Channel> channel;
  grpc::internal::RpcMethod sign;
};

class LoadGenerator {
 private:
  // Per key_id that signed: its count, its x5u, and (from GetSigner, for --verify) its public key.
  struct KeySeen {
    EvpPkeyPtr key;
    EcCurve curve = EcCurve::kP384;
    std::string x5u;       // GetSigner's
    std::string x5u_seen;  // the Sign responses'
    std::string spki_sha256;
    uint64_t signatures = 0;
    int64_t first_unix_ms = 0;  // when the first and the last answer signed with it arrived
    int64_t last_unix_ms = 0;
  };

 public:
  // `lookup` is GetSigner's stub, on a connection of its own (see VerifyKey).
  LoadGenerator(std::vector<std::unique_ptr<SignChannel>> channels, std::unique_ptr<v1::Signer::Stub> lookup,
                v1::SignRequest request, DaemonOptions options, EcCurve curve)
      : channels_(std::move(channels)),
        lookup_(std::move(lookup)),
        request_(std::move(request)),
        request_bytes_(Serialized(request_)),
        options_(options),
        curve_(curve) {}

  // A key the signer serves, from GetSigner: what --verify checks signatures with.
  absl::Status AddKey(const v1::SignerInfo& info) {
    auto curve = EcCurveFromName(info.curve());
    if (!curve.ok()) return curve.status();
    auto key = signing::PublicKeyFromSpkiDer(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(info.public_key().data()), info.public_key().size()));
    if (!key.ok()) return key.status();
    KeySeen& k = keys_[info.key_id()];
    k.key = *std::move(key);
    k.curve = *curve;
    k.x5u = info.x5u();
    k.spki_sha256 = Sha256Hex(info.public_key());
    return absl::OkStatus();
  }

  absl::Status Run(const std::string& mode) {
    const auto t0 = Clock::now();
    measure_from_ = t0 + absl::ToChronoNanoseconds(options_.warmup);
    end_ = measure_from_ + absl::ToChronoNanoseconds(options_.duration);
    std::thread pacer;
    if (options_.rate > 0) {
      // Open loop: a pacer thread sleeps until each scheduled start (a completion-queue alarm fired up
      // to a millisecond late, which the latencies would have counted against the server).
      pacer = std::thread([this, t0] {
        const auto interval = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / options_.rate));
        auto next = t0;
        bool held_past_end = false;
        while (next < end_ && !held_past_end) {
          std::this_thread::sleep_until(next);
          for (const auto now = Clock::now(); next <= now && next < end_; next += interval) {
            if (!WaitForRoom()) {
              held_past_end = true;
              break;
            }
            Start(next);
          }
        }
        // Scheduled but never started: the cap held them back until the end.
        for (; next < end_; next += interval) {
          if (next >= measure_from_) ++not_started_;
        }
        pacing_done_.store(true);
      });
    } else {
      pacing_done_.store(true);
      for (int i = 0; i < options_.concurrency; ++i) Start(Clock::now());
    }
    void* tag = nullptr;
    bool ok = false;
    while (!pacing_done_.load() || in_flight_.load() > 0) {
      const auto status =
          cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(20));
      if (status == grpc::CompletionQueue::GOT_EVENT) Finish(static_cast<Call*>(tag));
    }
    if (pacer.joinable()) pacer.join();
    Report(mode);  // with "verify_error" when a check failed, so a long run's numbers are not lost
    if (!verify_error_.empty()) return absl::DataLossError(verify_error_);
    return absl::OkStatus();
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    grpc::ByteBuffer response;  // a serialized SignResponse
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>> rpc;
    Clock::time_point scheduled;
  };

  static grpc::ByteBuffer Serialized(const v1::SignRequest& request) {
    grpc::ByteBuffer bytes;
    bool own = false;
    if (!grpc::SerializationTraits<v1::SignRequest>::Serialize(request, &bytes, &own).ok()) {
      std::fprintf(stderr, "signet-bench: the Sign request does not serialize\n");
      std::abort();
    }
    return bytes;
  }

  // Open loop with --max-in-flight: waits until fewer calls than the cap await an answer; false once
  // the run's end has passed (the pacer then stops starting calls).
  bool WaitForRoom() {
    if (options_.max_in_flight <= 0) return true;
    for (int64_t n = in_flight_.load(); n >= options_.max_in_flight; n = in_flight_.load()) {
      if (Clock::now() >= end_) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }

  void Start(Clock::time_point scheduled) {
    auto* call = new Call;
    call->scheduled = scheduled;
    if (options_.rate > 0 && scheduled >= measure_from_) {
      start_lag_us_.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - scheduled).count()));
    }
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    SignChannel& ch = *channels_[next_stub_++ % channels_.size()];
    // What the generated stub's PrepareAsyncSign does, with bytes for request and answer. The reader
    // lives in the call's arena; its unique_ptr's delete is a no-op.
    call->rpc.reset(grpc::internal::ClientAsyncResponseReaderHelper::Create<grpc::ByteBuffer>(
        ch.channel.get(), &cq_, ch.sign, &call->ctx, request_bytes_));
    call->rpc->StartCall();
    in_flight_.fetch_add(1);  // before Finish can deliver the completion
    call->rpc->Finish(&call->response, &call->status, call);
  }

  void Finish(Call* call) {
    in_flight_.fetch_sub(1);
    const auto now = Clock::now();
    const bool counted = call->scheduled >= measure_from_ && call->scheduled < end_;
    if (call->status.ok() && !ScanSignAnswer(&call->response, tally_)) {
      // What the generated stub reports for an answer that does not parse.
      call->status = grpc::Status(grpc::StatusCode::INTERNAL, "the Sign answer is not a SignResponse");
    }
    if (counted) {
      latencies_us_.push_back(static_cast<uint32_t>(std::min<int64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - call->scheduled).count(), UINT32_MAX)));
      if (!call->status.ok()) {
        ++errors_[call->status.error_code()];
      } else {
        ++calls_ok_;
        for (int code : tally_.error_codes) ++errors_[code];
      }
      last_counted_ = now;
    }
    if (call->status.ok()) {
      const int64_t unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
      for (size_t i = 0; i < tally_.keys_used; ++i) {
        const AnswerTally::Key& signed_with = tally_.keys[i];
        KeySeen& k = keys_[signed_with.key_id];
        if (counted) {
          signatures_ += signed_with.signatures;
          if (k.signatures == 0) k.first_unix_ms = unix_ms;
          k.signatures += signed_with.signatures;
          k.last_unix_ms = unix_ms;
        }
        if (k.x5u_seen.empty()) k.x5u_seen = signed_with.x5u;
        if (options_.verify && k.x5u_seen != signed_with.x5u && verify_error_.empty()) {
          verify_error_ = absl::StrCat("key_id ", signed_with.key_id, " came with two x5u URLs: ", k.x5u_seen,
                                       " and ", signed_with.x5u);
        }
      }
      if (options_.verify) {
        v1::SignResponse response;
        grpc::ProtoBufferReader reader(&call->response);
        if (response.ParseFromZeroCopyStream(&reader)) {
          Verify(response);
        } else if (verify_error_.empty()) {
          verify_error_ = "a Sign answer did not parse as a SignResponse";
        }
      }
    }
    delete call;
    if (options_.rate <= 0 && now < end_) Start(now);
  }

  // A key_id not seen before (the signer rotated): GetSigner, once, must now name that key. It goes
  // over its own connection: on the Sign connections it would wait behind every call the server's
  // stream limit (256 per connection) holds back in this client, which under a backlog took longer
  // than its deadline and failed a soak whose signetd had answered every call.
  KeySeen* VerifyKey(const std::string& key_id) {
    KeySeen& k = keys_[key_id];
    if (k.key) return &k;
    v1::GetSignerRequest get;
    get.set_signer_id(request_.signer_id());
    v1::SignerInfo info;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status st = lookup_->GetSigner(&ctx, get, &info);
    absl::Status added =
        !st.ok() ? absl::UnavailableError(st.error_message())
        : info.key_id() != key_id
            ? absl::FailedPreconditionError(absl::StrCat("GetSigner reports key_id ", info.key_id()))
            : AddKey(info);
    if (!added.ok()) {
      if (verify_error_.empty()) {
        verify_error_ = absl::StrCat("key_id ", key_id, " signed, but its key is unknown: ", added.message());
      }
      return nullptr;
    }
    return &k;
  }

  void Verify(const v1::SignResponse& response) {
    // After the first failure the run has failed: stop checking. In particular a key whose GetSigner
    // failed is not asked for again with every answer it signed (each ask blocks this thread, the one
    // reading the answers, for up to its deadline: an overloaded server would be made worse).
    if (!verify_error_.empty()) return;
    for (int i = 0; i < response.items_size() && i < request_.inputs_size(); ++i) {
      if (!response.items(i).has_result()) continue;
      const v1::SignResult& result = response.items(i).result();
      KeySeen* k = VerifyKey(result.key_id());
      if (k == nullptr) return;
      if (result.x5u() != k->x5u && verify_error_.empty()) {
        verify_error_ = absl::StrCat("key_id ", result.key_id(), " signed with x5u ", result.x5u(),
                                     ", GetSigner says ", k->x5u);
      }
      const std::string& data = request_.inputs(i);
      absl::Status s = signing::VerifyData(
          k->key.get(), k->curve,
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
          result.signature());
      if (!s.ok() && verify_error_.empty()) {
        verify_error_ = absl::StrCat("item ", i, " (key_id ", result.key_id(), "): ", s.message());
      }
      ++verified_;
    }
  }

  // User plus system CPU of this whole process so far (warm-up and connection set-up included): what
  // the load generator took from the cores it shares with signetd.
  static double ProcessCpuSeconds() {
    rusage u{};
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return sec(u.ru_utime) + sec(u.ru_stime);
  }

  void Report(const std::string& mode) {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto pct = [&](double p) -> double {
      if (latencies_us_.empty()) return 0;
      size_t i = std::min(latencies_us_.size() - 1,
                          static_cast<size_t>(p * static_cast<double>(latencies_us_.size())));
      return latencies_us_[i] / 1000.0;
    };
    const double seconds = absl::ToDoubleSeconds(options_.duration);
    std::sort(start_lag_us_.begin(), start_lag_us_.end());
    auto lag = [&](double p) -> double {
      if (start_lag_us_.empty()) return 0;
      return start_lag_us_[std::min(start_lag_us_.size() - 1,
                                    static_cast<size_t>(p * static_cast<double>(start_lag_us_.size())))] /
             1000.0;
    };
    std::string errors;
    for (const auto& [code, n] : errors_) {
      absl::StrAppend(&errors, errors.empty() ? "" : ",", "\"", code, "\":", n);
    }
    std::string keys;
    for (const auto& [key_id, k] : keys_) {
      if (k.signatures == 0) continue;
      absl::StrAppend(&keys, keys.empty() ? "" : ",", "{\"key_id\":", JsonString(key_id),
                      ",\"x5u\":", JsonString(k.x5u_seen), ",\"spki_sha256\":", JsonString(k.spki_sha256),
                      ",\"signatures\":", k.signatures, ",\"first_unix_ms\":", k.first_unix_ms,
                      ",\"last_unix_ms\":", k.last_unix_ms, "}");
    }
    std::printf(
        "{\"mode\":%s,\"signer\":%s,\"curve\":%s,\"items\":%d,\"concurrency\":%d,\"channels\":%d,"
        "\"rate\":%.1f,\"calls\":%zu,\"calls_ok\":%llu,\"signatures\":%llu,\"seconds\":%.3f,"
        "\"sigs_per_s\":%.1f,\"calls_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"max_ms\":%.3f,\"verified\":%llu,\"start_lag_p50_ms\":%.3f,\"start_lag_p99_ms\":%.3f,"
        "\"max_in_flight\":%d,\"not_started\":%llu,\"cpu_s\":%.3f,\"errors\":{%s},\"keys\":[%s]%s}\n",
        JsonString(mode).c_str(), JsonString(request_.signer_id()).c_str(),
        JsonString(GetEcCurveInfo(curve_).name).c_str(), options_.items, options_.concurrency,
        options_.channels, options_.rate, latencies_us_.size(), static_cast<unsigned long long>(calls_ok_),
        static_cast<unsigned long long>(signatures_), seconds, static_cast<double>(signatures_) / seconds,
        static_cast<double>(latencies_us_.size()) / seconds, pct(0.50), pct(0.90), pct(0.99),
        latencies_us_.empty() ? 0.0 : latencies_us_.back() / 1000.0,
        static_cast<unsigned long long>(verified_), lag(0.5), lag(0.99), options_.max_in_flight,
        static_cast<unsigned long long>(not_started_), ProcessCpuSeconds(), errors.c_str(), keys.c_str(),
        verify_error_.empty() ? "" : absl::StrCat(",\"verify_error\":", JsonString(verify_error_)).c_str());
  }

  std::vector<std::unique_ptr<SignChannel>> channels_;
  std::unique_ptr<v1::Signer::Stub> lookup_;
  const v1::SignRequest request_;
  const grpc::ByteBuffer request_bytes_;  // request_, serialized once
  AnswerTally tally_;
  const DaemonOptions options_;
  EcCurve curve_;
  std::map<std::string, KeySeen> keys_;
  grpc::CompletionQueue cq_;
  std::atomic<bool> pacing_done_{false};
  Clock::time_point measure_from_, end_, last_counted_;
  std::atomic<size_t> next_stub_{0};
  std::atomic<int64_t> in_flight_{0};
  std::vector<uint32_t> latencies_us_;
  std::vector<uint32_t> start_lag_us_;  // open loop: how late the generator started each call
  uint64_t calls_ok_ = 0;
  uint64_t signatures_ = 0;
  uint64_t verified_ = 0;
  uint64_t not_started_ = 0;  // open loop: scheduled in the measured window, held back by the cap
  std::map<int, uint64_t> errors_;
  std::string verify_error_;
};

absl::Status RunDaemon(const std::string& mode, const CliArgs& args) {
  DaemonOptions o;
  auto server = args.Require("server");
  if (!server.ok()) return server.status();
  auto signer = args.Require("signer");
  if (!signer.ok()) return signer.status();
  std::string pems[3];
  const char* pem_flags[3] = {"ca-file", "cert-file", "key-file"};
  for (int i = 0; i < 3; ++i) {
    auto path = args.Require(pem_flags[i]);
    if (!path.ok()) return path.status();
    auto text = ReadFileBounded(*path, kMaxPemBytes);
    if (!text.ok()) return text.status();
    pems[i] = *std::move(text);
  }
  auto concurrency = IntFlag(args, "concurrency", 32, 1, 100000);
  auto items = IntFlag(args, "items", 1, 1, 100000);
  auto channels = IntFlag(args, "channels", 2, 1, 1024);
  auto duration = DurationFlag(args, "duration", absl::Seconds(5));
  auto warmup = DurationFlag(args, "warmup", absl::Seconds(1));
  for (const absl::Status& s :
       {concurrency.status(), items.status(), channels.status(), duration.status(), warmup.status()}) {
    if (!s.ok()) return s;
  }
  o.concurrency = *concurrency;
  o.items = *items;
  o.channels = *channels;
  o.duration = *duration;
  o.warmup = *warmup;
  o.verify = args.Has("verify");
  if (mode == "open-loop") {
    auto rate = args.Require("rate");
    if (!rate.ok()) return rate.status();
    if (!absl::SimpleAtod(*rate, &o.rate) || o.rate <= 0 || o.rate > 1e6) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rate must be calls per second in (0, 1e6], got '", *rate, "'"));
    }
    auto cap = IntFlag(args, "max-in-flight", 0, 0, 100000);
    if (!cap.ok()) return cap.status();
    o.max_in_flight = *cap;
  } else if (args.Has("max-in-flight")) {
    return absl::InvalidArgumentError(
        "--max-in-flight is for open-loop (daemon keeps --concurrency calls in flight)");
  }

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pems[0];
  ssl.pem_cert_chain = pems[1];
  ssl.pem_private_key = pems[2];
  auto creds = grpc::SslCredentials(ssl);
  auto new_channel = [&] {
    grpc::ChannelArguments ch;
    ch.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one TLS connection per channel
    // No transparent retries: a load generator counts every failure rather than hiding it, and the
    // retry filter's per-call bookkeeping (it keeps each request for a possible retry) cost 10-18% of
    // this process's CPU per call, CPU that counts against signetd on a shared machine.
    ch.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    return grpc::CreateCustomChannel(*server, creds, ch);
  };
  std::vector<std::unique_ptr<SignChannel>> sign_channels;
  for (int i = 0; i < o.channels; ++i) sign_channels.push_back(std::make_unique<SignChannel>(new_channel()));
  std::unique_ptr<v1::Signer::Stub> lookup = v1::Signer::NewStub(new_channel());
  // The signer's curve and key, for the report and for --verify.
  v1::GetSignerRequest get;
  get.set_signer_id(*signer);
  v1::SignerInfo info;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status st = lookup->GetSigner(&ctx, get, &info);
  if (!st.ok()) {
    return absl::UnavailableError(absl::StrCat("GetSigner(", *signer, "): ", st.error_message()));
  }
  auto curve = EcCurveFromName(info.curve());
  if (!curve.ok()) return curve.status();

  v1::SignRequest request;
  request.set_signer_id(*signer);
  for (int i = 0; i < o.items; ++i) {
    std::string input(kInputBytes, 'x');
    std::snprintf(input.data(), input.size(), "signet-bench item %d ", i);
    request.add_inputs(std::move(input));
  }
  LoadGenerator gen(std::move(sign_channels), std::move(lookup), std::move(request), o, *curve);
  if (auto s = gen.AddKey(info); !s.ok()) return s;
  return gen.Run(mode);
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string mode = args.front();
  args.erase(args.begin());
  FlagSpec spec{
      {"module", "token", "pin-file", "key", "threads", "duration", "server", "ca-file", "cert-file",
       "key-file", "signer", "concurrency", "items", "channels", "warmup", "rate", "max-in-flight"},
      {"verify"}};
  auto parsed = CliArgs::Parse(args, spec);
  absl::Status s;
  if (!parsed.ok()) {
    s = parsed.status();
  } else if (mode == "ceiling" || mode == "peer") {
    s = RunModule(mode, *parsed);
  } else if (mode == "daemon" || mode == "open-loop") {
    s = RunDaemon(mode, *parsed);
  } else {
    std::cerr << "signet-bench: unknown mode '" << mode << "'\n" << kUsage;
    return 2;
  }
  if (!s.ok()) {
    std::cerr << "signet-bench: " << mode << ": " << s.message() << "\n";
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace
}  // namespace signet::bench

int main(int argc, char** argv) {
  signet::DisableAbslDeadlockDetection();
  return signet::bench::Main(argc, argv);
}
