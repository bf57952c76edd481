#include "daemon/config.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A complete configuration that sets every key to a non-default value, one key per line so the
// negative cases below can edit it by substring replacement.
constexpr char kServer[] = R"(server:
  listen: "127.0.0.1:9443"
  http_listen: "[::1]:9080"
  tls:
    cert_file: /etc/signetd/server.pem
    key_file: /etc/signetd/server.key
    client_ca_file: /etc/signetd/clients.pem
    crl_file: /etc/signetd/clients.crl
  drain_timeout: 15s
  ready_file: /run/signetd/ready.json
)";
constexpr char kHsm[] = R"(hsm:
  module: /usr/lib/x86_64-linux-gnu/pkcs11/libsofthsm2.so
  token: signet-test
  pin_file: /etc/signetd/hsm.pin
  health_timeout: 3s
  call_timeout: 2s
  verify_every: 16
)";
constexpr char kBatching[] = R"(batching:
  workers: 4
  max_batch: 64
  max_linger: 500us
  queue_size: 8192
  scheduling: fair
)";
constexpr char kLimits[] = R"(limits:
  max_item_bytes: 2097152
  max_items_per_call: 500
  max_message_bytes: 33554432
  max_signer_id_bytes: 64
)";
constexpr char kSigners[] = R"(signers:
  - id: normandy
    type: contentsignature
    key_label: normandy-p384
    x5u: "https://example.com/chains/normandy.pem"
  - id: remote-settings
    type: contentsignature
    key_label: rs-p384
)";
constexpr char kAuthorization[] = R"(authorization:
  - identity: "spiffe://example.org/ns/web/sa/app"
    signers: [normandy, remote-settings]
  - identity: "ops.example.org"
    signers:
      - remote-settings
)";
constexpr char kLogging[] = R"(logging:
  level: debug
  format: text
  logger_name: signetd-test
)";

std::string Full() {
  return std::string(kServer) + kHsm + kBatching + kLimits + kSigners + kAuthorization + kLogging;
}

// The smallest valid configuration: only what has no default.
constexpr char kMinimal[] = R"(server:
  tls: {cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}
hsm: {token: signet, pin_env: SIGNET_PIN}
signers:
  - {id: normandy, type: contentsignature, key_label: normandy-p384}
)";

// Replaces the single occurrence of `from` in `text`.
std::string Edit(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "not found: " << from;
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "not unique: " << from;
  return text.replace(at, from.size(), to);
}

