// x5u publication: chain files go out through one interface (a directory today; an object store can
// sit behind the same interface) and are read back over HTTPS, as a verifier would fetch them.
// Chain files are immutable and named by their content, so a URL always means the same bytes.
#ifndef SIGNET_KEYMGMT_PUBLICATION_H_
#define SIGNET_KEYMGMT_PUBLICATION_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace signet::keymgmt {

// "<signer>-<sha256 of the chain, hex>.pem"
std::string ChainFileName(std::string_view signer_id, std::string_view chain_pem);

class ChainPublisher {
 public:
  virtual ~ChainPublisher() = default;
  // Stores `contents` under `name` for good. An existing name is never overwritten: AlreadyExists,
  // unless it already holds exactly these bytes (a retried publication), which is OK.
  virtual absl::Status Publish(const std::string& name, std::string_view contents) = 0;
  // Where the files go, for messages ("directory /var/lib/signetd/x5u").
  virtual std::string Describe() const = 0;
};

// Files in one local directory, written atomically (temporary file, fsync, link) and mode 0644.
class DirectoryPublisher : public ChainPublisher {
 public:
  // The directory must exist and be a directory.
  static absl::StatusOr<std::unique_ptr<DirectoryPublisher>> Create(const std::string& dir);
  absl::Status Publish(const std::string& name, std::string_view contents) override;
  std::string Describe() const override { return "directory " + dir_; }
  const std::string& dir() const { return dir_; }

 private:
  explicit DirectoryPublisher(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Reads an x5u URL back. Only https:// URLs; bodies over max_bytes are refused.
class X5uFetcher {
 public:
  virtual ~X5uFetcher() = default;
  virtual absl::StatusOr<std::string> Fetch(const std::string& url) = 0;
};

struct HttpsFetcherOptions {
  std::optional<std::string> ca_file;  // PEM bundle to trust; default: the system's CAs
  absl::Duration timeout = absl::Seconds(10);
  size_t max_bytes = 128 * 1024;
};

// A real HTTPS client (cpp-httplib over OpenSSL): the server certificate is verified against the CA
// bundle and the URL's host name; redirects are not followed; anything but 200 is an error.
std::unique_ptr<X5uFetcher> NewHttpsFetcher(HttpsFetcherOptions options = {});

// Splits "https://host[:port]/path" (no userinfo, query or fragment). Exposed for tests.
struct HttpsUrl {
  std::string host;
  int port = 443;
  std::string path;
};
absl::StatusOr<HttpsUrl> ParseHttpsUrl(std::string_view url);

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_PUBLICATION_H_
