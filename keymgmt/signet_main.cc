// signet: the operator's command line. Commands in this foundation release:
//   token init | token list | key generate | key list | local-sign | verify | version
// Ceremonies, rotation, publication and the daemon client arrive with their issues.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/ec_curve.h"
#include "common/files.h"
#include "common/hex.h"
#include "keymgmt/cli_args.h"
#include "keymgmt/hsm_connection.h"
#include "keymgmt/hsm_signer.h"
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