TEST(ConfigTest, FullConfigRoundTrips) {
  absl::StatusOr<Config> c = Config::Parse(Full(), "signetd.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.listen, "127.0.0.1:9443");
  EXPECT_EQ(c->server.http_listen, "[::1]:9080");
  EXPECT_EQ(c->server.tls.cert_file, "/etc/signetd/server.pem");
  EXPECT_EQ(c->server.tls.key_file, "/etc/signetd/server.key");
  EXPECT_EQ(c->server.tls.client_ca_file, "/etc/signetd/clients.pem");
  EXPECT_EQ(c->server.tls.crl_file, "/etc/signetd/clients.crl");
  EXPECT_EQ(c->server.drain_timeout, absl::Seconds(15));
  EXPECT_EQ(c->server.ready_file, "/run/signetd/ready.json");
  EXPECT_EQ(c->hsm.module, "/usr/lib/x86_64-linux-gnu/pkcs11/libsofthsm2.so");
  EXPECT_EQ(c->hsm.token, "signet-test");
  EXPECT_EQ(c->hsm.pin_file, "/etc/signetd/hsm.pin");
  EXPECT_FALSE(c->hsm.pin_env.has_value());
  EXPECT_EQ(c->hsm.health_timeout, absl::Seconds(3));
  EXPECT_EQ(c->hsm.call_timeout, absl::Seconds(2));
  EXPECT_EQ(c->hsm.verify_every, 16u);
  EXPECT_EQ(c->batching.workers, 4u);
  EXPECT_EQ(c->batching.max_batch, 64u);
  EXPECT_EQ(c->batching.max_linger, absl::Microseconds(500));
  EXPECT_EQ(c->batching.queue_size, 8192u);
  EXPECT_EQ(c->batching.scheduling, "fair");
  EXPECT_EQ(c->limits.max_item_bytes, 2097152u);
  EXPECT_EQ(c->limits.max_items_per_call, 500u);
  EXPECT_EQ(c->limits.max_message_bytes, 33554432u);
  EXPECT_EQ(c->limits.max_signer_id_bytes, 64u);
  ASSERT_EQ(c->signers.size(), 2u);
  EXPECT_EQ(c->signers[0].id, "normandy");
  EXPECT_EQ(c->signers[0].type, "contentsignature");
  EXPECT_EQ(c->signers[0].key_label, "normandy-p384");
  EXPECT_EQ(c->signers[0].x5u, "https://example.com/chains/normandy.pem");
  EXPECT_EQ(c->signers[1].id, "remote-settings");
  EXPECT_EQ(c->signers[1].key_label, "rs-p384");
  EXPECT_EQ(c->signers[1].x5u, "");
  ASSERT_EQ(c->authorization.size(), 2u);
  EXPECT_EQ(c->authorization[0].identity, "spiffe://example.org/ns/web/sa/app");
  EXPECT_EQ(c->authorization[0].signers, (std::vector<std::string>{"normandy", "remote-settings"}));
  EXPECT_EQ(c->authorization[1].identity, "ops.example.org");
  EXPECT_EQ(c->authorization[1].signers, (std::vector<std::string>{"remote-settings"}));
  EXPECT_EQ(c->logging.level, "debug");
  EXPECT_EQ(c->logging.format, "text");
  EXPECT_EQ(c->logging.logger_name, "signetd-test");
}

TEST(ConfigTest, DefaultsApplyWhenOptionalSectionsAreMissing) {
  absl::StatusOr<Config> c = Config::Parse(kMinimal);
  ASSERT_TRUE(c.ok()) << c.status();
  const Config defaults;
  EXPECT_EQ(c->server.listen, "127.0.0.1:8443");
  EXPECT_EQ(c->server.http_listen, "127.0.0.1:8080");
  EXPECT_FALSE(c->server.tls.crl_file.has_value());
  EXPECT_EQ(c->server.drain_timeout, absl::Seconds(10));
  EXPECT_FALSE(c->server.ready_file.has_value());
  EXPECT_EQ(c->hsm.module, defaults.hsm.module);
  EXPECT_EQ(c->hsm.token, "signet");
  EXPECT_FALSE(c->hsm.pin_file.has_value());
  EXPECT_EQ(c->hsm.pin_env, "SIGNET_PIN");
  EXPECT_EQ(c->hsm.health_timeout, absl::Seconds(2));
  EXPECT_EQ(c->hsm.call_timeout, absl::Seconds(5));
  EXPECT_EQ(c->hsm.verify_every, 64u);
  EXPECT_EQ(c->batching.workers, 0u);
  EXPECT_EQ(c->batching.max_batch, 32u);
  EXPECT_EQ(c->batching.max_linger, absl::ZeroDuration());
  EXPECT_EQ(c->batching.queue_size, 4096u);
  EXPECT_EQ(c->batching.scheduling, "hsm_first");
  EXPECT_EQ(c->limits.max_item_bytes, 1024u * 1024);
  EXPECT_EQ(c->limits.max_items_per_call, 1000u);
  EXPECT_EQ(c->limits.max_message_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(c->limits.max_signer_id_bytes, 128u);
  ASSERT_EQ(c->signers.size(), 1u);
  EXPECT_EQ(c->signers[0].x5u, "");
  EXPECT_TRUE(c->authorization.empty());
  EXPECT_EQ(c->logging.level, "info");
  EXPECT_EQ(c->logging.format, "mozlog");
  EXPECT_EQ(c->logging.logger_name, "signetd");
}

TEST(ConfigTest, EmptySectionsTakeDefaults) {
  absl::StatusOr<Config> c =
      Config::Parse(std::string(kMinimal) + "batching:\nlimits: {}\nlogging:\nauthorization:\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->batching.max_batch, 32u);
  EXPECT_EQ(c->logging.level, "info");
  EXPECT_TRUE(c->authorization.empty());
}

TEST(ConfigTest, AcceptsBoundaryValues) {
  std::string yaml = Full();
  yaml = Edit(yaml, "listen: \"127.0.0.1:9443\"", "listen: \"0.0.0.0:0\"");
  yaml = Edit(yaml, "http_listen: \"[::1]:9080\"", "http_listen: \"\"");
  yaml = Edit(yaml, "drain_timeout: 15s", "drain_timeout: 10m");
  yaml = Edit(yaml, "health_timeout: 3s", "health_timeout: 1ms");
  yaml = Edit(yaml, "workers: 4", "workers: 256");
  yaml = Edit(yaml, "max_linger: 500us", "max_linger: 0s");
  yaml = Edit(yaml, "queue_size: 8192", "queue_size: 1000000");
  yaml = Edit(yaml, "max_message_bytes: 33554432", "max_message_bytes: 1073741824");
  yaml = Edit(yaml, "id: normandy", "id: " + std::string(64, 'n'));
  yaml = Edit(yaml, "signers: [normandy, remote-settings]", "signers: [" + std::string(64, 'n') + "]");
  absl::StatusOr<Config> c = Config::Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.listen, "0.0.0.0:0");
  EXPECT_EQ(c->server.http_listen, "");  // disabled
  EXPECT_EQ(c->server.drain_timeout, absl::Minutes(10));
  EXPECT_EQ(c->hsm.health_timeout, absl::Milliseconds(1));
  EXPECT_EQ(c->batching.workers, 256u);
  EXPECT_EQ(c->batching.max_linger, absl::ZeroDuration());
  EXPECT_EQ(c->signers[0].id, std::string(64, 'n'));
}

TEST(ConfigTest, ExampleFileParses) {
  const std::string path = std::string(SIGNET_VECTORS_DIR) + "/../../ops/config/signetd.example.yaml";
  absl::StatusOr<Config> c = Config::Load(path);
  ASSERT_TRUE(c.ok()) << c.status();
  // The example documents the defaults: where it sets a defaulted key, it sets the default.
  const Config d;
  EXPECT_EQ(c->server.listen, d.server.listen);
  EXPECT_EQ(c->server.http_listen, d.server.http_listen);
  EXPECT_EQ(c->server.drain_timeout, d.server.drain_timeout);
  // The example shows revocation on, as production should run.
  EXPECT_EQ(c->server.tls.crl_file, "/etc/signetd/tls/clients.crl");
  EXPECT_TRUE(c->server.ready_file.has_value());
  EXPECT_EQ(c->hsm.module, d.hsm.module);
  EXPECT_EQ(c->hsm.health_timeout, d.hsm.health_timeout);
  EXPECT_TRUE(c->hsm.pin_file.has_value());
  EXPECT_EQ(c->batching.workers, d.batching.workers);
  EXPECT_EQ(c->batching.max_batch, d.batching.max_batch);
  EXPECT_EQ(c->batching.max_linger, d.batching.max_linger);
  EXPECT_EQ(c->batching.queue_size, d.batching.queue_size);
  EXPECT_EQ(c->limits.max_item_bytes, d.limits.max_item_bytes);
  EXPECT_EQ(c->limits.max_items_per_call, d.limits.max_items_per_call);
  EXPECT_EQ(c->limits.max_message_bytes, d.limits.max_message_bytes);
  EXPECT_EQ(c->limits.max_signer_id_bytes, d.limits.max_signer_id_bytes);
  EXPECT_EQ(c->logging.level, d.logging.level);
  EXPECT_EQ(c->logging.format, d.logging.format);
  EXPECT_EQ(c->logging.logger_name, d.logging.logger_name);
  EXPECT_FALSE(c->signers.empty());
  EXPECT_FALSE(c->authorization.empty());
  EXPECT_TRUE(c->server.x5u_dir.has_value());
  const SignerConfig* pki = nullptr;
  for (const auto& s : c->signers) pki = s.pki ? &s : pki;
  ASSERT_NE(pki, nullptr) << "the example shows a contentsignaturepki signer";
  const PkiSignerConfig dp;
  EXPECT_EQ(pki->pki->curve, dp.curve);
  EXPECT_EQ(pki->pki->validity, dp.validity);
  EXPECT_EQ(pki->pki->rotate_before, dp.rotate_before);
  EXPECT_EQ(pki->pki->clock_skew, dp.clock_skew);
  EXPECT_EQ(pki->pki->publication_dir, *c->server.x5u_dir);
  EXPECT_EQ(c->rotation.mode, d.rotation.mode);
  EXPECT_EQ(c->rotation.check_interval, d.rotation.check_interval);
  EXPECT_EQ(c->rotation.reload_interval, d.rotation.reload_interval);
}

// ---- One case per rule: the message starts with "<origin>: <path>: " and names the bound. ----

struct BadCase {
  const char* name;
  std::string yaml;
  std::string prefix;  // after "signetd.yaml: "
  std::string phrase;
};

std::ostream& operator<<(std::ostream& os, const BadCase& c) { return os << c.name; }

std::vector<BadCase> BadCases() {
  const std::string f = Full();
  auto edit = [&](const std::string& from, const std::string& to) { return Edit(f, from, to); };
  return {
      // Shape.
      {"TopLevelSequence", "- a\n- b\n", "(top level): ", "expected a mapping, got a sequence"},
      {"TopLevelScalar", "hello\n", "(top level): ", "expected a mapping, got a scalar"},
      {"EmptyDocument", "", "(top level): ", "expected a mapping"},
      {"TwoDocuments", f + "---\n" + f, "(top level): ", "expected one YAML document, got 2"},
      {"UnknownTopLevelKey", edit("logging:\n", "bogus: 1\nlogging:\n"), "bogus: ",
       "unknown key; expected one of server, hsm, batching, limits, signers, authorization, rotation, logging"},
      {"UnknownNestedKey", edit("    cert_file:", "    cert_fil:"),
       "server.tls.cert_fil: ", "unknown key; expected one of cert_file, key_file, client_ca_file, crl_file"},
      {"UnknownSignerKey", edit("    key_label: rs-p384\n", "    key_label: rs-p384\n    keylabel: x\n"),
       "signers[1].keylabel: ", "unknown key; expected one of id, type, key_label, x5u, curve, ee_name"},
      {"UnknownAuthorizationKey",
       edit("  - identity: \"ops.example.org\"\n", "  - identity: \"ops.example.org\"\n    role: admin\n"),
       "authorization[1].role: ", "unknown key"},
      {"UnknownHsmKeyDoesNotEchoValue",
       edit("  token: signet-test\n", "  token: signet-test\n  pin: \"493817\"\n"),
       "hsm.pin: ", "unknown key; expected one of module, token, pin_file, pin_env, health_timeout"},
      {"DuplicateKey", edit("  workers: 4\n", "  workers: 4\n  workers: 8\n"),
       "batching.workers: ", "duplicate key (lines"},
      {"DuplicateKeyInFlowMapping",
       edit("  - identity: \"ops.example.org\"\n",
            "  - {identity: a, identity: b}\n  - identity: \"ops.example.org\"\n"),
       "authorization[1].identity: ", "duplicate key"},
      {"DuplicateTopLevelSection", f + kLogging, "logging: ", "duplicate key"},
      {"NonScalarKey", edit("  workers: 4\n", "  [a, b]: 4\n"), "batching: ", "mapping keys must be strings"},
      {"SequenceForScalar", edit("listen: \"127.0.0.1:9443\"", "listen: [a, b]"),
       "server.listen: ", "expected a scalar, got a sequence"},
      {"MappingForScalar", edit("  token: signet-test", "  token: {label: x}"),
       "hsm.token: ", "expected a scalar, got a mapping"},
      {"ScalarForSection", edit(kBatching, "batching: 4\n"),
       "batching: ", "expected a mapping, got a scalar"},
      {"ScalarForTls",
       edit("  tls:\n    cert_file: /etc/signetd/server.pem\n    key_file: /etc/signetd/server.key\n"
            "    client_ca_file: /etc/signetd/clients.pem\n    crl_file: /etc/signetd/clients.crl\n",
            "  tls: yes\n"),
       "server.tls: ", "expected a mapping, got a scalar"},
      {"NullValue", edit("listen: \"127.0.0.1:9443\"", "listen:"), "server.listen: ", "empty value"},
      {"NulByte", edit("key_label: rs-p384", R"(key_label: "rs\0p384")"), "signers[1].key_label: ", "NUL"},
      // Required keys.
      {"MissingCertFile", edit("    cert_file: /etc/signetd/server.pem\n", ""),
       "server.tls.cert_file: ", "required"},
      {"MissingKeyFile", edit("    key_file: /etc/signetd/server.key\n", ""),
       "server.tls.key_file: ", "required"},
      {"MissingClientCa", edit("    client_ca_file: /etc/signetd/clients.pem\n", ""),
       "server.tls.client_ca_file: ", "required"},
      {"MissingServerSection", edit(kServer, ""), "server.tls.cert_file: ", "required"},
      {"EmptyCertFile", edit("cert_file: /etc/signetd/server.pem", "cert_file: \"\""),
       "server.tls.cert_file: ", "must be 1..4096 bytes, got an empty string"},
      {"MissingToken", edit("  token: signet-test\n", ""), "hsm.token: ", "required"},
      {"EmptyToken", edit("  token: signet-test\n", "  token:\n"),
       "hsm.token: ", "required, got an empty value"},
      {"BothPinSources",
       edit("  pin_file: /etc/signetd/hsm.pin\n", "  pin_file: /etc/signetd/hsm.pin\n  pin_env: PIN\n"),
       "hsm: ", "exactly one of pin_file or pin_env is required, got both"},
      {"NoPinSource", edit("  pin_file: /etc/signetd/hsm.pin\n", ""),
       "hsm: ", "exactly one of pin_file or pin_env is required, got neither"},
      {"PinEnvNotAName", edit("  pin_file: /etc/signetd/hsm.pin\n", "  pin_env: \"1234 5678\"\n"),
       "hsm.pin_env: ", "environment variable name"},
      {"MissingSigners", edit(kSigners, ""), "signers: ", "required"},
      {"NullSigners", edit(kSigners, "signers:\n"), "signers: ", "required"},
      {"EmptySigners", edit(kSigners, "signers: []\n"), "signers: ", "at least one signer is required"},
      {"SignersNotSequence", edit(kSigners, "signers: {id: normandy}\n"), "signers: ", "expected a sequence"},
      {"SignerNotMapping",
       edit("  - id: remote-settings\n    type: contentsignature\n    key_label: rs-p384\n",
            "  - remote-settings\n"),
       "signers[1]: ", "expected a mapping, got a scalar"},
      // Listen addresses.
      {"ListenNoPort", edit("listen: \"127.0.0.1:9443\"", "listen: \"127.0.0.1\""),
       "server.listen: ", "must be host:port or [v6]:port with a numeric port 0..65535, got '127.0.0.1'"},
      {"ListenPortTooBig", edit("listen: \"127.0.0.1:9443\"", "listen: \"127.0.0.1:65536\""),
       "server.listen: ", "0..65535"},
      {"ListenPortNotNumeric", edit("listen: \"127.0.0.1:9443\"", "listen: \"127.0.0.1:https\""),
       "server.listen: ", "numeric port"},
      {"ListenEmptyHost", edit("listen: \"127.0.0.1:9443\"", "listen: \":9443\""),
       "server.listen: ", "host:port"},
      {"ListenBareIpv6", edit("listen: \"127.0.0.1:9443\"", "listen: \"::1:9443\""),
       "server.listen: ", "[v6]:port"},
      {"ListenEmpty", edit("listen: \"127.0.0.1:9443\"", "listen: \"\""), "server.listen: ", "got ''"},
      {"HttpListenBadBrackets", edit("http_listen: \"[::1]:9080\"", "http_listen: \"[::1]9080\""),
       "server.http_listen: ", "(or \"\" to disable)"},
      // Durations.
      {"DrainTimeoutTooLong", edit("drain_timeout: 15s", "drain_timeout: 11m"),
       "server.drain_timeout: ", "must be a duration in 0..10m"},
      {"DrainTimeoutNegative", edit("drain_timeout: 15s", "drain_timeout: -1s"),
       "server.drain_timeout: ", "got '-1s'"},
      {"DrainTimeoutNoUnit", edit("drain_timeout: 15s", "drain_timeout: 15"),
       "server.drain_timeout: ", "got '15'"},
      {"DrainTimeoutInfinite", edit("drain_timeout: 15s", "drain_timeout: inf"),
       "server.drain_timeout: ", "0..10m"},
      {"MaxLingerTooLong", edit("max_linger: 500us", "max_linger: 2s"), "batching.max_linger: ", "0..1s"},
      {"HealthTimeoutTooShort", edit("health_timeout: 3s", "health_timeout: 500us"),
       "hsm.health_timeout: ", "1ms..1m such as"},
      {"HealthTimeoutTooLong", edit("health_timeout: 3s", "health_timeout: 61s"),
       "hsm.health_timeout: ", "got '61s'"},
      {"CallTimeoutTooShort", edit("call_timeout: 2s", "call_timeout: 5ms"), "hsm.call_timeout: ", "10ms..10m"},
      {"CallTimeoutTooLong", edit("call_timeout: 2s", "call_timeout: 11m"), "hsm.call_timeout: ", "got '11m'"},
      {"VerifyEveryTooLarge", edit("verify_every: 16", "verify_every: 1000001"), "hsm.verify_every: ",
       "0..1000000"},
      {"VerifyEveryNegative", edit("verify_every: 16", "verify_every: -1"), "hsm.verify_every: ", "got '-1'"},
      // Integers.
      {"WorkersNegative", edit("workers: 4", "workers: -1"),
       "batching.workers: ", "must be a non-negative integer in 0..256, got '-1'"},
      {"WorkersFraction", edit("workers: 4", "workers: 1.5"), "batching.workers: ", "got '1.5'"},
      {"WorkersText", edit("workers: 4", "workers: abc"), "batching.workers: ", "got 'abc'"},
      {"WorkersOverflow", edit("workers: 4", "workers: 99999999999999999999999"),
       "batching.workers: ", "0..256"},
      {"WorkersUint64Overflow", edit("workers: 4", "workers: 18446744073709551616"),
       "batching.workers: ", "0..256"},
      {"WorkersTooMany", edit("workers: 4", "workers: 257"), "batching.workers: ", "0..256, got '257'"},
      {"WorkersLeadingZero", edit("workers: 4", "workers: 010"), "batching.workers: ", "leading zeros"},
      {"WorkersHex", edit("workers: 4", "workers: 0x10"), "batching.workers: ", "got '0x10'"},
      {"MaxBatchZero", edit("max_batch: 64", "max_batch: 0"), "batching.max_batch: ", "1..4096, got '0'"},
      {"MaxBatchTooBig", edit("max_batch: 64", "max_batch: 4097"), "batching.max_batch: ", "1..4096"},
      {"QueueSizeTooBig", edit("queue_size: 8192", "queue_size: 1000001"),
       "batching.queue_size: ", "1..1000000"},
      {"MaxItemBytesTooBig", edit("max_item_bytes: 2097152", "max_item_bytes: 67108865"),
       "limits.max_item_bytes: ", "1..67108864"},
      {"MaxItemsPerCallZero", edit("max_items_per_call: 500", "max_items_per_call: 0"),
       "limits.max_items_per_call: ", "1..100000"},
      {"MaxMessageBytesTooSmall", edit("max_message_bytes: 33554432", "max_message_bytes: 1023"),
       "limits.max_message_bytes: ", "1024..1073741824"},
      {"MaxMessageBytesTooBig", edit("max_message_bytes: 33554432", "max_message_bytes: 1073741825"),
       "limits.max_message_bytes: ", "1024..1073741824"},
      {"MaxSignerIdBytesTooBig", edit("max_signer_id_bytes: 64", "max_signer_id_bytes: 1025"),
       "limits.max_signer_id_bytes: ", "1..1024"},
      // Signers.
      {"SignerMissingId",
       edit("  - id: remote-settings\n", "  - type: contentsignature\n    key_label: x\n  - id: rs\n"),
       "signers[1].id: ", "required"},
      {"SignerIdBadChars", edit("id: normandy", "id: \"norm andy\""),
       "signers[0].id: ", "of [A-Za-z0-9._-], got 9 bytes: 'norm andy'"},
      {"SignerIdEmpty", edit("id: normandy", "id: \"\""), "signers[0].id: ", "must be 1..64 bytes"},
      {"SignerIdTooLong", edit("id: normandy", "id: " + std::string(65, 'n')),
       "signers[0].id: ", "must be 1..64 bytes (limits.max_signer_id_bytes)"},
      {"SignerIdDuplicate", edit("id: remote-settings", "id: normandy"),
       "signers[1].id: ", "duplicate signer id 'normandy'; already used by signers[0].id"},
      {"SignerMissingType",
       edit("    type: contentsignature\n    key_label: rs-p384\n", "    key_label: rs-p384\n"),
       "signers[1].type: ", "required"},
      {"SignerTypeUnknown",
       edit("    type: contentsignature\n    key_label: rs-p384\n",
            "    type: xmldsig\n    key_label: rs-p384\n"),
       "signers[1].type: ", "must be one of contentsignature, contentsignaturepki; got 'xmldsig'"},
      {"PkiSignerTakesNoKeyLabel",
       edit("    type: contentsignature\n    key_label: normandy-p384\n",
            "    type: contentsignaturepki\n    key_label: normandy-p384\n"),
       "signers[0].key_label: ", "not used by a contentsignaturepki signer"},
      {"PlainSignerTakesNoPkiKeys",
       edit("    key_label: rs-p384\n", "    key_label: rs-p384\n    ee_name: a.example.org\n"),
       "signers[1].ee_name: ", "only a contentsignaturepki signer takes this key; this one is contentsignature"},
      {"SignerMissingKeyLabel", edit("    key_label: rs-p384\n", ""), "signers[1].key_label: ", "required"},
      {"SignerKeyLabelTooLong", edit("key_label: rs-p384", "key_label: " + std::string(129, 'k')),
       "signers[1].key_label: ", "must be 1..128 bytes, got 129 bytes"},
      {"X5uNotHttps",
       edit("https://example.com/chains/normandy.pem", "http://example.com/chains/normandy.pem"),
       "signers[0].x5u: ", "must start with https://, got 'http://example.com"},
      {"X5uEmpty", edit("\"https://example.com/chains/normandy.pem\"", "\"\""),
       "signers[0].x5u: ", "must start with https://"},
      {"X5uNoHost", edit("https://example.com/chains/normandy.pem", "https:///chains/normandy.pem"),
       "signers[0].x5u: ", "must name a host"},
      {"X5uSemicolon", edit("chains/normandy.pem", "chains/normandy.pem;p384ecdsa=x"),
       "signers[0].x5u: ", "';'"},
      {"X5uWhitespace", edit("chains/normandy.pem", "chains/norm andy.pem"),
       "signers[0].x5u: ", "whitespace"},
      {"X5uTooLong", edit("chains/normandy.pem", std::string(2040, 'a')),
       "signers[0].x5u: ", "must be at most 2048 bytes, got 2060 bytes"},
      // Authorization.
      {"AuthorizationNotSequence", edit(kAuthorization, "authorization: {identity: x}\n"),
       "authorization: ", "expected a sequence"},
      {"IdentityMissing", edit("  - identity: \"ops.example.org\"\n    signers:\n", "  - signers:\n"),
       "authorization[1].identity: ", "required"},
      {"IdentityEmpty", edit("identity: \"ops.example.org\"", "identity: \"\""),
       "authorization[1].identity: ", "must be 1..1024 bytes"},
      {"IdentityTooLong", edit("identity: \"ops.example.org\"", "identity: " + std::string(1025, 'i')),
       "authorization[1].identity: ", "must be 1..1024 bytes, got 1025 bytes"},
      {"IdentityDuplicate",
       edit("identity: \"ops.example.org\"", "identity: \"spiffe://example.org/ns/web/sa/app\""),
       "authorization[1].identity: ", "already used by authorization[0].identity"},
      {"RuleSignersMissing", edit("    signers: [normandy, remote-settings]\n", ""),
       "authorization[0].signers: ", "required"},
      {"RuleSignersEmpty", edit("signers: [normandy, remote-settings]", "signers: []"),
       "authorization[0].signers: ", "at least one signer id"},
      {"RuleSignersScalar", edit("signers: [normandy, remote-settings]", "signers: normandy"),
       "authorization[0].signers: ", "expected a sequence"},
      {"RuleUnknownSigner", edit("signers: [normandy, remote-settings]", "signers: [normandy, x]"),
       "authorization[0].signers[1]: ", "unknown signer 'x'"},
      {"RuleDuplicateSigner", edit("signers: [normandy, remote-settings]", "signers: [normandy, normandy]"),
       "authorization[0].signers[1]: ",
       "duplicate signer 'normandy'; already listed at authorization[0].signers[0]"},
      {"RuleSignerNotScalar", edit("signers: [normandy, remote-settings]", "signers: [[normandy]]"),
       "authorization[0].signers[0]: ", "expected a signer id, got a sequence"},
      {"BatchingSchedulingUnknown", edit("scheduling: fair", "scheduling: realtime"),
       "batching.scheduling: ", "must be one of hsm_first, fair; got 'realtime'"},
      // Logging.
      {"LoggingLevelUnknown", edit("level: debug", "level: verbose"),
       "logging.level: ", "must be one of trace, debug, info, warn, error; got 'verbose'"},
      {"LoggingFormatUnknown", edit("format: text", "format: json"),
       "logging.format: ", "must be one of mozlog, text; got 'json'"},
      {"LoggerNameBadChars", edit("logger_name: signetd-test", "logger_name: \"signet d\""),
       "logging.logger_name: ", "1..64 bytes of [A-Za-z0-9._-], got 'signet d'"},
      {"LoggerNameTooLong", edit("logger_name: signetd-test", "logger_name: " + std::string(65, 'l')),
       "logging.logger_name: ", "1..64 bytes"},
      {"LoggerNameEmpty", edit("logger_name: signetd-test", "logger_name: \"\""),
       "logging.logger_name: ", "got ''"},
  };
}

class ConfigRejectsTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigRejectsTest, NamesPathAndBound) {
  const BadCase& c = GetParam();
  absl::StatusOr<Config> parsed = Config::Parse(c.yaml, "signetd.yaml");
  ASSERT_FALSE(parsed.ok()) << c.yaml;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(parsed.status().message());
  EXPECT_THAT(message, StartsWith("signetd.yaml: " + c.prefix));
  EXPECT_THAT(message, HasSubstr(c.phrase));
}

INSTANTIATE_TEST_SUITE_P(Rules, ConfigRejectsTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

// ---- Messages: truncation, PIN hygiene, syntax errors. ----

TEST(ConfigTest, LongValuesAreTruncatedInMessages) {
  absl::StatusOr<Config> c =
      Config::Parse(Edit(Full(), "listen: \"127.0.0.1:9443\"", "listen: \"" + std::string(200, 'a') + "\""));
  ASSERT_FALSE(c.ok());
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("'" + std::string(64, 'a') + "'... (200 bytes)"));
  EXPECT_THAT(message, Not(HasSubstr(std::string(65, 'a'))));
}

TEST(ConfigTest, ControlBytesAreEscapedInMessages) {
  absl::StatusOr<Config> c = Config::Parse(Edit(Full(), "level: debug", R"(level: "de\e-bug\n")"));
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("got 'de\\x1b-bug\\n'"));
}

