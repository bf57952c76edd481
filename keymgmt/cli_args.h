// A small, strict command-line parser: "--name value" or "--name=value", boolean "--name", and
// positionals. Unknown flags, repeated flags and over-long values are errors that name the flag.
#ifndef SIGNET_KEYMGMT_CLI_ARGS_H_
#define SIGNET_KEYMGMT_CLI_ARGS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace signet::keymgmt {

inline constexpr size_t kMaxArgBytes = 4096;

struct FlagSpec {
  std::set<std::string> valued;   // flags that take a value
  std::set<std::string> boolean;  // flags that take none
};

class CliArgs {
 public:
  static absl::StatusOr<CliArgs> Parse(const std::vector<std::string>& args, const FlagSpec& spec);

  std::optional<std::string> Get(const std::string& name) const;
  absl::StatusOr<std::string> Require(const std::string& name) const;
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

}  // namespace signet::keymgmt

#endif  // SIGNET_KEYMGMT_CLI_ARGS_H_
