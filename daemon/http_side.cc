// The HTTPS side port. cpp-httplib does the HTTP; this file pins down what it may do: TLS 1.2+ with
// the Mozilla intermediate ciphers, GET/HEAD only, bounded timeouts and sizes, no SO_REUSEPORT, and
// an x5u directory that serves regular files only, never through a symlink.
//
// Debian's cpp-httplib is a compiled library built with CPPHTTPLIB_OPENSSL_SUPPORT; its pkg-config
// Cflags define it, and the class layouts below depend on it, so insist on it.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "CPPHTTPLIB_OPENSSL_SUPPORT must be defined (link PkgConfig::HTTPLIB) to match libcpp-httplib's ABI"
#endif

#include "daemon/http_side.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <chrono>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/thread_name.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

namespace signet::daemon {
namespace {

constexpr time_t kIoTimeoutSeconds = 5;
constexpr time_t kKeepAliveTimeoutSeconds = 5;
constexpr size_t kKeepAliveMaxCount = 100;
constexpr size_t kMaxPayloadBytes = 1024 * 1024;  // the side port takes no bodies; POST & co. get 405
constexpr size_t kMaxX5uFileBytes = 1024 * 1024;
constexpr size_t kMaxX5uNameBytes = 255;

// Mozilla "intermediate" (TLS 1.2 part; TLS 1.3 keeps OpenSSL's default suites, all of them AEAD).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr char kJsonType[] = "application/json";
constexpr char kNotFoundJson[] = R"({"error":"not found"})";

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

absl::Status BadListen(const std::string& listen, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("server.http_listen: '", absl::CHexEscape(listen),
                                                 "' is not host:port or [ipv6]:port: ", Av(why)));
}

absl::StatusOr<HostPort> ParseListen(const std::string& listen) {
  HostPort out;
  std::string_view rest;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos) return BadListen(listen, "missing ']'");
    out.host = listen.substr(1, close - 1);
    in6_addr addr6;
    if (out.host.empty() || inet_pton(AF_INET6, out.host.c_str(), &addr6) != 1) {
      return BadListen(listen, "the bracketed host is not an IPv6 address");
    }
    if (close + 1 >= listen.size() || listen[close + 1] != ':') return BadListen(listen, "missing ':port'");
    rest = std::string_view(listen).substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return BadListen(listen, "missing ':port'");
    out.host = listen.substr(0, colon);
    if (out.host.empty()) return BadListen(listen, "missing host (use 0.0.0.0 or [::] for all addresses)");
    if (out.host.find(':') != std::string::npos) return BadListen(listen, "an IPv6 host needs brackets");
    if (out.host.size() > 253) return BadListen(listen, "host longer than 253 bytes");
    for (const char c : out.host) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-';
      if (!ok) return BadListen(listen, "host may contain only letters, digits, '.' and '-'");
    }
    rest = std::string_view(listen).substr(colon + 1);
  }
  if (rest.empty() || rest.size() > 5) return BadListen(listen, "port must be 0..65535");
  int port = 0;
  for (const char c : rest) {
    if (c < '0' || c > '9') return BadListen(listen, "port must be 0..65535");
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return BadListen(listen, "port must be 0..65535");
  out.port = port;
  return out;
}

// Drains OpenSSL's (thread-local) error queue into one line.
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

// What one connection may send, TLS records included: a request line, headers and a body within
// their bounds, times keep-alive requests, fit many times over. httplib bounds each header line but
// neither how many come nor a connection's total, and keeps every header until the request ends, so
// without this one connection sending header lines for seconds grew signetd by hundreds of MiB.
constexpr size_t kMaxConnectionBytes = 4 * 1024 * 1024;

int ReceivedBytesIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's message callback sees every record header it reads (5 bytes, the last two the record's
// length). Past the budget the socket's read side is shut: httplib's next read sees end of input,
// the request fails and its memory is freed.
void CountReceivedBytes(int write_p, int /*version*/, int content_type, const void* buf, size_t len, SSL* ssl,
                        void* /*arg*/) {
  if (write_p != 0 || content_type != SSL3_RT_HEADER || len < 5) return;
  const auto* header = static_cast<const unsigned char*>(buf);
  const size_t record = (static_cast<size_t>(header[3]) << 8) | header[4];
  const uintptr_t total =
      reinterpret_cast<uintptr_t>(SSL_get_ex_data(ssl, ReceivedBytesIndex())) + len + record;
  SSL_set_ex_data(ssl, ReceivedBytesIndex(), reinterpret_cast<void*>(total));
  if (total > kMaxConnectionBytes) shutdown(SSL_get_fd(ssl), SHUT_RD);
}

// Sets up the server SSL_CTX: TLS 1.2 minimum, intermediate ciphers, the certificate chain and key.
// On failure leaves a message in *error and returns false (httplib then frees the context).
bool SetUpSslCtx(SSL_CTX& ctx, const TlsConfig& tls, std::string* error) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1) {
    *error = absl::StrCat("server.tls: cannot configure TLS: ", OpenSslErrors());
    return false;
  }
  SSL_CTX_set_msg_callback(&ctx, CountReceivedBytes);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert_file.c_str()) != 1) {
    *error = absl::StrCat("server.tls.cert_file: cannot load the certificate chain '", tls.cert_file,
                          "': ", OpenSslErrors());
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long last = ERR_peek_last_error();
    if (ERR_GET_LIB(last) == ERR_LIB_X509 && ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH) {
      *error = absl::StrCat("server.tls.key_file: the key '", tls.key_file, "' does not match the certificate '",
                            tls.cert_file, "': ", OpenSslErrors());
      return false;
    }
    *error = absl::StrCat("server.tls.key_file: cannot load the private key '", tls.key_file,
                          "': ", OpenSslErrors());
    return false;
  }
  if (SSL_CTX_check_private_key(&ctx) != 1) {
    *error = absl::StrCat("server.tls.key_file: the key '", tls.key_file, "' does not match the certificate '",
                          tls.cert_file, "': ", OpenSslErrors());
    return false;
  }
  return true;
}

// Like httplib's default socket options, minus SO_REUSEPORT: with it a second process (or a second
// Start) could bind the same port and silently take half the connections.
void SideSocketOptions(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

// httplib's own thread pool, its threads named "http-worker" so they stand apart from gRPC's in
// `top -H` and gdb. A new thread takes its creator's name, and httplib gives no hook at thread start,
// so the creating thread (the accept loop) wears that name while it starts them. httplib owns the
// queue it gets from new_task_queue and deletes it when the accept loop ends.
httplib::TaskQueue* NewNamedThreadPool() {
  const std::string own = ThisThreadName();
  NameThisThread("http-worker");
  auto* pool = new httplib::ThreadPool(CPPHTTPLIB_THREAD_POOL_COUNT);
  NameThisThread(own);
  return pool;
}

std::string_view ErrorText(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "payload too large";
    case 414: return "uri too long";
    case 416: return "range not satisfiable";
    case 500: return "internal error";
    case 503: return "unavailable";
    default: return "error";
  }
}

void SetNotFound(httplib::Response& res) {
  res.status = 404;
  res.set_content(kNotFoundJson, kJsonType);
}

void SetMethodNotAllowed(httplib::Response& res) {
  res.status = 405;
  res.set_header("Allow", "GET, HEAD");
  res.set_content(R"({"error":"method not allowed"})", kJsonType);
}