TEST(ConfigTest, PinSourceValuesNeverAppearInMessages) {
  // Someone pasted the PIN where the variable name goes.
  absl::StatusOr<Config> c = Config::Parse(
      Edit(Full(), "  pin_file: /etc/signetd/hsm.pin\n", "  pin_env: \"493817 2291\"\n"), "s.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("s.yaml: hsm.pin_env: "));
  EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("493817")));

  const std::string long_pin_path = "/" + std::string(5000, 'p');
  c = Config::Parse(Edit(Full(), "pin_file: /etc/signetd/hsm.pin", "pin_file: " + long_pin_path), "s.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("s.yaml: hsm.pin_file: must be 1..4096 bytes"));
  EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("ppp")));

  // A PIN under an unknown key: the key is named, its value is not.
  c = Config::Parse(Edit(Full(), "  token: signet-test\n", "  token: signet-test\n  pin: \"493817\"\n"),
                    "s.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("493817")));
}

TEST(ConfigTest, SyntaxErrorReportsLineAndColumn) {
  const std::string yaml = "server:\n  listen: \"127.0.0.1:8443\"\n  tls: {cert_file: a, key_file: b\nhsm:\n";
  absl::StatusOr<Config> c = Config::Parse(yaml, "signetd.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), StartsWith("signetd.yaml: line 4, column "));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("YAML syntax error"));
}

TEST(ConfigTest, SyntaxErrorOnBadIndentation) {
  absl::StatusOr<Config> c = Config::Parse("a: 1\nb: c: d\n", "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("x.yaml: line 2, column "));
}

TEST(ConfigTest, DeepNestingIsAnErrorNotACrash) {
  const std::string yaml = "server: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  absl::StatusOr<Config> c = Config::Parse(yaml, "deep.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), StartsWith("deep.yaml: line 1, column "));
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("YAML syntax error: nested too deeply ("));
}

