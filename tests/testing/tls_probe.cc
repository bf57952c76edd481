#include "tests/testing/tls_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/openssl_ptr.h"

namespace signet::testing {
namespace {

using SslCtxPtr = OpenSslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = OpenSslPtr<SSL, SSL_free>;

constexpr int kTimeoutSeconds = 5;

std::string Errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason != nullptr ? reason : absl::StrCat("error ", e);
  }
  return out;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void SetTimeouts(int fd) {
  timeval tv{kTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool UsePem(SSL_CTX* ctx, const std::string& cert_pem, const std::string& key_pem) {
  BioPtr cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  BioPtr kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  return cert && key && SSL_CTX_use_certificate(ctx, cert.get()) == 1 && SSL_CTX_use_PrivateKey(ctx, key.get()) == 1;
}

}  // namespace

std::string Http2Preface() {
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const char settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};  // length 0, type SETTINGS, no flags, stream 0
  out.append(settings, sizeof(settings));
  return out;
}

std::string HttpGet(const std::string& path) {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

std::ostream& operator<<(std::ostream& os, const TlsProbeResult& r) {
  return os << "client_ready=" << r.client_ready << " handshake=" << r.handshake << " answered=" << r.answered
            << " version=" << r.version << " cipher=" << r.cipher << " error=\"" << r.error << "\"";
}

TlsProbeResult ProbeTls(int port, const TlsClientSpec& spec) {
  // A server that refuses us closes the socket; writing to it then must fail, not kill the test.
  static const bool sigpipe_ignored = [] { return std::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;
  TlsProbeResult r;
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    r.error = "SSL_CTX_new: " + Errors();
    return r;
  }
  // Security level 0, so that the client offers what a default client no longer would: a refusal
  // must come from the server.
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if ((spec.min_version != 0 && SSL_CTX_set_min_proto_version(ctx.get(), spec.min_version) != 1) ||
      (spec.max_version != 0 && SSL_CTX_set_max_proto_version(ctx.get(), spec.max_version) != 1) ||
      SSL_CTX_set_cipher_list(ctx.get(), spec.cipher_list.empty() ? "DEFAULT:@SECLEVEL=0"
                                                                  : (spec.cipher_list + ":@SECLEVEL=0").c_str()) != 1 ||
      (!spec.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx.get(), spec.ciphersuites.c_str()) != 1)) {
    r.error = "client settings refused by OpenSSL: " + Errors();
    return r;
  }
  if (!spec.cert_pem.empty() && !UsePem(ctx.get(), spec.cert_pem, spec.key_pem)) {
    r.error = "client certificate: " + Errors();
    return r;
  }
  if (!spec.alpn.empty()) {
    std::string wire(1, static_cast<char>(spec.alpn.size()));
    wire += spec.alpn;
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  r.client_ready = true;

  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  SetTimeouts(fd.get());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    r.error = absl::StrCat("connect: ", std::strerror(errno));
    return r;
  }
  SslPtr ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd.get());
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  if (SSL_connect(ssl.get()) != 1) {
    r.error = Errors();
    if (r.error.empty()) r.error = "the server closed the connection during the handshake";
    return r;
  }
  r.handshake = true;
  r.version = SSL_get_version(ssl.get());
  r.cipher = SSL_get_cipher_name(ssl.get());
  if (spec.request.empty()) {
    r.answered = true;
    return r;
  }
  if (SSL_write(ssl.get(), spec.request.data(), static_cast<int>(spec.request.size())) <= 0) {
    r.error = absl::StrCat("write after the handshake: ", Errors());
    return r;
  }
  char buf[512];
  const int n = SSL_read(ssl.get(), buf, sizeof(buf));
  if (n > 0) {
    r.answered = true;
  } else {
    const int e = SSL_get_error(ssl.get(), n);
    r.error = Errors();
    if (r.error.empty()) {
      r.error = e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection after the handshake"
                                           : absl::StrCat("no answer after the handshake (SSL_get_error ", e, ")");
    }
  }
  return r;
}

absl::StatusOr<std::unique_ptr<PermissiveTlsServer>> PermissiveTlsServer::Start(const std::string& cert_pem,
                                                                               const std::string& key_pem) {
  std::unique_ptr<PermissiveTlsServer> s(new PermissiveTlsServer());
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new");
  s->ctx_ = ctx;
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_dh_auto(ctx, 1);  // finite-field DHE suites too
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, "ALL:eNULL:@SECLEVEL=0") != 1 ||
      SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
                                    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256") != 1 ||
      !UsePem(ctx, cert_pem, key_pem)) {
    return absl::InternalError(absl::StrCat("permissive server setup: ", Errors()));
  }
  s->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(s->listen_fd_, 16) != 0 ||
      ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("permissive server listen: ", std::strerror(errno)));
  }
  s->port_ = ntohs(addr.sin_port);
  s->thread_ = std::thread([raw = s.get()] { raw->Serve(); });
  return s;
}

void PermissiveTlsServer::Serve() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    Fd conn(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.get() < 0) continue;
    SetTimeouts(conn.get());
    SslPtr ssl(SSL_new(static_cast<SSL_CTX*>(ctx_)));
    SSL_set_fd(ssl.get(), conn.get());
    if (SSL_accept(ssl.get()) == 1) {
      char buf[512];
      if (SSL_read(ssl.get(), buf, sizeof(buf)) > 0) SSL_write(ssl.get(), "ok", 2);
      SSL_shutdown(ssl.get());
    }
    ERR_clear_error();
  }
}

PermissiveTlsServer::~PermissiveTlsServer() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

}  // namespace signet::testing
