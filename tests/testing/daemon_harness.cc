#include "tests/testing/daemon_harness.h"

#include <sys/stat.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "daemon/tls.h"
#include "pkcs11/key.h"
#include "tests/testing/test_evidence.h"

namespace signet::testing {
namespace {

absl::StatusOr<ClientCert> Issue(const keymgmt::KeyAndCert& ca, const std::string& cn, const std::string& uri,
                                 absl::Time not_before, absl::Time not_after) {
  keymgmt::CertSpec spec;
  spec.common_name = cn;
  if (!uri.empty()) spec.uri_sans = {uri};
  spec.client_auth = true;
  spec.not_before = not_before;
  spec.not_after = not_after;
  auto kc = keymgmt::IssueCert(ca, spec);
  if (!kc.ok()) return kc.status();
  RegisterPrivateKey(absl::StrCat("DaemonHarness TLS key of client '", cn, "'"), kc->key.get());
  auto key = keymgmt::PrivateKeyPem(kc->key.get());
  if (!key.ok()) return key.status();
  return ClientCert{keymgmt::CertPem(kc->cert.get()), *key};
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot write ", path));
  std::fwrite(contents.data(), 1, contents.size(), f);
  std::fclose(f);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DaemonHarness>> DaemonHarness::Start(std::function<void(daemon::Config&)> tweak) {
  auto prepared = Prepare(std::move(tweak));
  if (!prepared.ok()) return prepared.status();
  std::unique_ptr<DaemonHarness> h = *std::move(prepared);
  if (auto s = h->StartServer(); !s.ok()) return s;
  return h;
}

absl::Status DaemonHarness::StartServer() {
  daemon::ServerOptions options;
  options.audit = [this](const daemon::AuditRecord& r) {
    std::lock_guard<std::mutex> lock(mu_);
    audits_.push_back({std::string(r.method), std::string(r.request_id), std::string(r.identity),
                       std::string(r.signer), std::string(r.key_id), std::string(r.input_sha256),
                       std::string(r.result), std::string(r.error)});
  };
  auto started = daemon::SignetServer::Start(config_, std::move(options));
  if (!started.ok()) return started.status();
  server_ = *std::move(started);
  port_ = server_->grpc_port();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DaemonHarness>> DaemonHarness::Prepare(std::function<void(daemon::Config&)> tweak) {
  // The TLS profile signetd's main sets up; before this process builds its first gRPC credentials.
  daemon::UseSignetGrpcCipherSuites();
  std::unique_ptr<DaemonHarness> h(new DaemonHarness());
  auto token = SoftHsmToken::Create("signetd-test");
  if (!token.ok()) return token.status();
  h->token_ = *std::move(token);
  {
    auto pool = h->token_->Pool(1);
    if (!pool.ok()) return pool.status();
    for (auto [curve, label] : {std::pair{EcCurve::kP256, "key-p256"}, std::pair{EcCurve::kP384, "key-p384"},
                                std::pair{EcCurve::kP521, "key-p521"}}) {
      auto key = (*pool)->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, curve, label); });
      if (!key.ok()) return key.status();
    }
  }
  const std::string dir = h->token_->dir();
  const absl::Time now = absl::Now();
  auto ca = keymgmt::CreateCa("Signet Test CA", now - absl::Hours(1), now + absl::Hours(24));
  if (!ca.ok()) return ca.status();
  keymgmt::CertSpec server_spec;
  server_spec.common_name = "localhost";
  server_spec.dns_sans = {"localhost"};
  server_spec.ip_sans = {"127.0.0.1"};
  server_spec.server_auth = true;
  server_spec.not_before = now - absl::Hours(1);
  server_spec.not_after = now + absl::Hours(24);
  auto server = keymgmt::IssueCert(*ca, server_spec);
  if (!server.ok()) return server.status();
  RegisterPrivateKey("DaemonHarness TLS key of the client CA", ca->key.get());
  RegisterPrivateKey("DaemonHarness TLS key of the server", server->key.get());
  if (auto s = keymgmt::WriteKeyAndCert(*server, dir, "server"); !s.ok()) return s;
  h->ca_pem_ = keymgmt::CertPem(ca->cert.get());
  if (auto s = WriteFile(dir + "/ca.pem", h->ca_pem_); !s.ok()) return s;

  auto allowed = Issue(*ca, "allowed", kAllowedIdentity, now - absl::Hours(1), now + absl::Hours(24));
  auto denied = Issue(*ca, "denied", kDeniedIdentity, now - absl::Hours(1), now + absl::Hours(24));
  auto expired = Issue(*ca, "expired", kAllowedIdentity, now - absl::Hours(48), now - absl::Hours(24));
  auto other_ca = keymgmt::CreateCa("Some Other CA", now - absl::Hours(1), now + absl::Hours(24));
  if (!allowed.ok() || !denied.ok() || !expired.ok() || !other_ca.ok()) {
    return absl::InternalError("issuing test client certificates failed");
  }
  auto foreign = Issue(*other_ca, "foreign", kAllowedIdentity, now - absl::Hours(1), now + absl::Hours(24));
  if (!foreign.ok()) return foreign.status();
  auto revoked = Issue(*ca, "revoked", kAllowedIdentity, now - absl::Hours(1), now + absl::Hours(24));
  if (!revoked.ok()) return revoked.status();
  RegisterPrivateKey("DaemonHarness TLS key of the other CA", other_ca->key.get());
  h->allowed_ = *std::move(allowed);
  h->denied_ = *std::move(denied);
  h->expired_ = *std::move(expired);
  h->foreign_ = *std::move(foreign);
  h->revoked_ = *std::move(revoked);
  h->ca_ = *std::move(ca);
  h->other_ca_ = *std::move(other_ca);