// Found by fuzz_config (tests/fuzz/regressions/config/yaml-error-echoes-*): yaml-cpp's own messages
// quote input bytes ("unknown escape character: " and the raw byte), which reached the message unescaped.
TEST(ConfigTest, YamlCppMessagesAreEscaped) {
  for (const std::string& yaml : {std::string("a: \"\\\x04\"\n"), std::string("\0\0z\x06", 4),
                                  std::string("k: \"\\\xdb\"\n")}) {
    absl::StatusOr<Config> c = Config::Parse(yaml, "signetd.yaml");
    ASSERT_FALSE(c.ok());
    const std::string message(c.status().message());
    EXPECT_THAT(message, StartsWith("signetd.yaml: line 1, column "));
    EXPECT_THAT(message, HasSubstr("YAML syntax error: unknown escape character: \\x"));
    for (char ch : message) {
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "raw byte in: " << absl::CHexEscape(message);
    }
  }
}

// Found by fuzz_strict_yaml (tests/fuzz/regressions/{strict_yaml,config}/*-endless-*): for a ',' where a
// document should start, yaml-cpp 0.7's LoadAll returned empty documents forever, growing until memory ran
// out; signetd --check-config never returned.
TEST(ConfigTest, StrayCommaIsASyntaxErrorNotAnEndlessStreamOfDocuments) {
  absl::StatusOr<Config> c = Config::Parse(",", "signetd.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "signetd.yaml: line 1, column 1: YAML syntax error: unexpected ','");

  c = Config::Parse(", size: 0011, duration: 1s}\n", "signetd.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("line 1, column 1: YAML syntax error: unexpected ','"));

  c = Config::Parse(Full() + "---\n,\n", "signetd.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("YAML syntax error: unexpected ','"));

  // Documents are still counted (an empty second one too), and explicit markers are fine.
  c = Config::Parse(Full() + "---\n", "signetd.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("expected one YAML document, got 2"));
  EXPECT_TRUE(Config::Parse("---\n" + Full() + "...\n").ok());
}

// Found by fuzz_ceremony (ValidateDnsName, shared with ee_name here): a DNS name with control or
// non-ASCII bytes was echoed raw in the message.
TEST(ConfigTest, DnsNameBytesAreEscapedInMessages) {
  const std::string pki = R"(
  - id: rs-pki
    type: contentsignaturepki
    ee_name: "remote-settings.content-signatur\xe9.example.org\e"
    intermediate_key_label: inter
    intermediate_cert_file: /i.pem
    root_cert_file: /r.pem
    root_sha256: "4C35B1C3E312D955E778EDD0A7E78A388304EF01BFFA0329B2469F3CC5EC3604"
    x5u_base_url: "https://x5u.example.org/"
    publication_dir: /x5u
)";
  absl::StatusOr<Config> c =
      Config::Parse(Edit(Full(), "    key_label: rs-p384\n", "    key_label: rs-p384\n" + pki.substr(1)));
  ASSERT_FALSE(c.ok());
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("signers[2].ee_name: ee_name "
                                 "'remote-settings.content-signatur\\xc3\\xa9.example.org\\x1b' "
                                 "may contain only letters, digits, '-' and '.'"));
  for (char ch : message) {
    EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "raw byte in: " << absl::CHexEscape(message);
  }
}

TEST(ConfigTest, AliasesAreResolved) {
  const std::string yaml = Edit(Edit(Full(), "  token: signet-test", "  token: &tok signet-test"),
                                "key_label: rs-p384", "key_label: *tok");
  absl::StatusOr<Config> c = Config::Parse(yaml);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signers[1].key_label, "signet-test");
}

TEST(ConfigTest, DefaultOriginIsConfig) {
  absl::StatusOr<Config> c = Config::Parse("[");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), StartsWith("config: "));
}

