// Real TLS on loopback: a throwaway CA and a server certificate for localhost/127.0.0.1, a verifying
// httplib client, and raw sockets / raw OpenSSL where the client must misbehave.
#include "daemon/http_side.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/thread_name.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "keymgmt/dev_pki.h"

namespace signet::daemon {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kNotFound[] = R"({"error":"not found"})";

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

// A temporary directory holding ca.pem, server.pem/.key and an x5u directory; removed at the end.
class TempPki {
 public:
  TempPki() {
    std::string tmpl = (fs::temp_directory_path() / "signet-http-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    dir_ = tmpl;
    const absl::Time now = absl::Now();
    auto ca = keymgmt::CreateCa("signet http test CA", now - absl::Hours(1), now + absl::Hours(24));
    EXPECT_TRUE(ca.ok()) << ca.status();
    keymgmt::CertSpec spec;
    spec.common_name = "localhost";
    spec.dns_sans = {"localhost"};
    spec.ip_sans = {"127.0.0.1", "::1"};
    spec.server_auth = true;
    spec.not_before = now - absl::Hours(1);
    spec.not_after = now + absl::Hours(24);
    auto server = keymgmt::IssueCert(*ca, spec);
    EXPECT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE(keymgmt::WriteKeyAndCert(*ca, dir_.string(), "ca").ok());
    EXPECT_TRUE(keymgmt::WriteKeyAndCert(*server, dir_.string(), "server").ok());
    fs::create_directory(x5u_dir());
  }
  ~TempPki() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  TempPki(const TempPki&) = delete;
  TempPki& operator=(const TempPki&) = delete;

  TlsConfig tls() const {
    TlsConfig t;
    t.cert_file = (dir_ / "server.pem").string();
    t.key_file = (dir_ / "server.key").string();
    return t;
  }
  std::string ca_file() const { return (dir_ / "ca.pem").string(); }
  fs::path dir() const { return dir_; }
  fs::path x5u_dir() const { return dir_ / "x5u"; }

 private:
  fs::path dir_;
};

std::unique_ptr<httplib::SSLClient> VerifyingClient(const TempPki& pki, int port) {
  auto cli = std::make_unique<httplib::SSLClient>("localhost", port);
  cli->set_ca_cert_path(pki.ca_file());
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(5, 0);
  cli->set_read_timeout(5, 0);
  cli->set_write_timeout(5, 0);
  cli->set_url_encode(false);
  return cli;
}

// Connects a TCP socket to 127.0.0.1:port (or [::1]:port); returns -1 (and sets errno) if refused.
int ConnectLoopback(int port, bool ipv6 = false) {
  const int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_storage storage{};
  socklen_t len = 0;
  if (ipv6) {
    auto* addr = reinterpret_cast<sockaddr_in6*>(&storage);
    addr->sin6_family = AF_INET6;
    addr->sin6_port = htons(static_cast<uint16_t>(port));
    addr->sin6_addr = in6addr_loopback;
    len = sizeof(*addr);
  } else {
    auto* addr = reinterpret_cast<sockaddr_in*>(&storage);
    addr->sin_family = AF_INET;
    addr->sin_port = htons(static_cast<uint16_t>(port));
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*addr);
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&storage), len) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

struct HandshakeResult {
  bool ok = false;
  unsigned long error = 0;  // first OpenSSL error on failure
};

// A raw OpenSSL client capped at `max_version`. Security level 0 so OpenSSL 3 really offers the old
// protocol: the server, not our own client library, must be what refuses it.
HandshakeResult RawHandshake(const TempPki& pki, int port, int max_version) {
  HandshakeResult result;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return result;
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_load_verify_locations(ctx, pki.ca_file().c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const int fd = ConnectLoopback(port);
  if (fd >= 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    ERR_clear_error();
    result.ok = SSL_connect(ssl) == 1;
    if (!result.ok) result.error = ERR_peek_error();
    if (result.ok) SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  }
  SSL_CTX_free(ctx);
  return result;
}

// Connects over TLS 1.2+ to the loopback port, verifying the server as localhost (or as the IP ::1
// when `ipv6`), and calls use(ssl) once the handshake and verification succeed.
template <typename Use>
void WithVerifiedTls(const TempPki& pki, int port, bool ipv6, Use use) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return;
  SSL_CTX_load_verify_locations(ctx, pki.ca_file().c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const int fd = ConnectLoopback(port, ipv6);
  if (fd >= 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (ipv6) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "::1");
    } else {
      SSL_set_tlsext_host_name(ssl, "localhost");
      SSL_set1_host(ssl, "localhost");
    }
    if (SSL_connect(ssl) == 1 && SSL_get_verify_result(ssl) == X509_V_OK) use(ssl);
    SSL_free(ssl);
    close(fd);
  }
  SSL_CTX_free(ctx);
}

