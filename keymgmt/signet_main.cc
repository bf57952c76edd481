// signet: the operator's command line: tokens and keys, key ceremonies, rotation, verification, the
// development PKI and the signetd client.
#include <grpc/support/log.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"
#include "common/ec_curve.h"
#include "common/files.h"
#include "common/hardening.h"
#include "common/hex.h"
#include "common/time_text.h"
#include "daemon/config.h"
#include "daemon/rotation_setup.h"
#include "keymgmt/ceremony.h"
#include "keymgmt/cli_args.h"
#include "keymgmt/dev_pki.h"
#include "keymgmt/hsm_connection.h"
#include "keymgmt/hsm_signer.h"
#include "keymgmt/pin_shares.h"
#include "keymgmt/publication.h"
#include "keymgmt/rotation.h"
#include "keymgmt/sign_client.h"
#include "pkcs11/key.h"
#include "signing/chain.h"
#include "signing/content_signature.h"
#include "signing/keys.h"
#include "signing/signer.h"
#include "spdlog/spdlog.h"

namespace signet::keymgmt {
namespace {

constexpr size_t kMaxSignInputBytes = 64 * 1024 * 1024;
constexpr size_t kMaxPublicKeyFileBytes = 64 * 1024;
constexpr size_t kMaxSignatureArgBytes = 16 * 1024;

constexpr char kUsage[] = R"(signet: operate Signet's keys

usage: signet COMMAND [flags]

HSM commands take --token SELECTOR (a label, serial=..., or a pkcs11: URI), --module PATH
(default $SIGNET_PKCS11_MODULE or SoftHSM2) and the PIN from --pin-file PATH (mode 0600) or
--pin-env NAME. A PIN is never accepted on the command line.