TEST(ConfigTest, ParseRejectsOversizeText) {
  std::string yaml = Full() + "#" + std::string(kMaxConfigBytes, 'x') + "\n";
  absl::StatusOr<Config> c = Config::Parse(yaml, "big.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), StartsWith("big.yaml: "));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("1048576"));
}

// ---- Load. ----

class ConfigLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "config_test_XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
  }
  void TearDown() override {
    for (const std::string& f : files_) (void)std::remove(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    files_.push_back(path);
    return path;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(ConfigLoadTest, LoadsAFile) {
  const std::string path = Write("signetd.yaml", Full());
  absl::StatusOr<Config> c = Config::Load(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signers.size(), 2u);
}

TEST_F(ConfigLoadTest, ErrorsArePrefixedWithThePath) {
  const std::string path = Write("bad.yaml", Edit(Full(), "    key_label: rs-p384\n", ""));
  absl::StatusOr<Config> c = Config::Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()), path + ": signers[1].key_label: required");
}

TEST_F(ConfigLoadTest, MissingFile) {
  const std::string path = dir_ + "/does-not-exist.yaml";
  absl::StatusOr<Config> c = Config::Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(path));
}

TEST_F(ConfigLoadTest, OversizeFile) {
  const std::string path = Write("big.yaml", Full() + "#" + std::string(kMaxConfigBytes, 'x') + "\n");
  absl::StatusOr<Config> c = Config::Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("1048576-byte bound"));
}