// Sends `request` verbatim (see WithVerifiedTls) and returns the one response the server wrote back;
// "" if the handshake fails.
std::string RawTlsExchange(const TempPki& pki, int port, const std::string& request, bool ipv6 = false) {
  std::string out;
  WithVerifiedTls(pki, port, ipv6, [&](SSL* ssl) {
    if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) return;
    char buf[4096];
    int n;
    // Read one response (headers, then Content-Length bytes): httplib keeps even a 400 alive.
    while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
      out.append(buf, static_cast<size_t>(n));
      const size_t end = out.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      size_t length = 0;
      const size_t cl = out.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) length = std::strtoul(out.c_str() + cl + 16, nullptr, 10);
      if (out.size() >= end + 4 + length) break;
    }
  });
  return out;
}

// Resident KiB of the stack of each of this process's threads named `name`, found through the stack
// pointer in /proc/self/task/<tid>/syscall (a thread blocked in a syscall shows it; a running one is
// skipped).
std::vector<long> StackRssKibOfThreadsNamed(const std::string& name) {
  std::vector<unsigned long> sps;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string n;
    std::getline(comm, n);
    if (n != name) continue;
    std::ifstream syscall(task.path() / "syscall");
    std::vector<std::string> fields;
    for (std::string f; syscall >> f;) fields.push_back(f);
    if (fields.size() < 3 || fields[0] == "running") continue;
    sps.push_back(std::stoul(fields[fields.size() - 2], nullptr, 16));
  }
  std::vector<long> out;
  std::ifstream smaps("/proc/self/smaps");
  bool in_stack = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {  // a mapping's first line
      in_stack = std::any_of(sps.begin(), sps.end(), [&](unsigned long sp) { return sp >= lo && sp < hi; });
    } else if (in_stack && line.rfind("Rss:", 0) == 0) {
      out.push_back(std::stol(line.substr(4)));
      in_stack = false;
    }
  }
  return out;
}

// Sends a GET's request line, then 8 KiB header lines over one TLS connection until a write fails
// or `limit` bytes are sent; returns the bytes sent.
size_t SendHeaderLinesUntilCut(const TempPki& pki, int port, size_t limit) {
  size_t sent = 0;
  WithVerifiedTls(pki, port, /*ipv6=*/false, [&](SSL* ssl) {
    const std::string start = "GET /__lbheartbeat__ HTTP/1.1\r\nHost: localhost\r\n";
    const std::string line = "X-A: " + std::string(8000, 'a') + "\r\n";
    if (SSL_write(ssl, start.data(), static_cast<int>(start.size())) <= 0) return;
    while (sent < limit && SSL_write(ssl, line.data(), static_cast<int>(line.size())) > 0) sent += line.size();
  });
  return sent;
}

class HttpSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handlers_.heartbeat = [this] {
      HeartbeatReport r;
      r.ok = healthy_.load();
      r.json = r.ok ? R"({"hsm":"ok"})" : R"({"hsm":"down"})";
      return r;
    };
    handlers_.metrics = [] { return std::string("# TYPE signet_up gauge\nsignet_up 1\n"); };
    handlers_.version_json = R"({"version":"0.1.0","commit":"abc"})";
    handlers_.x5u_dir = pki_.x5u_dir().string();
  }

  void StartServer() {
    auto port = HttpSidePort::Start("127.0.0.1:0", pki_.tls(), handlers_);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = std::move(*port);
    ASSERT_GT(port_->port(), 0);
    cli_ = VerifyingClient(pki_, port_->port());
  }

  TempPki pki_;
  std::atomic<bool> healthy_{true};
  SidePortHandlers handlers_;
  std::unique_ptr<HttpSidePort> port_;
  std::unique_ptr<httplib::SSLClient> cli_;
};

