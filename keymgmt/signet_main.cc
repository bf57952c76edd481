// signet: the operator's command line. Commands in this foundation release:
//   token init | token list | key generate | key list | local-sign | verify | version
// Ceremonies, rotation, publication and the daemon client arrive with their issues.
#include <grpc/support/log.h>
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
#include "common/hex.h"
#include "keymgmt/cli_args.h"
#include "keymgmt/dev_pki.h"
#include "keymgmt/hsm_connection.h"
#include "keymgmt/hsm_signer.h"
#include "keymgmt/sign_client.h"
#include "pkcs11/key.h"
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
  verify       --input FILE|- --signature SIG|HEADER --public-key PEMFILE
               verify a Content-Signature with a public key
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

absl::Status Verify(const std::vector<std::string>& argv) {
  FlagSpec spec{{"input", "signature", "public-key"}, {}};
  auto args = CliArgs::Parse(argv, spec);
  if (!args.ok()) return args.status();
  auto input_path = args->Require("input");
  if (!input_path.ok()) return input_path.status();
  auto sig_arg = args->Require("signature");
  if (!sig_arg.ok()) return sig_arg.status();
  auto key_path = args->Require("public-key");
  if (!key_path.ok()) return key_path.status();
  if (sig_arg->size() > kMaxSignatureArgBytes) return absl::InvalidArgumentError("--signature is too long");
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

int Run(int argc, char** argv) {
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
  if ((cmd == "token" || cmd == "key") && args.size() > 1) {
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