TEST(ConfigTest, SignerHsmConcurrency) {
  const std::string base = kMinimal;
  absl::StatusOr<Config> c = Config::Parse(base, "signetd.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->signers[0].hsm_concurrency, 0u) << "default: as many workers as there are";
  c = Config::Parse(Edit(base, "key_label: normandy-p384}", "key_label: normandy-p384, hsm_concurrency: 1}"),
                    "signetd.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->signers[0].hsm_concurrency, 1u);
  for (const char* bad : {"0", "257", "-1", "two"}) {
    c = Config::Parse(
        Edit(base, "key_label: normandy-p384}", std::string("key_label: normandy-p384, hsm_concurrency: ") + bad + "}"),
        "signetd.yaml");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("signers[0].hsm_concurrency: must be a non-negative integer in 1..256"));
  }
}

// ---- contentsignaturepki signers and rotation ------------------------------------------------------

constexpr char kPki[] = R"(server:
  tls: {cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}
  x5u_dir: /var/lib/signetd/x5u
hsm: {token: signet, pin_env: SIGNET_PIN}
signers:
  - id: remote-settings
    type: contentsignaturepki
    curve: P-256
    ee_name: remote-settings.content-signature.example.org
    intermediate_key_label: example-intermediate-2026
    intermediate_cert_file: /etc/signetd/pki/intermediate.pem
    root_cert_file: /etc/signetd/pki/root.pem
    root_sha256: "4C:35:B1:C3:E3:12:D9:55:E7:78:ED:D0:A7:E7:8A:38:83:04:EF:01:BF:FA:03:29:B2:46:9F:3C:C5:EC:36:04"
    validity: 1440h
    rotate_before: 720h
    clock_skew: 5m
    x5u_base_url: "https://x5u.example.org/chains/"
    publication_dir: /var/lib/signetd/x5u
    x5u_ca_file: /etc/signetd/pki/x5u-ca.pem
rotation:
  mode: external
  check_interval: 30m
  reload_interval: 10s
)";