  token init   --label L --so-pin-file F|--so-pin-env N --pin-file F|--pin-env N
               initialize the first free slot's token (SoftHSM, development)
  token list   list tokens
  key generate --token T --label L --curve P-256|P-384|P-521 [--public-key-out FILE]
               generate a non-extractable EC key inside the HSM
  key list     --token T
  local-sign   --token T --key LABEL --input FILE|- [--x5u URL] [--format header|signature]
               Content-Signature over the input, signed directly by the HSM
  verify       --input FILE|- --signature SIG|HEADER
               (--public-key PEMFILE | --chain FILE | --x5u URL [--ca-file CA.pem])
               [--root-sha256 HEX --name DNSNAME [--at RFC3339]]
               verify a Content-Signature with a public key, or as Firefox does: the certificate chain
               (from a file or fetched from its x5u URL) must verify against the pinned root SHA-256
               (colons and case ignored) for the end-entity DNS name, at --at (default now); every
               failure names the rule that failed
  ceremony run FILE.yaml
               run a scripted key ceremony (root, intermediate or key; see ops/ceremony/). Token
               PINs are entered as officers' shares on the terminal (no echo); the transcript is
               printed and saved next to the outputs
  ceremony split-pin --shares N --threshold M (--pin-file F | --pin-env NAME) [--out-dir DIR]
               split a token PIN into N Shamir shares (libgfshare), any M of which recover it;
               with --out-dir each share goes to its own 0600 file (share-1.txt ...), otherwise
               they are printed (then one person has seen them all: demos only)
  rotate       --config signetd.yaml [--signer ID] [--force]
               one rotation pass for the contentsignaturepki signers of a signetd config (for
               cron, a systemd timer or a Kubernetes CronJob with rotation.mode: external)
  dev-pki      --dir DIR [--server-name N[,N2...]] [--server-ip IP[,IP2...]]
               [--clients NAME[=URI][,NAME2[=URI2]...]] [--days N]
               write a throwaway mTLS CA, server and client certificates (software keys, not
               the HSM) for development and tests; defaults: localhost, 127.0.0.1,::1, 30 days
  sign         --server HOST:PORT --ca-file CA.pem --cert-file CLIENT.pem --key-file CLIENT.key
               --signer ID (--input FILE|- | --hash-hex HEX) [--x5u-only]
               [--output header|signature|json] [--timeout 10s] [--request-id ID]
               sign through signetd over mutual TLS; --server, --ca-file, --cert-file and --key-file
               default to $SIGNET_SERVER, $SIGNET_CA_FILE, $SIGNET_CERT_FILE, $SIGNET_KEY_FILE.
               --input is the data (at most 64 MiB), --hash-hex a digest already computed over
               "Content-Signature:\0" || data with the signer's hash. --x5u-only fails unless the
               signature comes with an x5u URL. Output: header (default) the Content-Signature
               value, signature the base64url r||s, json one line with signature, x5u, key_id,
               content_signature and request_id (generated when --request-id is not given).
  version
)";


absl::Status TokenInit(const std::vector<std::string>& argv) {
  FlagSpec spec{{"module", "label", "so-pin-file", "so-pin-env", "pin-file", "pin-env"}, {}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto label = args->Require("label");
  if (!label.ok()) return label.status();
  auto so_pin = ReadPin(*args, "so-");
  if (!so_pin.ok()) return so_pin.status();
  auto pin = ReadPin(*args);
  if (!pin.ok()) return pin.status();
  auto module = pkcs11::Module::Load(ModulePath(*args));
  if (!module.ok()) return module.status();
  auto info = pkcs11::Token::Initialize(*module, *label, *so_pin, *pin);
  if (!info.ok()) return info.status();
  std::cout << "initialized token '" << info->label << "' (serial " << info->serial << ", slot " << info->slot
            << ")\n";
  return absl::OkStatus();
}

absl::Status TokenList(const std::vector<std::string>& argv) {
  FlagSpec spec{{"module"}, {}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto module = pkcs11::Module::Load(ModulePath(*args));
  if (!module.ok()) return module.status();
  auto tokens = (*module)->Tokens();
  if (!tokens.ok()) return tokens.status();
  for (const auto& t : *tokens) {
    if (!t.initialized()) continue;
    std::cout << "slot " << t.slot << "  label '" << t.label << "'  serial " << t.serial << "  "
              << t.manufacturer << " " << t.model << "\n";
  }
  return absl::OkStatus();
}

absl::Status KeyGenerate(const std::vector<std::string>& argv) {
  FlagSpec spec{{"label", "curve", "public-key-out"}, {}};
  AddHsmFlags(spec);
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto label = args->Require("label");
  if (!label.ok()) return label.status();
  auto curve_name = args->Require("curve");
  if (!curve_name.ok()) return curve_name.status();
  auto curve = EcCurveFromName(*curve_name);
  if (!curve.ok()) return absl::InvalidArgumentError(absl::StrCat("--curve: ", curve.status().message()));
  auto out = args->Get("public-key-out");
  // Check the output before generating, so a clash does not leave an orphan key on the token.
  if (out && ::access(out->c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat("--public-key-out ", *out, " already exists"));
  }
  auto hsm = Connect(*args);
  if (!hsm.ok()) return hsm.status();
  auto key = hsm->pool->Run([&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, *curve, *label); });
  if (!key.ok()) return key.status();
  auto pem = signing::PublicKeyPem(key->public_key.get());
  if (!pem.ok()) return pem.status();
  std::cout << "generated " << GetEcCurveInfo(key->curve).name << " key '" << key->label << "' id "
            << HexEncode(key->id) << " inside token '" << hsm->token->info().label
            << "' (sensitive, non-extractable)\n";
  if (out) {
    if (auto s = WriteNewFile(*out, *pem); !s.ok()) return s;
    std::cout << "public key written to " << *out << "\n";
  } else {
    std::cout << *pem;
  }
  return absl::OkStatus();
}

absl::Status KeyList(const std::vector<std::string>& argv) {
  FlagSpec spec{{}, {}};
  AddHsmFlags(spec);
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto hsm = Connect(*args, 1);
  if (!hsm.ok()) return hsm.status();
  auto keys = hsm->pool->Run([&](pkcs11::Session& s) { return pkcs11::ListEcKeys(s); });
  if (!keys.ok()) return keys.status();
  for (const auto& k : *keys) {
    std::cout << GetEcCurveInfo(k.curve).name << "  id " << HexEncode(k.id) << "  label '" << k.label << "'\n";
  }
  return absl::OkStatus();
}

absl::Status LocalSign(const std::vector<std::string>& argv) {
  FlagSpec spec{{"key", "input", "x5u", "format"}, {}};
  AddHsmFlags(spec);
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto key_label = args->Require("key");
  if (!key_label.ok()) return key_label.status();
  auto input_path = args->Require("input");
  if (!input_path.ok()) return input_path.status();
  std::string format = args->Get("format").value_or("header");
  if (format != "header" && format != "signature") {
    return absl::InvalidArgumentError(absl::StrCat("--format must be header or signature, got '", format, "'"));
  }
  auto input = ReadFileBounded(*input_path, kMaxSignInputBytes);
  if (!input.ok()) return input.status();
  auto hsm = Connect(*args, 1);
  if (!hsm.ok()) return hsm.status();
  auto key = pkcs11::HsmKey::Load(hsm->pool, pkcs11::KeyQuery{.label = *key_label});
  if (!key.ok()) return key.status();
  HsmDigestSigner signer(*key);
  auto sig = signing::SignData(signer, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input->data()),
                                                                input->size()));
  if (!sig.ok()) return sig.status();
  if (format == "signature") {
    std::cout << *sig << "\n";
  } else {
    std::cout << signing::BuildHeader({.x5u = args->Get("x5u").value_or(""), .curve = signer.curve(), .signature = *sig})
              << "\n";
  }
  return absl::OkStatus();
}