TEST_F(HttpSideTest, LbHeartbeat) {
  StartServer();
  auto res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"status":"ok"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
}

TEST_F(HttpSideTest, ItsThreadsAreNamed) {
  std::string handler_thread;
  handlers_.metrics = [&handler_thread] {
    handler_thread = ThisThreadName();
    return std::string("signet_up 1\n");
  };
  StartServer();
  auto res = cli_->Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(handler_thread, "http-worker");
  const std::vector<std::string> names = ThreadNamesOfThisProcess();
  EXPECT_EQ(std::count(names.begin(), names.end(), "http-accept"), 1) << ::testing::PrintToString(names);
  EXPECT_EQ(std::count(names.begin(), names.end(), "http-worker"), CPPHTTPLIB_THREAD_POOL_COUNT);
}

TEST_F(HttpSideTest, HeadAnswersWithoutBody) {
  StartServer();
  auto res = cli_->Head("/__lbheartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
}

TEST_F(HttpSideTest, HeartbeatFollowsTheCallback) {
  StartServer();
  auto res = cli_->Get("/__heartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"hsm":"ok"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");

  healthy_ = false;
  res = cli_->Get("/__heartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, R"({"hsm":"down"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");

  healthy_ = true;
  res = cli_->Get("/__heartbeat__");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpSideTest, LbHeartbeatNeverCallsTheHeartbeat) {
  std::atomic<int> calls{0};
  handlers_.heartbeat = [&calls] {
    ++calls;
    return HeartbeatReport{true, "{}"};
  };
  StartServer();
  auto res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(HttpSideTest, Version) {
  StartServer();
  auto res = cli_->Get("/__version__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, R"({"version":"0.1.0","commit":"abc"})");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
}

TEST_F(HttpSideTest, Metrics) {
  StartServer();
  auto res = cli_->Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "# TYPE signet_up gauge\nsignet_up 1\n");
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(HttpSideTest, EmptyCallbacks) {
  handlers_.heartbeat = nullptr;
  handlers_.metrics = nullptr;
  StartServer();
  auto res = cli_->Get("/__heartbeat__");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  res = cli_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, kNotFound);
}

TEST_F(HttpSideTest, ThrowingCallbackIs500AndServerKeepsServing) {
  handlers_.metrics = []() -> std::string { throw std::runtime_error("secret detail"); };
  handlers_.heartbeat = []() -> HeartbeatReport { throw 42; };
  StartServer();
  auto res = cli_->Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, R"({"error":"internal error"})");
  EXPECT_FALSE(res->has_header("EXCEPTION_WHAT"));
  EXPECT_EQ(res->body.find("secret"), std::string::npos);
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");

  res = cli_->Get("/__heartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 500);

  res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpSideTest, UnknownPathIs404Json) {
  StartServer();
  for (const char* path : {"/", "/nope", "/__heartbeat__/x", "/metrics2", "/x5u", "/X5U/a.pem"}) {
    auto res = cli_->Get(path);
    ASSERT_TRUE(res) << path << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->body, kNotFound) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff") << path;
  }
}

TEST_F(HttpSideTest, OtherMethodsAre405WithAllow) {
  StartServer();
  auto res = cli_->Post("/__lbheartbeat__", "x=1", "application/x-www-form-urlencoded");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, HEAD");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");

  res = cli_->Put("/x5u/chain.pem", "data", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  res = cli_->Delete("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  res = cli_->Options("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  res = cli_->Patch("/nope", "x", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);

  // The connection stays usable after a refused body (it was read and discarded).
  res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpSideTest, UnroutedMethodsAndGarbage) {
  StartServer();
  for (const char* method : {"TRACE", "CONNECT"}) {
    const std::string response = RawTlsExchange(
        pki_, port_->port(), std::string(method) + " / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 405")) << method;
    EXPECT_THAT(response, HasSubstr("Allow: GET, HEAD")) << method;
    EXPECT_THAT(response, HasSubstr("X-Content-Type-Options: nosniff")) << method;
  }
  const std::string garbage = RawTlsExchange(pki_, port_->port(), "NONSENSE\r\n\r\n");
  EXPECT_THAT(garbage, ::testing::StartsWith("HTTP/1.1 400")) << garbage;
  EXPECT_THAT(garbage, HasSubstr(R"({"error":"bad request"})")) << garbage;
  EXPECT_THAT(garbage, HasSubstr("X-Content-Type-Options: nosniff")) << garbage;
  // Over the URI bound httplib refuses before routing.
  const std::string long_uri = RawTlsExchange(
      pki_, port_->port(), "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(long_uri, ::testing::Not(::testing::StartsWith("HTTP/1.1 2"))) << long_uri.substr(0, 200);
}

// The side port routes by comparing paths, not with std::regex, whose matcher recursed once per
// character of the path: long paths (httplib allows 8 KiB) made each worker that served one keep
// about 4.5 MiB of touched stack, raising signetd's RSS for good (27 -> 59 MiB after ten requests).
TEST_F(HttpSideTest, LongPathsDoNotDeepenTheWorkersStacks) {
  StartServer();
  const std::string long_name(8000, 'a');
  const std::vector<std::string> requests = {
      "GET /x5u/" + long_name + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      "GET /" + long_name + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      "HEAD /x5u/" + long_name + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      "POST /" + long_name +
          " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nConnection: close\r\n\r\nx=1",
      "DELETE /x5u/" + long_name + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
  };
  const std::vector<std::string> expected = {"HTTP/1.1 404", "HTTP/1.1 404", "HTTP/1.1 404", "HTTP/1.1 405",
                                             "HTTP/1.1 405"};
  // Several rounds, each on a new connection, so that more than one worker serves them.
  for (int round = 0; round < 4; ++round) {
    for (size_t i = 0; i < requests.size(); ++i) {
      const std::string response = RawTlsExchange(pki_, port_->port(), requests[i]);
      EXPECT_THAT(response, ::testing::StartsWith(expected[i])) << i << ": " << response.substr(0, 200);
    }
  }
  auto res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);

  const std::vector<long> stacks = StackRssKibOfThreadsNamed("http-worker");
  ASSERT_FALSE(stacks.empty());
  // A worker's stack after serving TLS is 16-60 KiB (more under ASan); the regex cost megabytes.
  for (const long kib : stacks) EXPECT_LT(kib, 1024) << ::testing::PrintToString(stacks);
  std::printf("http-worker stacks, KiB resident: %s\n", ::testing::PrintToString(stacks).c_str());
}

// httplib bounds each header line (8 KiB) but not their number: one connection that sent 200 MiB of
// header lines took signetd from 25 to 333 MiB. The side port cuts a connection past 4 MiB.
TEST_F(HttpSideTest, AConnectionThatSendsEndlessHeadersIsCut) {
  StartServer();
  constexpr size_t kLimit = 64 * 1024 * 1024;
  const size_t sent = SendHeaderLinesUntilCut(pki_, port_->port(), kLimit);
  // 4 MiB read by the server, plus what the two kernels' socket buffers held.
  EXPECT_LT(sent, kLimit / 2) << "sent " << sent << " bytes without being cut";
  std::printf("cut after %zu bytes sent\n", sent);
  auto res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

TEST_F(HttpSideTest, OversizeBodyIsRefused) {
  StartServer();
  auto res = cli_->Post("/__lbheartbeat__", std::string(2 * 1024 * 1024, 'a'), "text/plain");
  // 413 or a closed connection: never a 2xx.
  if (res) {
    EXPECT_GE(res->status, 400);
  }
}

TEST_F(HttpSideTest, X5uServesRegularFiles) {
  const std::string chain = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  WriteFile(pki_.x5u_dir() / "signer-abc_1.0.pem", chain);
  StartServer();
  auto res = cli_->Get("/x5u/signer-abc_1.0.pem");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, chain);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/x-pem-file");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "public, max-age=300");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");

  res = cli_->Head("/x5u/signer-abc_1.0.pem");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
}

TEST_F(HttpSideTest, X5uRefusesEverythingElseWithThePlain404) {
  WriteFile(pki_.dir() / "outside.pem", "outside");
  WriteFile(pki_.x5u_dir() / ".hidden", "hidden");
  WriteFile(pki_.x5u_dir() / "big.pem", std::string(1024 * 1024 + 1, 'a'));
  WriteFile(pki_.x5u_dir() / "exact.pem", std::string(1024 * 1024, 'b'));
  fs::create_directory(pki_.x5u_dir() / "sub");
  WriteFile(pki_.x5u_dir() / "sub" / "inner.pem", "inner");
  fs::create_symlink(pki_.dir() / "outside.pem", pki_.x5u_dir() / "link.pem");
  fs::create_symlink("/etc/passwd", pki_.x5u_dir() / "passwd");
  ASSERT_EQ(mkfifo((pki_.x5u_dir() / "fifo").c_str(), 0600), 0);
  StartServer();

  for (const char* path : {"/x5u/", "/x5u/missing.pem", "/x5u/../etc/passwd", "/x5u/%2e%2e%2fetc%2fpasswd",
                           "/x5u/%2E%2E%2Foutside.pem", "/x5u/..%2foutside.pem", "/x5u/..", "/x5u/.",
                           "/x5u/.hidden", "/x5u/big.pem", "/x5u/sub", "/x5u/sub/", "/x5u/sub/inner.pem",
                           "/x5u/link.pem", "/x5u/passwd", "/x5u/fifo", "/x5u/a%00b", "/x5u/a%20b",
                           "/x5u//etc/passwd", "/x5u/%2fetc%2fpasswd"}) {
    auto res = cli_->Get(path);
    ASSERT_TRUE(res) << path << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->body, kNotFound) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json") << path;
  }
  const std::string long_name(256, 'a');
  WriteFile(pki_.x5u_dir() / std::string(255, 'a'), "max");
  auto res = cli_->Get("/x5u/" + std::string(255, 'a'));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = cli_->Get("/x5u/" + long_name);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);

  res = cli_->Get("/x5u/exact.pem");  // exactly at the bound is fine
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.size(), 1024u * 1024u);
}