TEST(PkiConfigTest, PkiSignerAndRotationParse) {
  absl::StatusOr<Config> c = Config::Parse(kPki, "pki.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.x5u_dir, "/var/lib/signetd/x5u");
  ASSERT_EQ(c->signers.size(), 1u);
  const SignerConfig& s = c->signers[0];
  EXPECT_EQ(s.type, "contentsignaturepki");
  EXPECT_TRUE(s.key_label.empty());
  ASSERT_TRUE(s.pki.has_value());
  EXPECT_EQ(s.pki->curve, EcCurve::kP256);
  EXPECT_EQ(s.pki->ee_name, "remote-settings.content-signature.example.org");
  EXPECT_EQ(s.pki->intermediate_key_label, "example-intermediate-2026");
  EXPECT_EQ(s.pki->intermediate_cert_file, "/etc/signetd/pki/intermediate.pem");
  EXPECT_EQ(s.pki->root_cert_file, "/etc/signetd/pki/root.pem");
  ASSERT_EQ(s.pki->root_sha256.size(), 32u);
  EXPECT_EQ(s.pki->root_sha256[0], 0x4c);
  EXPECT_EQ(s.pki->root_sha256[31], 0x04);
  EXPECT_EQ(s.pki->validity, absl::Hours(1440));
  EXPECT_EQ(s.pki->rotate_before, absl::Hours(720));
  EXPECT_EQ(s.pki->clock_skew, absl::Minutes(5));
  EXPECT_EQ(s.pki->x5u_base_url, "https://x5u.example.org/chains/");
  EXPECT_EQ(s.pki->publication_dir, "/var/lib/signetd/x5u");
  EXPECT_EQ(s.pki->x5u_ca_file, "/etc/signetd/pki/x5u-ca.pem");
  EXPECT_EQ(c->rotation.mode, "external");
  EXPECT_EQ(c->rotation.check_interval, absl::Minutes(30));
  EXPECT_EQ(c->rotation.reload_interval, absl::Seconds(10));
}

TEST(PkiConfigTest, Defaults) {
  std::string text = kPki;
  for (const char* line : {"    curve: P-256\n", "    validity: 1440h\n", "    rotate_before: 720h\n",
                           "    clock_skew: 5m\n", "    x5u_ca_file: /etc/signetd/pki/x5u-ca.pem\n"}) {
    text = Edit(text, line, "");
  }
  text = text.substr(0, text.find("rotation:"));
  absl::StatusOr<Config> c = Config::Parse(text, "pki.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const PkiSignerConfig& p = *c->signers[0].pki;
  EXPECT_EQ(p.curve, EcCurve::kP384);
  EXPECT_EQ(p.validity, absl::Hours(24 * 60));
  EXPECT_EQ(p.rotate_before, absl::Hours(24 * 30));
  EXPECT_EQ(p.clock_skew, absl::Minutes(10));
  EXPECT_FALSE(p.x5u_ca_file.has_value());
  EXPECT_EQ(c->rotation.mode, "internal");
  EXPECT_EQ(c->rotation.check_interval, absl::Minutes(10));
  EXPECT_EQ(c->rotation.reload_interval, absl::Seconds(30));
}

TEST(PkiConfigTest, EveryBadValueNamesItsKey) {
  auto err = [](const std::string& from, const std::string& to) {
    absl::StatusOr<Config> c = Config::Parse(Edit(kPki, from, to), "pki.yaml");
    EXPECT_FALSE(c.ok()) << from << " -> " << to;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(c.status().message());
  };
  EXPECT_THAT(err("    curve: P-256\n", "    curve: P-192\n"), HasSubstr("signers[0].curve: must be one of P-256"));
  EXPECT_THAT(err("    ee_name: remote-settings.content-signature.example.org\n", ""),
              HasSubstr("signers[0].ee_name: required"));
  EXPECT_THAT(err("ee_name: remote-settings.", "ee_name: remote_settings."), HasSubstr("signers[0].ee_name: ee_name"));
  EXPECT_THAT(err("    intermediate_key_label: example-intermediate-2026\n", ""),
              HasSubstr("signers[0].intermediate_key_label: required"));
  EXPECT_THAT(err("    root_cert_file: /etc/signetd/pki/root.pem\n", ""), HasSubstr("signers[0].root_cert_file: required"));
  EXPECT_THAT(err("    publication_dir: /var/lib/signetd/x5u\n", ""), HasSubstr("signers[0].publication_dir: required"));
  EXPECT_THAT(err("\"4C:35:B1", "\"4C:35"), HasSubstr("signers[0].root_sha256: must be the SHA-256"));
  EXPECT_THAT(err("\"4C:35:B1", "\"ZZ:35:B1"), HasSubstr("signers[0].root_sha256"));
  EXPECT_THAT(err("    validity: 1440h\n", "    validity: 30m\n"), HasSubstr("signers[0].validity: must be a duration"));
  EXPECT_THAT(err("    rotate_before: 720h\n", "    rotate_before: 1440h\n"),
              HasSubstr("signers[0].rotate_before: must be shorter than validity"));
  EXPECT_THAT(err("    clock_skew: 5m\n", "    clock_skew: 2h\n"), HasSubstr("signers[0].clock_skew"));
  EXPECT_THAT(err("\"https://x5u.example.org/chains/\"", "\"http://x5u.example.org/chains/\""),
              HasSubstr("signers[0].x5u_base_url: must start with https://"));
  EXPECT_THAT(err("\"https://x5u.example.org/chains/\"", "\"https://x5u.example.org/chains\""),
              HasSubstr("signers[0].x5u_base_url: must end with '/'"));
  EXPECT_THAT(err("    x5u_base_url: \"https://x5u.example.org/chains/\"\n", ""),
              HasSubstr("signers[0].x5u_base_url: required"));
  EXPECT_THAT(err("    clock_skew: 5m\n", "    clock_skew: 5m\n    x5u: \"https://a.example/x.pem\"\n"),
              HasSubstr("signers[0].x5u: not used by a contentsignaturepki signer"));
  EXPECT_THAT(err("  mode: external\n", "  mode: cron\n"), HasSubstr("rotation.mode: must be one of internal, external"));
  EXPECT_THAT(err("  mode: external\n", "  mode: internal\n  check_interval_s: 1\n"), HasSubstr("rotation.check_interval_s: unknown key"));
  {
    absl::StatusOr<Config> c =
        Config::Parse(Edit(Edit(kPki, "    rotate_before: 720h\n", "    rotate_before: 20m\n"), "  mode: external\n",
                           "  mode: internal\n"),
                      "pki.yaml");
    ASSERT_FALSE(c.ok());
    EXPECT_THAT(std::string(c.status().message()),
                HasSubstr("rotation.check_interval: must be shorter than signers[0].rotate_before (20m)"));
  }
  EXPECT_THAT(err("  reload_interval: 10s\n", "  reload_interval: 2h\n"), HasSubstr("rotation.reload_interval"));
  EXPECT_THAT(err("  x5u_dir: /var/lib/signetd/x5u\n", "  x5u_dir: \"\"\n"), HasSubstr("server.x5u_dir: must be 1..4096"));
}

}  // namespace
}  // namespace signet::daemon