// signet verify --chain/--x5u: the Firefox rules. Rule failures come back as FailedPrecondition (exit 1):
// the input was well-formed, the signature or chain is what failed.
absl::Status VerifyWithChain(const CliArgs& args, const std::string& input, const std::string& signature) {
  auto pin_text = args.Require("root-sha256");
  if (!pin_text.ok()) return absl::InvalidArgumentError("--root-sha256 is required with --chain or --x5u");
  auto pin = signing::ParseSha256Fingerprint(*pin_text);
  if (!pin.ok()) return absl::InvalidArgumentError(absl::StrCat("--root-sha256: ", pin.status().message()));
  auto name = args.Require("name");
  if (!name.ok()) return absl::InvalidArgumentError("--name is required with --chain or --x5u");
  absl::Time at = absl::Now();
  if (auto v = args.Get("at")) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *v, &at, &err)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--at must be an RFC 3339 time such as 2020-05-09T14:02:37Z, got '", *v, "'"));
    }
  }
  std::string chain;
  if (auto file = args.Get("chain")) {
    auto text = ReadFileBounded(*file, signing::kMaxChainBytes);
    if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat("--chain: ", text.status().message()));
    chain = *std::move(text);
  } else {
    HttpsFetcherOptions options;
    options.ca_file = args.Get("ca-file");
    auto fetched = NewHttpsFetcher(options)->Fetch(*args.Get("x5u"));
    if (!fetched.ok()) return fetched.status();
    chain = *std::move(fetched);
  }
  const signing::ChainPolicy policy{.root_sha256 = *pin, .ee_name = *name, .at = at};
  absl::Status s = signing::VerifyContentSignatureWithChain(
      chain, policy, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input.data()), input.size()),
      signature);
  if (!s.ok()) return absl::FailedPreconditionError(absl::StrCat("FAILED: ", s.message()));
  auto verified = signing::VerifyChainPem(chain, policy);
  std::cout << "OK: Content-Signature verifies (" << GetEcCurveInfo(verified->curve).name << ") with a chain for '"
            << *name << "' under the pinned root, at " << Rfc3339(at) << "; end entity valid until "
            << Rfc3339(verified->ee_not_after) << "\n";
  return absl::OkStatus();
}