TEST_F(HttpSideTest, X5uDisabledWithoutDirectory) {
  WriteFile(pki_.x5u_dir() / "chain.pem", "chain");
  handlers_.x5u_dir.reset();
  StartServer();
  auto res = cli_->Get("/x5u/chain.pem");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, kNotFound);
}

TEST_F(HttpSideTest, PlaintextHttpGetsNoAnswer) {
  StartServer();
  httplib::Client plain("127.0.0.1", port_->port());
  plain.set_connection_timeout(5, 0);
  plain.set_read_timeout(5, 0);
  auto res = plain.Get("/__lbheartbeat__");
  EXPECT_FALSE(res && res->status == 200);
  // And the server is still fine afterwards.
  auto ok = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpSideTest, UntrustedCaIsRejectedByTheVerifyingClient) {
  StartServer();
  // Sanity check that the client really verifies: without our CA it must fail.
  TempPki other;
  auto cli = VerifyingClient(other, port_->port());
  auto res = cli->Get("/__lbheartbeat__");
  EXPECT_FALSE(res);
}

TEST_F(HttpSideTest, Tls11IsRefusedTls12Accepted) {
  StartServer();
  const HandshakeResult tls12 = RawHandshake(pki_, port_->port(), TLS1_2_VERSION);
  EXPECT_TRUE(tls12.ok) << ERR_reason_error_string(tls12.error);
  const HandshakeResult tls11 = RawHandshake(pki_, port_->port(), TLS1_1_VERSION);
  EXPECT_FALSE(tls11.ok);
  // The server's protocol_version alert, not a local "no protocols available".
  EXPECT_EQ(ERR_GET_REASON(tls11.error), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
      << ERR_reason_error_string(tls11.error);
}

TEST_F(HttpSideTest, BadListenAddresses) {
  for (const char* listen : {"", "nonsense", "127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:99999",
                             "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x", "::1:8080", "[::1]", "[::1]8080",
                             "[::1:8080", "[nothost]:8080", "[]:80", "host name:80", "127.0.0.1:123456"}) {
    auto port = HttpSidePort::Start(listen, pki_.tls(), handlers_);
    ASSERT_FALSE(port.ok()) << listen;
    EXPECT_EQ(port.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(std::string(port.status().message()), HasSubstr("server.http_listen")) << listen;
  }
}

TEST_F(HttpSideTest, Ipv6Loopback) {
  auto port = HttpSidePort::Start("[::1]:0", pki_.tls(), handlers_);
  if (!port.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << port.status();
  // Raw OpenSSL, verifying the IP SAN ::1: httplib 0.11.4's client overreads a 4-byte IP SAN when
  // the host is an IPv6 literal (its memcmp uses the IPv6 length), and "localhost" may not map to ::1.
  const std::string response = RawTlsExchange(
      pki_, (*port)->port(), "GET /__lbheartbeat__ HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n",
      /*ipv6=*/true);
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200")) << response;
  EXPECT_THAT(response, HasSubstr(R"({"status":"ok"})")) << response;
}

TEST_F(HttpSideTest, UnresolvableHostFailsToBind) {
  auto port = HttpSidePort::Start("no-such-host.invalid:0", pki_.tls(), handlers_);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("server.http_listen"));
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("no-such-host.invalid:0"));
}

TEST_F(HttpSideTest, MissingCertFile) {
  TlsConfig tls = pki_.tls();
  tls.cert_file = (pki_.dir() / "missing.pem").string();
  auto port = HttpSidePort::Start("127.0.0.1:0", tls, handlers_);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("server.tls.cert_file"));
  EXPECT_THAT(std::string(port.status().message()), HasSubstr(tls.cert_file));
}

