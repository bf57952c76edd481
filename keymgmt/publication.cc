// Debian's cpp-httplib is a compiled library built with CPPHTTPLIB_OPENSSL_SUPPORT; its pkg-config
// Cflags define it and the class layouts depend on it.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "CPPHTTPLIB_OPENSSL_SUPPORT must be defined (link PkgConfig::HTTPLIB) to match libcpp-httplib's ABI"
#endif

#include "keymgmt/publication.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/files.h"
#include "common/sha256.h"
#include "httplib.h"

namespace signet::keymgmt {
namespace {

constexpr size_t kMaxUrlBytes = 2048;
constexpr std::string_view kHttps = "https://";

}  // namespace

std::string ChainFileName(std::string_view signer_id, std::string_view chain_pem) {
  return absl::StrCat(Av(signer_id), "-", Sha256Hex(chain_pem), ".pem");
}

absl::StatusOr<std::unique_ptr<DirectoryPublisher>> DirectoryPublisher::Create(const std::string& dir) {
  struct stat st;
  if (dir.empty() || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("publication directory '", dir, "' does not exist or is not a directory"));
  }
  return std::unique_ptr<DirectoryPublisher>(new DirectoryPublisher(dir));
}

absl::Status DirectoryPublisher::Publish(const std::string& name, std::string_view contents) {
  if (name.empty() || name.front() == '.' || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("chain file name '", name, "' must be a plain file name"));
  }
  const std::string path = absl::StrCat(dir_, dir_.back() == '/' ? "" : "/", name);
  absl::Status s = WriteNewFile(path, contents, 0644);
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    auto existing = ReadFileBounded(path, contents.size() + 1);
    if (existing.ok() && *existing == contents) return absl::OkStatus();  // published before, same bytes
  }
  return s;
}

absl::StatusOr<HttpsUrl> ParseHttpsUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("x5u URL '", Av(url.substr(0, 128)), url.size() > 128 ? "...'" : "'", ": ", Av(why)));
  };
  if (url.size() > kMaxUrlBytes) return bad("longer than 2048 bytes");
  if (!url.starts_with(kHttps)) return bad("must start with https://");
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) return bad("contains a space, control or non-ASCII character");
  }
  if (url.find_first_of("?#@") != std::string_view::npos)
    return bad("must not have a query, fragment or user info");
  std::string_view rest = url.substr(kHttps.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpsUrl out;
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("junk after the [IPv6] host");
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("has no host");
  if (!port.empty() || authority.find(':') != std::string_view::npos) {
    uint32_t p = 0;
    if (port.empty() || port.size() > 5 || !absl::SimpleAtoi(Av(port), &p) || p == 0 || p > 65535) {
      return bad("port must be 1..65535");
    }
    out.port = static_cast<int>(p);
  }
  return out;
}

namespace {

class HttpsFetcher : public X5uFetcher {
 public:
  explicit HttpsFetcher(HttpsFetcherOptions options) : options_(std::move(options)) {}

  absl::StatusOr<std::string> Fetch(const std::string& url) override {
    auto u = ParseHttpsUrl(url);
    if (!u.ok()) return u.status();
    httplib::SSLClient client(u->host, u->port);
    if (SSL_CTX* ctx = client.ssl_context(); ctx != nullptr)
      SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (options_.ca_file) client.set_ca_cert_path(*options_.ca_file);
    client.enable_server_certificate_verification(true);
    client.set_follow_location(false);
    const auto timeout = absl::ToChronoMilliseconds(options_.timeout);
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    std::string body;
    bool too_big = false;
    auto res = client.Get(
        u->path, httplib::Headers{}, [](const httplib::Response&) { return true; },
        [&](const char* data, size_t len) {
          if (body.size() + len > options_.max_bytes) {
            too_big = true;
            return false;
          }
          body.append(data, len);
          return true;
        });
    if (too_big) {
      return absl::FailedPreconditionError(
          absl::StrCat("GET ", url, ": the body is larger than the ", options_.max_bytes, "-byte bound"));
    }
    if (!res) {
      std::string detail = httplib::to_string(res.error());
      if (const long v = client.get_openssl_verify_result(); v != X509_V_OK) {
        absl::StrAppend(&detail, " (certificate: ", X509_verify_cert_error_string(v), ")");
      }
      return absl::UnavailableError(absl::StrCat("GET ", url, ": ", detail));
    }
    if (res->status != 200) {
      return absl::FailedPreconditionError(absl::StrCat("GET ", url, ": HTTP ", res->status));
    }
    return body;
  }

 private:
  HttpsFetcherOptions options_;
};

}  // namespace

std::unique_ptr<X5uFetcher> NewHttpsFetcher(HttpsFetcherOptions options) {
  return std::make_unique<HttpsFetcher>(std::move(options));
}

}  // namespace signet::keymgmt