absl::Status Verify(const std::vector<std::string>& argv) {
  FlagSpec spec{{"input", "signature", "public-key", "chain", "x5u", "ca-file", "root-sha256", "name", "at"}, {}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto input_path = args->Require("input");
  if (!input_path.ok()) return input_path.status();
  auto sig_arg = args->Require("signature");
  if (!sig_arg.ok()) return sig_arg.status();
  if (sig_arg->size() > kMaxSignatureArgBytes) return absl::InvalidArgumentError("--signature is too long");
  const int sources = args->Has("public-key") + args->Has("chain") + args->Has("x5u");
  if (sources != 1) {
    return absl::InvalidArgumentError("give exactly one of --public-key PEMFILE, --chain FILE and --x5u URL");
  }
  if (args->Has("public-key")) {
    for (const char* chain_only : {"ca-file", "root-sha256", "name", "at"}) {
      if (args->Has(chain_only)) {
        return absl::InvalidArgumentError(absl::StrCat("--", chain_only, " goes with --chain or --x5u"));
      }
    }
  } else if (args->Has("ca-file") && !args->Has("x5u")) {
    return absl::InvalidArgumentError("--ca-file goes with --x5u");
  }
  if (!args->Has("public-key")) {
    auto input = ReadFileBounded(*input_path, kMaxSignInputBytes);
    if (!input.ok()) return input.status();
    return VerifyWithChain(*args, *input, *sig_arg);
  }
  auto key_path = args->Require("public-key");
  if (!key_path.ok()) return key_path.status();
  auto pem = ReadFileBounded(*key_path, kMaxPublicKeyFileBytes);
  if (!pem.ok()) return pem.status();
  auto key = signing::PublicKeyFromPem(*pem);
  if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat("--public-key: ", key.status().message()));
  auto curve = EcCurveOfKey(key->get());
  if (!curve.ok()) return absl::InvalidArgumentError(absl::StrCat("--public-key: ", curve.status().message()));
  std::string signature = *sig_arg;
  if (signature.find('=') != std::string::npos) {  // a whole header value: x5u=...;p384ecdsa=...
    auto header = signing::ParseHeader(signature);
    if (!header.ok()) return absl::InvalidArgumentError(absl::StrCat("--signature: ", header.status().message()));
    if (header->curve != *curve) {
      return absl::InvalidArgumentError(absl::StrCat("--signature is ", Av(GetEcCurveInfo(header->curve).cs_param),
                                                     " but the public key is ", Av(GetEcCurveInfo(*curve).name)));
    }
    signature = header->signature;
  }
  auto input = ReadFileBounded(*input_path, kMaxSignInputBytes);
  if (!input.ok()) return input.status();
  auto s = signing::VerifyData(key->get(), *curve,
                               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(input->data()), input->size()),
                               signature);
  if (!s.ok()) return s;
  std::cout << "OK: Content-Signature verifies (" << GetEcCurveInfo(*curve).name << ", "
            << GetEcCurveInfo(*curve).hash_name << ")\n";
  return absl::OkStatus();
}