// [A-Za-z0-9._-]{1,255}, not starting with '.', so neither "." nor ".." nor a hidden file.
bool IsValidX5uName(std::string_view name) {
  if (name.empty() || name.size() > kMaxX5uNameBytes || name.front() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads <dir>/<name> if it is a regular file (not through a symlink) of at most kMaxX5uFileBytes.
// Every failure is the same nullopt: the caller answers 404 without saying why.
std::optional<std::string> ReadX5uFile(const std::string& dir, std::string_view name) {
  if (!IsValidX5uName(name)) return std::nullopt;
  const Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return std::nullopt;
  // O_NONBLOCK: a FIFO planted in the directory must not hang a worker; O_NOFOLLOW: no symlinks.
  const Fd fd(openat(dir_fd.get(), std::string(name).c_str(),
                     O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return std::nullopt;
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
      static_cast<uint64_t>(st.st_size) > kMaxX5uFileBytes) {
    return std::nullopt;
  }
  // One byte more than fstat reported, to notice a file that changed under us (published files are
  // immutable, so that is a transient 404, never a truncated or oversize answer).
  const size_t expected = static_cast<size_t>(st.st_size);
  std::string out;
  out.resize(expected + 1);
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != expected) return std::nullopt;
  out.resize(got);
  return out;
}

std::string ForLog(std::string_view s) {
  constexpr size_t kMax = 200;
  return absl::CHexEscape(Av(s.substr(0, kMax)));
}

// True for the methods httplib routes that carry a body: it reads (bounded) and discards that body
// before answering, so the connection stays in sync.
bool IsBodyMethod(std::string_view method) {
  static constexpr std::string_view kBodyMethods[] = {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (const std::string_view m : kBodyMethods) {
    if (method == m) return true;
  }
  return false;
}

// Answers a GET (or HEAD: httplib omits the body) by comparing the path, never with std::regex:
// libstdc++'s regex matcher recurses once per character, so a route like "/x5u/(.*)" or ".*" made
// every worker that matched a long path (httplib allows 8 KiB) touch ~580 bytes of stack per
// character, about 4.5 MiB each at 8 KiB, which stays in RSS for the life of the thread; the daemon's
// own 90-character x5u names cost 44 KiB per worker.
void AnswerGet(const SidePortHandlers& handlers, const httplib::Request& req, httplib::Response& res) {
  const std::string_view path = req.path;
  if (path == "/__lbheartbeat__") {
    res.status = 200;
    res.set_content(R"({"status":"ok"})", kJsonType);
  } else if (path == "/__heartbeat__") {
    if (!handlers.heartbeat) {
      res.status = 503;
      res.set_content(R"({"error":"no heartbeat configured"})", kJsonType);
      return;
    }
    HeartbeatReport report = handlers.heartbeat();
    res.status = report.ok ? 200 : 503;
    res.set_content(std::move(report.json), kJsonType);
  } else if (path == "/__version__") {
    res.status = 200;
    res.set_content(handlers.version_json, kJsonType);
  } else if (path == "/metrics") {
    if (!handlers.metrics) {
      SetNotFound(res);
      return;
    }
    res.status = 200;
    res.set_content(handlers.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  } else if (constexpr std::string_view kX5u = "/x5u/";
             handlers.x5u_dir.has_value() && path.starts_with(kX5u)) {
    // req.path is already percent-decoded, so "%2e%2e%2f" arrives as "../" and fails the name check.
    std::optional<std::string> body = ReadX5uFile(*handlers.x5u_dir, path.substr(kX5u.size()));
    if (!body.has_value()) {
      SetNotFound(res);
      return;
    }
    res.status = 200;
    res.set_header("Cache-Control", "public, max-age=300");
    res.set_content(std::move(*body), "application/x-pem-file");
  } else {
    SetNotFound(res);
  }
}

void InstallRoutes(httplib::SSLServer& server, std::shared_ptr<const SidePortHandlers> handlers) {
  server.set_default_headers({{"X-Content-Type-Options", "nosniff"}});

  // All routing happens here, before httplib's own regex routes (there are none). GET and HEAD are
  // answered. POST/PUT/PATCH/DELETE/OPTIONS go on to httplib, which reads (bounded) and discards
  // their bodies, finds no route, and the error handler below turns its 404 into a 405. Methods
  // httplib does not route (CONNECT, TRACE, PRI) get their 405 here.
  server.set_pre_routing_handler([handlers](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" || req.method == "HEAD") {
      AnswerGet(*handlers, req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (IsBodyMethod(req.method)) return httplib::Server::HandlerResponse::Unhandled;
    SetMethodNotAllowed(res);
    return httplib::Server::HandlerResponse::Handled;
  });

  // Errors httplib produces itself (400, 413, 414, ...) get a small JSON body too.
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404 && IsBodyMethod(req.method)) {  // unrouted, its body read: see above
      SetMethodNotAllowed(res);
      return httplib::Server::HandlerResponse::Handled;
    }
    res.set_content(absl::StrCat(R"({"error":")", Av(ErrorText(res.status)), R"("})"), kJsonType);
    return httplib::Server::HandlerResponse::Handled;
  }));

  // A throwing callback answers 500 and the server keeps going. Without this handler httplib would
  // echo e.what() to the client in an EXCEPTION_WHAT header.
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("signetd side port: {} {} failed: {}", ForLog(req.method), ForLog(req.path), ForLog(what));
    res.status = 500;
    res.headers.clear();
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(R"({"error":"internal error"})", kJsonType);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpSidePort>> HttpSidePort::Start(const std::string& listen, const TlsConfig& tls,
                                                                  SidePortHandlers handlers) {
  absl::StatusOr<HostPort> hp = ParseListen(listen);
  if (!hp.ok()) return hp.status();
  if (tls.cert_file.empty()) return absl::InvalidArgumentError("server.tls.cert_file: required for the side port");
  if (tls.key_file.empty()) return absl::InvalidArgumentError("server.tls.key_file: required for the side port");

  std::unique_ptr<HttpSidePort> port(new HttpSidePort());
  std::string tls_error;
  port->server_ = std::make_unique<httplib::SSLServer>(
      [&tls, &tls_error](SSL_CTX& ctx) { return SetUpSslCtx(ctx, tls, &tls_error); });
  if (!port->server_->is_valid()) {
    if (tls_error.empty()) {
      tls_error = absl::StrCat("server.tls: cannot create a TLS context for cert_file '", tls.cert_file,
                               "' and key_file '", tls.key_file, "'");
    }
    return absl::InvalidArgumentError(tls_error);
  }

  httplib::SSLServer& server = *port->server_;
  server.set_socket_options(SideSocketOptions);
  server.new_task_queue = NewNamedThreadPool;
  server.set_read_timeout(kIoTimeoutSeconds, 0);
  server.set_write_timeout(kIoTimeoutSeconds, 0);
  server.set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  server.set_keep_alive_max_count(kKeepAliveMaxCount);
  server.set_payload_max_length(kMaxPayloadBytes);
  InstallRoutes(server, std::make_shared<const SidePortHandlers>(std::move(handlers)));

  errno = 0;
  if (hp->port == 0) {
    const int bound = server.bind_to_any_port(hp->host);
    if (bound <= 0) {
      const int err = errno;
      return absl::UnavailableError(absl::StrCat("server.http_listen: cannot bind ", listen,
                                                 err != 0 ? absl::StrCat(": ", std::strerror(err)) : ""));
    }
    port->port_ = bound;
  } else {
    if (!server.bind_to_port(hp->host, hp->port)) {
      const int err = errno;
      return absl::UnavailableError(absl::StrCat("server.http_listen: cannot bind ", listen,
                                                 err != 0 ? absl::StrCat(": ", std::strerror(err)) : ""));
    }
    port->port_ = hp->port;
  }

  // httplib's stop() does nothing until the serving loop has set is_running(), so wait for that
  // (or for the loop to end) before handing out the port: otherwise an early Stop() would hang.
  auto finished = std::make_shared<std::atomic<bool>>(false);
  port->thread_ = std::thread([&server, finished] {
    NameThisThread("http-accept");
    if (!server.listen_after_bind()) spdlog::error("signetd side port: the accept loop failed");
    finished->store(true);
  });
  while (!server.is_running() && !finished->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server.is_running()) {
    port->thread_.join();
    return absl::InternalError(absl::StrCat("server.http_listen: the side port on ", listen, " stopped at once"));
  }
  spdlog::info("signetd: side port serving HTTPS on {} (port {})", ForLog(listen), port->port_);
  return port;
}

HttpSidePort::~HttpSidePort() { Stop(); }

void HttpSidePort::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace signet::daemon