  // The PIN file the daemon reads, 0600.
  const std::string pin_path = dir + "/user.pin";
  if (auto s = WriteFile(pin_path, kTestUserPin); !s.ok()) return s;
  ::chmod(pin_path.c_str(), 0600);

  daemon::Config& c = h->config_;
  c.server.listen = "127.0.0.1:0";
  c.server.http_listen = "";
  c.server.tls.cert_file = dir + "/server.pem";
  c.server.tls.key_file = dir + "/server.key";
  c.server.tls.client_ca_file = dir + "/ca.pem";
  c.server.drain_timeout = absl::Seconds(5);
  c.hsm.module = SIGNET_SOFTHSM_MODULE;
  c.hsm.token = "signetd-test";
  c.hsm.pin_file = pin_path;
  c.batching.workers = 2;
  c.signers = {{.id = "p256", .type = "contentsignature", .key_label = "key-p256", .x5u = ""},
               {.id = "p384", .type = "contentsignature", .key_label = "key-p384",
                .x5u = "https://x5u.signet.test/p384.pem"},
               {.id = "p521", .type = "contentsignature", .key_label = "key-p521", .x5u = ""}};
  c.authorization = {{.identity = kAllowedIdentity, .signers = {"p256", "p384", "p521"}}};
  if (tweak) tweak(c);

  // The harness's own module reference goes; the daemon loads and owns the module from here.
  h->token_->Release();
  return h;
}

absl::StatusOr<std::string> DaemonHarness::WriteConfigYaml() const {
  const daemon::Config& c = config_;
  std::string y = absl::StrCat(
      "server:\n  listen: \"", c.server.listen, "\"\n  http_listen: \"", c.server.http_listen, "\"\n",
      "  drain_timeout: ", absl::FormatDuration(c.server.drain_timeout), "\n",
      c.server.ready_file ? absl::StrCat("  ready_file: ", *c.server.ready_file, "\n") : "",
      "  tls:\n    cert_file: ", c.server.tls.cert_file, "\n    key_file: ", c.server.tls.key_file,
      "\n    client_ca_file: ", c.server.tls.client_ca_file, "\n",
      c.server.tls.crl_file ? absl::StrCat("    crl_file: ", *c.server.tls.crl_file, "\n") : "",
      "hsm:\n  module: ", c.hsm.module, "\n  token: ", c.hsm.token, "\n  pin_file: ", c.hsm.pin_file.value_or(""),
      "\n  call_timeout: ", absl::FormatDuration(c.hsm.call_timeout), "\n  verify_every: ", c.hsm.verify_every,
      "\n", "batching:\n  workers: ", c.batching.workers, "\n  max_batch: ", c.batching.max_batch,
      "\n  queue_size: ", c.batching.queue_size, "\n  scheduling: ", c.batching.scheduling, "\n",
      "logging:\n  level: ", c.logging.level,
      "\n  format: ", c.logging.format, "\n", "signers:\n");
  for (const auto& s : c.signers) {
    absl::StrAppend(&y, "  - id: ", s.id, "\n    type: ", s.type, "\n    key_label: ", s.key_label, "\n");
    if (!s.x5u.empty()) absl::StrAppend(&y, "    x5u: \"", s.x5u, "\"\n");
  }
  absl::StrAppend(&y, "authorization:\n");
  for (const auto& a : c.authorization) {
    absl::StrAppend(&y, "  - identity: \"", a.identity, "\"\n    signers: [");
    for (size_t i = 0; i < a.signers.size(); ++i) absl::StrAppend(&y, i ? ", " : "", a.signers[i]);
    absl::StrAppend(&y, "]\n");
  }
  const std::string path = token_->dir() + "/signetd.yaml";
  if (auto s = WriteFile(path, y); !s.ok()) return s;
  return path;
}

DaemonHarness::~DaemonHarness() { Stop(); }

void DaemonHarness::Stop() {
  if (server_) server_->Shutdown();
  server_.reset();
}

std::string DaemonHarness::target() const { return absl::StrCat("localhost:", port_); }

std::shared_ptr<grpc::ChannelCredentials> DaemonHarness::Credentials(const ClientCert* client) const {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca_pem_;
  if (client != nullptr) {
    opts.pem_private_key = client->key_pem;
    opts.pem_cert_chain = client->cert_pem;
  }
  return grpc::SslCredentials(opts);
}

std::unique_ptr<signet::v1::Signer::Stub> DaemonHarness::Stub(const ClientCert& client) const {
  return Stub(Credentials(&client));
}

std::unique_ptr<signet::v1::Signer::Stub> DaemonHarness::Stub(
    const std::shared_ptr<grpc::ChannelCredentials>& creds) const {
  // A fresh channel per stub: each gets its own TLS connection and handshake.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return signet::v1::Signer::NewStub(grpc::CreateCustomChannel(target(), creds, args));
}

std::vector<DaemonHarness::OwnedAudit> DaemonHarness::audits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return audits_;
}

}  // namespace signet::testing