absl::Status DevPki(const std::vector<std::string>& argv) {
  FlagSpec spec{{"dir", "server-name", "server-ip", "clients", "days"}, {}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  if (!args->positionals().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", args->positionals().front(), "'"));
  }
  auto dir = args->Require("dir");
  if (!dir.ok()) return dir.status();
  // CliArgs rejects repeated flags, so lists are comma-separated; "" is an empty list.
  auto split = [](const std::string& flag,
                  const std::string& value) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> out;
    if (value.empty()) return out;
    for (absl::string_view part : absl::StrSplit(value, ',')) {
      if (part.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " has an empty entry"));
      out.emplace_back(part);
    }
    return out;
  };
  DevPkiOptions options;
  options.dir = *dir;
  if (auto v = args->Get("server-name")) {
    auto names = split("server-name", *v);
    if (!names.ok()) return names.status();
    if (names->empty()) return absl::InvalidArgumentError("--server-name needs at least one name");
    options.server_names = *std::move(names);
  }
  if (auto v = args->Get("server-ip")) {
    auto ips = split("server-ip", *v);
    if (!ips.ok()) return ips.status();
    options.server_ips = *std::move(ips);
  }
  if (auto v = args->Get("clients")) {
    auto clients = split("clients", *v);
    if (!clients.ok()) return clients.status();
    for (const std::string& c : *clients) {
      size_t eq = c.find('=');
      if (eq == std::string::npos) {
        options.clients.emplace_back(c, "");
      } else {
        options.clients.emplace_back(c.substr(0, eq), c.substr(eq + 1));
      }
    }
  }
  if (auto v = args->Get("days")) {
    int days = 0;
    if (!absl::SimpleAtoi(*v, &days) || days < 1 || days > 3650) {
      return absl::InvalidArgumentError(
          absl::StrCat("--days must be a whole number from 1 to 3650, got '", *v, "'"));
    }
    options.validity = absl::Hours(24) * days;
  }
  if (auto s = CreateDevPki(options); !s.ok()) return s;
  std::cout << "wrote a development PKI (P-256, valid " << absl::ToInt64Hours(options.validity) / 24
            << " days) in " << options.dir << ":\n";
  for (const std::string& name : DevPkiFileNames(options)) {
    std::cout << "  " << options.dir << "/" << name << "\n";
  }
  std::cout << "signetd: tls cert server.pem, key server.key, client CA ca.pem; clients trust ca.pem\n";
  std::cerr
      << "WARNING: this PKI is for development and tests only. Its keys are unencrypted files and its CA\n"
         "key can issue any identity: never trust this ca.pem in production.\n";
  return absl::OkStatus();
}