TEST_F(HttpSideTest, MissingKeyFile) {
  TlsConfig tls = pki_.tls();
  tls.key_file = (pki_.dir() / "missing.key").string();
  auto port = HttpSidePort::Start("127.0.0.1:0", tls, handlers_);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("server.tls.key_file"));
  EXPECT_THAT(std::string(port.status().message()), HasSubstr(tls.key_file));
}

TEST_F(HttpSideTest, KeyThatDoesNotMatchTheCertificate) {
  TlsConfig tls = pki_.tls();
  tls.key_file = (pki_.dir() / "ca.key").string();
  auto port = HttpSidePort::Start("127.0.0.1:0", tls, handlers_);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("does not match"));
}

TEST_F(HttpSideTest, EmptyTlsPaths) {
  TlsConfig tls;
  auto port = HttpSidePort::Start("127.0.0.1:0", tls, handlers_);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("server.tls.cert_file"));
}

TEST_F(HttpSideTest, StopRefusesConnectionsAndIsIdempotent) {
  StartServer();
  const int p = port_->port();
  ASSERT_TRUE(cli_->Get("/__lbheartbeat__"));
  cli_.reset();  // drop the keep-alive connection so Stop does not wait on it
  port_->Stop();
  port_->Stop();
  errno = 0;
  const int fd = ConnectLoopback(p);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  if (fd >= 0) close(fd);
  port_.reset();  // the destructor's Stop is a no-op now
}

TEST_F(HttpSideTest, StopRightAfterStart) {
  for (int i = 0; i < 20; ++i) {
    auto port = HttpSidePort::Start("127.0.0.1:0", pki_.tls(), handlers_);
    ASSERT_TRUE(port.ok()) << port.status();
    (*port)->Stop();
  }
}

TEST_F(HttpSideTest, SecondStartOnTheSamePortFails) {
  StartServer();
  const int p = port_->port();
  const std::string listen = "127.0.0.1:" + std::to_string(p);
  auto second = HttpSidePort::Start(listen, pki_.tls(), handlers_);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("server.http_listen"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(listen));

  // The first keeps serving, and once it stops the fixed port can be taken again.
  auto res = cli_->Get("/__lbheartbeat__");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  cli_.reset();
  port_->Stop();
  auto again = HttpSidePort::Start(listen, pki_.tls(), handlers_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->port(), p);
  auto cli = VerifyingClient(pki_, p);
  res = cli->Get("/__version__");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace signet::daemon