absl::Status Sign(const std::vector<std::string>& argv) {
  constexpr size_t kMaxPemFileBytes = 1024 * 1024;
  FlagSpec spec{{"server", "ca-file", "cert-file", "key-file", "signer", "input", "hash-hex", "output", "timeout",
                 "request-id"},
                {"x5u-only"}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  if (!args->positionals().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", args->positionals().front(), "'"));
  }
  // A flag wins over its environment default; an empty value is never a default.
  auto flag_or_env = [&](const std::string& flag, const char* env) -> absl::StatusOr<std::string> {
    if (args->Has(flag)) return args->Require(flag);
    const char* value = std::getenv(env);
    if (value == nullptr || *value == '\0') {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required (or set ", env, ")"));
    }
    if (std::string_view(value).size() > kMaxArgBytes) {
      return absl::InvalidArgumentError(absl::StrCat(env, " (the default for --", flag, ") is longer than ",
                                                     kMaxArgBytes, " bytes"));
    }
    return std::string(value);
  };
  auto read_pem = [&](const std::string& flag, const char* env) -> absl::StatusOr<std::string> {
    auto path = flag_or_env(flag, env);
    if (!path.ok()) return path.status();
    if (*path == "-") return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be a file, not '-'"));
    auto pem = ReadFileBounded(*path, kMaxPemFileBytes);
    if (!pem.ok()) {
      return absl::Status(pem.status().code(), absl::StrCat("--", flag, ": cannot read ", pem.status().message()));
    }
    return pem;
  };

  auto server = flag_or_env("server", "SIGNET_SERVER");
  if (!server.ok()) return server.status();
  auto signer = args->Require("signer");
  if (!signer.ok()) return signer.status();
  if (args->Has("input") == args->Has("hash-hex")) {
    return absl::InvalidArgumentError("give exactly one of --input FILE|- and --hash-hex HEX");
  }
  const std::string output = args->Get("output").value_or("header");
  if (output != "header" && output != "signature" && output != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output must be header, signature or json, got '", output, "'"));
  }
  absl::Duration timeout = absl::Seconds(10);
  if (auto v = args->Get("timeout")) {
    if (!absl::ParseDuration(*v, &timeout) || timeout <= absl::ZeroDuration() || timeout > absl::Hours(1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--timeout must be a duration from 1ms to 1h such as 10s or 500ms, got '", *v, "'"));
    }
  }
  std::string request_id;
  if (args->Has("request-id")) {
    auto id = args->Require("request-id");
    if (!id.ok()) return id.status();
    request_id = *id;
  } else {
    // Chosen here rather than by the server, so the caller can always name the audit line.
    uint8_t id[16];
    if (RAND_bytes(id, sizeof(id)) != 1) return absl::InternalError("RAND_bytes failed");
    request_id = HexEncode(id);
  }

  // Local input first: a bad file should not cost a TLS handshake.
  std::string input;
  std::vector<uint8_t> digest;
  if (args->Has("input")) {
    auto path = args->Require("input");
    if (!path.ok()) return path.status();
    auto data = ReadFileBounded(*path, kMaxSignInputBytes);
    if (!data.ok()) return absl::Status(data.status().code(), absl::StrCat("--input: ", data.status().message()));
    input = *std::move(data);
  } else {
    auto hex = args->Require("hash-hex");
    if (!hex.ok()) return hex.status();
    auto decoded = HexDecode(*hex);
    if (!decoded.ok()) return absl::InvalidArgumentError(absl::StrCat("--hash-hex: ", decoded.status().message()));
    digest = *std::move(decoded);
  }

  SignClientOptions options;
  options.server = *server;
  options.timeout = timeout;
  auto ca = read_pem("ca-file", "SIGNET_CA_FILE");
  if (!ca.ok()) return ca.status();
  auto cert = read_pem("cert-file", "SIGNET_CERT_FILE");
  if (!cert.ok()) return cert.status();
  auto key = read_pem("key-file", "SIGNET_KEY_FILE");
  if (!key.ok()) return key.status();
  options.ca_pem = *std::move(ca);
  options.cert_pem = *std::move(cert);
  options.key_pem = *std::move(key);
  // gRPC core logs a failed handshake itself; the status below says it once, so its log goes to
  // spdlog's debug level (shown with --verbose).
  gpr_set_log_function([](gpr_log_func_args* a) { spdlog::debug("grpc {}:{}: {}", a->file, a->line, a->message); });
  auto client = SignClient::Connect(options);
  if (!client.ok()) return client.status();

  auto result = args->Has("input") ? (*client)->SignData(*signer, input, request_id)
                                   : (*client)->SignHash(*signer, digest, request_id);
  if (!result.ok()) {
    const absl::Status& st = result.status();
    std::string message = absl::StrCat(absl::StatusCodeToString(st.code()), ": ", st.message());
    if (st.code() == absl::StatusCode::kUnavailable && IsConnectionFailure(st)) {
      absl::StrAppend(&message, " (is the server reachable and are --ca-file/--cert-file/--key-file right?)");
    }
    return absl::Status(st.code(), message);
  }
  if (args->Has("x5u-only") && result->x5u().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--x5u-only: signer '", *signer, "' signed without an x5u URL; nothing was printed"));
  }

  if (output == "header") {
    std::cout << result->content_signature() << "\n";
  } else if (output == "signature") {
    std::cout << result->signature() << "\n";
  } else {
    auto json = [](const std::string& v) {
      std::string out = "\"";
      for (unsigned char c : v) {
        if (c == '"' || c == '\\') {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
      }
      return out + "\"";
    };
    std::cout << "{\"signature\":" << json(result->signature()) << ",\"x5u\":" << json(result->x5u())
              << ",\"key_id\":" << json(result->key_id())
              << ",\"content_signature\":" << json(result->content_signature())
              << ",\"request_id\":" << json(request_id) << "}\n";
  }
  std::cout.flush();
  if (!std::cout) return absl::InternalError("writing the output failed");
  return absl::OkStatus();
}

absl::Status CeremonyRun(const std::vector<std::string>& argv) {
  auto args = CliArgs::Parse(argv, FlagSpec{});
  if (!args.ok()) return args.status();
  if (args->positionals().size() != 1) {
    return absl::InvalidArgumentError("usage: signet ceremony run FILE.yaml");
  }
  const std::string path = args->positionals().front();
  auto text = ReadFileBounded(path, kMaxCeremonyScriptBytes);
  if (!text.ok()) return text.status();
  const size_t slash = path.rfind('/');
  const std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  auto script = ParseCeremonyScript(*text, path, base_dir);
  if (!script.ok()) return script.status();
  CeremonyOptions options;
  // Prompts go to stderr so that stdout carries the transcript alone.
  options.pin_prompt = [](const std::string& what) { return PromptPinFromShares(what, STDIN_FILENO, STDERR_FILENO); };
  options.out = &std::cout;
  auto result = RunCeremony(*script, options);
  if (!result.ok()) return result.status();
  std::cout << "\nceremony '" << script->name << "' complete; outputs:\n";
  for (const std::string& out : result->outputs) std::cout << "  " << out << "\n";
  if (script->type == CeremonyType::kRoot) {
    std::cout << "root_sha256 (the pin verifiers and signetd use): " << result->certificate_sha256 << "\n";
  } else if (!result->certificate_sha256.empty()) {
    std::cout << "certificate SHA-256: " << result->certificate_sha256 << "\n";
  }
  return absl::OkStatus();
}

absl::Status CeremonySplitPin(const std::vector<std::string>& argv) {
  FlagSpec spec{{"shares", "threshold", "pin-file", "pin-env", "out-dir"}, {}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  int counts[2] = {0, 0};
  const char* names[2] = {"shares", "threshold"};
  for (int i = 0; i < 2; ++i) {
    auto v = args->Require(names[i]);
    if (!v.ok()) return v.status();
    if (!absl::SimpleAtoi(*v, &counts[i])) {
      return absl::InvalidArgumentError(absl::StrCat("--", names[i], " must be a whole number, got '", *v, "'"));
    }
  }
  auto pin = ReadPin(*args);
  if (!pin.ok()) return pin.status();
  auto shares = SplitPin(*pin, counts[0], counts[1]);
  if (!shares.ok()) return shares.status();
  auto dir = args->Get("out-dir");
  if (!dir) {
    std::cerr << "WARNING: all " << counts[0] << " shares are printed below: whoever sees this output holds the "
              << "whole PIN. Use --out-dir to hand each officer only their own share.\n";
    for (size_t i = 0; i < shares->size(); ++i) std::cout << "officer " << i + 1 << ": " << (*shares)[i].reveal() << "\n";
    return absl::OkStatus();
  }
  std::vector<std::string> written;
  for (size_t i = 0; i < shares->size(); ++i) {
    const std::string path = absl::StrCat(*dir, "/share-", i + 1, ".txt");
    std::string line = absl::StrCat(Av((*shares)[i].reveal()), "\n");
    absl::Status s = WriteNewFile(path, line, 0600);
    OPENSSL_cleanse(line.data(), line.size());
    if (!s.ok()) {
      for (const std::string& w : written) ::unlink(w.c_str());
      return s;
    }
    written.push_back(path);
  }
  std::cout << "split the PIN into " << counts[0] << " shares, any " << counts[1] << " of which recover it:\n";
  for (const std::string& w : written) std::cout << "  " << w << "  (mode 0600; give it to one officer)\n";
  return absl::OkStatus();
}

absl::Status Rotate(const std::vector<std::string>& argv) {
  FlagSpec spec{{"config", "signer"}, {"force"}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto path = args->Require("config");
  if (!path.ok()) return path.status();
  auto config = daemon::Config::Load(*path);
  if (!config.ok()) return config.status();
  auto only = args->Get("signer");
  std::vector<const daemon::SignerConfig*> signers;
  for (const auto& c : config->signers) {
    if (c.pki && (!only || c.id == *only)) signers.push_back(&c);
  }
  if (signers.empty()) {
    return absl::InvalidArgumentError(only ? absl::StrCat("--signer: no contentsignaturepki signer '", *only, "' in ",
                                                          *path)
                                           : absl::StrCat(*path, " has no contentsignaturepki signer"));
  }
  auto pin = config->hsm.pin_file ? ReadSecretFile(*config->hsm.pin_file) : ReadSecretEnv(*config->hsm.pin_env);
  if (!pin.ok()) return pin.status();
  auto hsm = ConnectToken(config->hsm.module, config->hsm.token, *std::move(pin));
  if (!hsm.ok()) return hsm.status();
  absl::Status first_error;
  for (const daemon::SignerConfig* c : signers) {
    auto rotator = daemon::MakeRotator(*c, hsm->pool);
    absl::StatusOr<RotationOutcome> outcome =
        rotator.ok() ? (*rotator)->RotateIfDue(absl::Now(), args->Has("force")) : rotator.status();
    if (!outcome.ok()) {
      std::cerr << "signet: rotate: signer '" << c->id << "': FAILED: " << outcome.status().message() << "\n";
      if (first_error.ok()) first_error = outcome.status();
      continue;
    }
    std::cout << "signer '" << c->id << "': " << (outcome->rotated ? "rotated" : "not rotated") << " ("
              << outcome->reason << ")";
    if (outcome->rotated) {
      std::cout << "; new key '" << outcome->label << "' id " << outcome->key_id_hex << ", valid until "
                << Rfc3339(outcome->not_after) << ", x5u " << outcome->x5u;
    }
    if (outcome->pruned > 0) std::cout << "; pruned " << outcome->pruned << " expired key(s)";
    std::cout << "\n";
  }
  if (!first_error.ok()) {
    return absl::Status(first_error.code(), "one or more signers failed to rotate; their current keys keep serving");
  }
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  // PINs, shares and dev-PKI keys pass through this process: no core file, not dumpable.
  if (auto s = DisableCoreDumps(); !s.ok()) {
    std::cerr << "signet: cannot disable core dumps: " << s.message() << "\n";
    return 1;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  bool verbose = false;
  std::erase_if(args, [&](const std::string& a) { return a == "--verbose" ? (verbose = true) : false; });
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string cmd = args[0];
  size_t skip = 1;
  if ((cmd == "token" || cmd == "key" || cmd == "ceremony") && args.size() > 1) {
    cmd += " " + args[1];
    skip = 2;
  }
  std::vector<std::string> rest(args.begin() + skip, args.end());
  absl::Status s;
  if (cmd == "token init") {
    s = TokenInit(rest);
  } else if (cmd == "token list") {
    s = TokenList(rest);
  } else if (cmd == "key generate") {
    s = KeyGenerate(rest);
  } else if (cmd == "key list") {
    s = KeyList(rest);
  } else if (cmd == "local-sign") {
    s = LocalSign(rest);
  } else if (cmd == "verify") {
    s = Verify(rest);
  } else if (cmd == "ceremony run") {
    s = CeremonyRun(rest);
  } else if (cmd == "ceremony split-pin") {
    s = CeremonySplitPin(rest);
  } else if (cmd == "rotate") {
    s = Rotate(rest);
  } else if (cmd == "dev-pki") {
    s = DevPki(rest);
  } else if (cmd == "sign") {
    s = Sign(rest);
  } else if (cmd == "version") {
    std::cout << "signet " << SIGNET_VERSION << "\n";
    return 0;
  } else {
    std::cerr << "signet: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  }
  if (!s.ok()) {
    std::cerr << "signet: " << cmd << ": " << s.message() << "\n";
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace
}  // namespace signet::keymgmt

int main(int argc, char** argv) { return signet::keymgmt::Run(argc, argv); }
