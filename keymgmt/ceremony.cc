#include "keymgmt/ceremony.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "common/files.h"
#include "common/hex.h"
#include "common/openssl_error.h"
#include "common/sha256.h"
#include "common/strict_yaml.h"
#include "common/time_text.h"
#include "keymgmt/hsm_connection.h"
#include "keymgmt/x509_builder.h"
#include "pkcs11/error.h"
#include "pkcs11/hsm_key.h"
#include "pkcs11/key.h"
#include "pkcs11/openssl_bridge.h"
#include "pkcs11/uri.h"
#include "signing/chain.h"
#include "signing/keys.h"

namespace signet::keymgmt {
namespace {

using yaml::Fields;
using yaml::Presence;

constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxTokenBytes = 1024;
constexpr size_t kMaxRootCertBytes = 64 * 1024;
constexpr absl::Duration kMinValidity = absl::Hours(1);
constexpr absl::Duration kMaxValidity = absl::Hours(24 * 366 * 30);

const char* TypeName(CeremonyType t) {
  switch (t) {
    case CeremonyType::kRoot:
      return "root";
    case CeremonyType::kIntermediate:
      return "intermediate";
    case CeremonyType::kKey:
      return "key";
  }
  return "?";
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, base_dir.back() == '/' ? "" : "/", path);
}

// ---- script parsing --------------------------------------------------------------------------------

class ScriptParser : public yaml::StrictReader {
 public:
  ScriptParser(absl::string_view origin, std::string base_dir)
      : StrictReader(origin), base_dir_(std::move(base_dir)) {}

  absl::StatusOr<CeremonyScript> Run(absl::string_view text) const {
    auto root = LoadDocument(text, kMaxCeremonyScriptBytes, "ceremony script");
    if (!root.ok()) return root.status();
    if (!root->IsMap()) return Err(yaml::kTopLevel, "expected a mapping, got ", yaml::Kind(*root));
    auto top =
        Map(*root, std::string(yaml::kTopLevel),
            {"ceremony", "name", "output_dir", "token", "key", "certificate", "root"}, /*null_ok=*/false);
    if (!top.ok()) return top.status();

    CeremonyScript script;
    std::string type;
    if (auto s = Enum(*top, "ceremony", {"root", "intermediate", "key"}, &type); !s.ok()) return s;
    if (type.empty()) return Err(top->PathOf("ceremony"), "required: root, intermediate or key");
    script.type = type == "root"           ? CeremonyType::kRoot
                  : type == "intermediate" ? CeremonyType::kIntermediate
                                           : CeremonyType::kKey;
    if (auto s = Label(*top, "name", &script.name); !s.ok()) return s;
    std::string out_dir;
    if (auto s = String(*top, "output_dir", Presence::kRequired, 1, kMaxPathBytes, &out_dir); !s.ok())
      return s;
    script.output_dir = Resolve(base_dir_, out_dir);
    if (auto s = Token(*top, "token", &script.token); !s.ok()) return s;
    if (auto s = Key(*top, &script.key); !s.ok()) return s;

    const bool has_cert = top->Find("certificate") != nullptr;
    const bool has_root = top->Find("root") != nullptr;
    if (script.type == CeremonyType::kKey && has_cert) {
      return Err(top->PathOf("certificate"),
                 "not used by a key ceremony (it issues no certificate); remove it");
    }
    if (script.type != CeremonyType::kIntermediate && has_root) {
      return Err(top->PathOf("root"), "only an intermediate ceremony uses the root; remove it");
    }
    if (script.type != CeremonyType::kKey) {
      if (!has_cert) return Err(top->PathOf("certificate"), "required for a ", type, " ceremony");
      if (auto s = Certificate(*top->Find("certificate"), top->PathOf("certificate"), script.type,
                               &script.certificate);
          !s.ok()) {
        return s;
      }
    }
    if (script.type == CeremonyType::kIntermediate) {
      if (!has_root) return Err(top->PathOf("root"), "required for an intermediate ceremony");
      auto r = Map(*top->Find("root"), top->PathOf("root"), {"token", "key_label", "certificate"}, false);
      if (!r.ok()) return r.status();
      if (auto s = Token(*r, "token", &script.root_token); !s.ok()) return s;
      if (auto s = Label(*r, "key_label", &script.root_key_label); !s.ok()) return s;
      std::string cert;
      if (auto s = String(*r, "certificate", Presence::kRequired, 1, kMaxPathBytes, &cert); !s.ok()) return s;
      script.root_certificate = Resolve(base_dir_, cert);
    }
    script.script_sha256 = Sha256Hex(Sv(text));
    return script;
  }

 private:
  // Key labels and ceremony names also name files: [A-Za-z0-9._-], not starting with '.'.
  absl::Status Label(const Fields& f, absl::string_view key, std::string* out) const {
    auto v = Scalar(f, key, Presence::kRequired);
    if (!v.ok()) return v.status();
    const std::string& s = **v;
    if (s.empty() || s.size() > kMaxCeremonyLabelBytes || s.front() == '.' || !yaml::AllIdChars(s)) {
      return Err(f.PathOf(key), "must be 1..", kMaxCeremonyLabelBytes,
                 " bytes of [A-Za-z0-9._-], not starting with '.' (it names files), got ", yaml::Shown(s));
    }
    *out = s;
    return absl::OkStatus();
  }

  absl::Status Token(const Fields& parent, absl::string_view key, CeremonyToken* out) const {
    const YAML::Node* node = parent.Find(key);
    if (node == nullptr) return Err(parent.PathOf(key), "required");
    auto f = Map(*node, parent.PathOf(key), {"token", "module"}, false);
    if (!f.ok()) return f.status();
    if (auto s = String(*f, "token", Presence::kRequired, 1, kMaxTokenBytes, &out->token); !s.ok()) return s;
    if (auto sel = pkcs11::ParseTokenSelector(out->token); !sel.ok()) {
      return Err(f->PathOf("token"), sel.status().message());
    } else if (sel->pin_source) {
      return Err(f->PathOf("token"),
                 "must not carry a pin-source: ceremony PINs come only from officers' shares");
    } else {
      out->module = sel->module_path.value_or(DefaultModulePath());
    }
    return String(*f, "module", Presence::kOptional, 1, kMaxPathBytes, &out->module);
  }

  absl::Status Key(const Fields& top, CeremonyKey* out) const {
    const YAML::Node* node = top.Find("key");
    if (node == nullptr) return Err(top.PathOf("key"), "required");
    auto f = Map(*node, top.PathOf("key"), {"label", "curve"}, false);
    if (!f.ok()) return f.status();
    if (auto s = Label(*f, "label", &out->label); !s.ok()) return s;
    std::string curve;
    if (auto s = Enum(*f, "curve", {"P-256", "P-384", "P-521"}, &curve); !s.ok()) return s;
    if (!curve.empty()) out->curve = *EcCurveFromName(curve);
    return absl::OkStatus();
  }

  absl::Status Certificate(const YAML::Node& node, const std::string& path, CeremonyType type,
                           CeremonyCertificate* out) const {
    auto f = Map(node, path, {"subject", "not_before", "validity", "permitted_dns_subtree"}, false);
    if (!f.ok()) return f.status();
    const YAML::Node* subject = f->Find("subject");
    if (subject == nullptr) return Err(f->PathOf("subject"), "required");
    auto sf = Map(*subject, f->PathOf("subject"),
                  {"common_name", "organization", "organizational_unit", "country"}, false);
    if (!sf.ok()) return sf.status();
    DistinguishedName& dn = out->subject;
    if (auto s = String(*sf, "common_name", Presence::kRequired, 1, kMaxDnFieldBytes, &dn.common_name);
        !s.ok()) {
      return s;
    }
    if (auto s = String(*sf, "organization", Presence::kOptional, 1, kMaxDnFieldBytes, &dn.organization);
        !s.ok()) {
      return s;
    }
    if (auto s = String(*sf, "organizational_unit", Presence::kOptional, 1, kMaxDnFieldBytes,
                        &dn.organizational_unit);
        !s.ok()) {
      return s;
    }
    if (auto s = String(*sf, "country", Presence::kOptional, 2, 2, &dn.country); !s.ok()) return s;
    if (auto name = BuildName(dn, sf->path); !name.ok()) return Err(sf->path, name.status().message());

    auto nb = Scalar(*f, "not_before", Presence::kOptional);
    if (!nb.ok()) return nb.status();
    if (nb->has_value()) {
      absl::Time t;
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, **nb, &t, &err)) {
        return Err(f->PathOf("not_before"), "must be an RFC 3339 time such as \"2026-11-23T00:00:00Z\", got ",
                   yaml::Shown(**nb));
      }
      out->not_before = t;
    }
    if (f->Find("validity") == nullptr)
      return Err(f->PathOf("validity"), "required, e.g. \"87600h\" (10 years)");
    if (auto s = Duration(*f, "validity", kMinValidity, kMaxValidity, &out->validity); !s.ok()) return s;

    const bool has_subtree = f->Find("permitted_dns_subtree") != nullptr;
    if (type == CeremonyType::kIntermediate) {
      if (!has_subtree) {
        return Err(f->PathOf("permitted_dns_subtree"),
                   "required: the DNS subtree end entities may use, e.g. \".content-signature.example.org\"");
      }
      if (auto s =
              String(*f, "permitted_dns_subtree", Presence::kRequired, 2, 253, &out->permitted_dns_subtree);
          !s.ok()) {
        return s;
      }
      if (auto s = ValidatePermittedSubtree(out->permitted_dns_subtree); !s.ok()) {
        return Err(f->PathOf("permitted_dns_subtree"), s.message());
      }
    } else if (has_subtree) {
      return Err(f->PathOf("permitted_dns_subtree"),
                 "only an intermediate carries name constraints; remove it");
    }
    return absl::OkStatus();
  }

  std::string base_dir_;
};

// ---- running -------------------------------------------------------------------------------------

class Transcript {
 public:
  Transcript(const CeremonyScript& script, std::function<absl::Time()> now, std::ostream* out)
      : now_(std::move(now)), out_(out) {
    char host[256] = {0};
    if (::gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "unknown");
    Line(absl::StrCat("Signet key ceremony transcript"));
    Line(absl::StrCat("ceremony: ", TypeName(script.type)));
    Line(absl::StrCat("name:     ", script.name));
    Line(absl::StrCat("script:   sha256 ", script.script_sha256));
    Line(absl::StrCat("host:     ", host));
    Line(absl::StrCat("started:  ", Rfc3339(now_())));
    Line("");
  }

  void Step(const std::string& text) { Line(absl::StrCat(Rfc3339(now_()), "  step ", ++step_, ": ", text)); }

  std::string Finish(const absl::Status& result) {
    Line("");
    Line(result.ok() ? std::string("result:   OK") : absl::StrCat("result:   FAILED: ", result.message()));
    Line(absl::StrCat("finished: ", Rfc3339(now_())));
    Line("");
    Line("Sign-off: each officer checks the steps above against the script, then signs.");
    Line("officer: ______________________  signature: ______________________  date: __________");
    Line("officer: ______________________  signature: ______________________  date: __________");
    return text_;
  }

 private:
  void Line(const std::string& line) {
    absl::StrAppend(&text_, line, "\n");
    if (out_ != nullptr) *out_ << line << "\n" << std::flush;
  }

  std::function<absl::Time()> now_;
  std::ostream* out_;
  std::string text_;
  int step_ = 0;
};

std::string DescribeToken(const pkcs11::TokenInfo& t) {
  return absl::StrCat("token '", t.label, "' (serial ", t.serial, ", slot ", t.slot, ", ", t.manufacturer,
                      " ", t.model, ")");
}

std::string Summary(const X509* cert) {
  char subject[512];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  OpenSslCharsPtr hex(bn ? BN_bn2hex(bn.get()) : nullptr);
  return absl::StrCat("subject ", subject, ", serial ", hex ? hex.get() : "?");
}

absl::Status EnsureDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return absl::OkStatus();
  if (errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("output_dir ", dir, ": cannot create: ", std::strerror(errno)));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("output_dir ", dir, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return absl::StrCat(dir, !dir.empty() && dir.back() == '/' ? "" : "/", name);
}

class CeremonyRun {
 public:
  CeremonyRun(const CeremonyScript& script, const CeremonyOptions& options)
      : script_(script),
        options_(options),
        transcript_(script, options.now, options.out),
        start_(options.now()) {}

  absl::StatusOr<CeremonyResult> Run() {
    absl::Status status = Steps();
    if (!status.ok() && !new_key_id_.empty()) {
      // Nothing of a failed ceremony stays on the token: the label is free for the next attempt.
      absl::Status cleanup =
          key_conn_.pool->Run([&](pkcs11::Session& s) { return pkcs11::DestroyKeyObjects(s, new_key_id_); });
      transcript_.Step(cleanup.ok()
                           ? absl::StrCat("destroyed the new key '", script_.key.label, "' after the failure")
                           : absl::StrCat("could NOT destroy the new key '", script_.key.label,
                                          "' after the failure: ", cleanup.message(),
                                          "; destroy it by hand before reusing the label"));
    }
    if (status.ok()) {
      status = WriteTranscript(CeremonyOutputNames(script_).back(), transcript_.Finish(status));
      if (status.ok()) return std::move(result_);
      return status;
    }
    // A failed attempt keeps its transcript for the audit trail, under a name that does not block a retry.
    std::string text = transcript_.Finish(status);
    const std::string name =
        absl::StrCat(script_.name, ".failed-",
                     absl::FormatTime("%Y%m%dT%H%M%SZ", start_, absl::UTCTimeZone()), ".transcript.txt");
    if (::access(script_.output_dir.c_str(), F_OK) == 0) {
      (void)WriteNewFile(JoinPath(script_.output_dir, name), text, 0644);
    }
    return status;
  }

 private:
  absl::Status WriteTranscript(const std::string& name, const std::string& text) {
    const std::string path = JoinPath(script_.output_dir, name);
    if (auto s = WriteNewFile(path, text, 0644); !s.ok()) return s;
    result_.outputs.push_back(path);
    result_.transcript = text;
    return absl::OkStatus();
  }

  absl::Status WriteOutput(const std::string& name, const std::string& contents) {
    const std::string path = JoinPath(script_.output_dir, name);
    if (auto s = WriteNewFile(path, contents, 0644); !s.ok()) return s;
    result_.outputs.push_back(path);
    transcript_.Step(absl::StrCat("wrote ", path, " (sha256 ", Sha256Hex(contents), ")"));
    return absl::OkStatus();
  }

  absl::Status Preflight() {
    std::vector<std::string> existing;
    for (const std::string& name : CeremonyOutputNames(script_)) {
      const std::string path = JoinPath(script_.output_dir, name);
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0) existing.push_back(path);
    }
    if (!existing.empty()) {
      return absl::AlreadyExistsError(absl::StrCat(
          absl::StrJoin(existing, ", "), " already exist(s); a ceremony never overwrites its outputs"));
    }
    if (auto s = EnsureDirectory(script_.output_dir); !s.ok()) return s;
    transcript_.Step(absl::StrCat("preflight: outputs ", absl::StrJoin(CeremonyOutputNames(script_), ", "),
                                  " in ", script_.output_dir, " do not exist yet"));
    return absl::OkStatus();
  }

  // Logs in to `token` and keeps the connection in *conn for the rest of the run.
  absl::Status Login(const CeremonyToken& token, const std::string& role, HsmConnection* out) {
    if (!options_.pin_prompt)
      return absl::FailedPreconditionError("no way to ask the officers for PIN shares");
    const std::string what = absl::StrCat(role, " token '", token.token, "'");
    auto pin = options_.pin_prompt(what);
    if (!pin.ok()) return pkcs11::WithContext(pin.status(), what);
    transcript_.Step(absl::StrCat("PIN for the ", what, " combined from officers' shares (two-person rule)"));
    auto conn = ConnectToken(token.module, token.token, *std::move(pin));
    if (!conn.ok()) {
      // CKR_PIN_INCORRECT from C_Login, or a PIN that differs from the one this process already logged
      // in with: either way the shares combined to the wrong PIN.
      const absl::StatusCode code = conn.status().code();
      if (code == absl::StatusCode::kUnauthenticated || code == absl::StatusCode::kPermissionDenied) {
        return absl::PermissionDeniedError(absl::StrCat(
            what,
            ": the token rejected the PIN the shares combine to: a share is wrong or from another PIN (",
            conn.status().message(), ")"));
      }
      return pkcs11::WithContext(conn.status(), what);
    }
    transcript_.Step(absl::StrCat("logged in to the ", role, " ", DescribeToken(conn->token->info()),
                                  " with module ", token.module));
    *out = *std::move(conn);
    return absl::OkStatus();
  }

  // Generates this ceremony's key on key_conn_.
  absl::StatusOr<std::shared_ptr<pkcs11::HsmKey>> GenerateKey() {
    HsmConnection& conn = key_conn_;
    auto info = conn.pool->Run(
        [&](pkcs11::Session& s) { return pkcs11::GenerateEcKey(s, script_.key.curve, script_.key.label); });
    if (!info.ok())
      return pkcs11::WithContext(info.status(), absl::StrCat("key label '", script_.key.label, "'"));
    new_key_id_ = info->id;
    result_.key_id_hex = HexEncode(info->id);
    auto protection =
        conn.pool->Run([&](pkcs11::Session& s) { return pkcs11::GetPrivateKeyProtection(s, info->id); });
    if (!protection.ok()) return protection.status();
    if (!protection->sensitive || protection->extractable) {
      return absl::InternalError("the token reports the new private key as extractable or not sensitive");
    }
    transcript_.Step(absl::StrCat("generated ", Av(GetEcCurveInfo(info->curve).name), " key label '",
                                  info->label, "' id ", result_.key_id_hex, " on ",
                                  DescribeToken(conn.token->info()),
                                  " (CKA_SENSITIVE=true, CKA_EXTRACTABLE=false)"));
    auto key = pkcs11::HsmKey::Load(conn.pool, pkcs11::KeyQuery{.id = info->id});
    if (!key.ok()) return key.status();
    transcript_.Step("checked that the new key signs and that its public key object matches it");
    return key;
  }

  absl::Time NotBefore() const { return script_.certificate.not_before.value_or(start_); }

  absl::Status Steps() {
    if (auto s = Preflight(); !s.ok()) return s;
    switch (script_.type) {
      case CeremonyType::kRoot:
        return RootSteps();
      case CeremonyType::kIntermediate:
        return IntermediateSteps();
      case CeremonyType::kKey:
        return KeySteps();
    }
    return absl::InternalError("unknown ceremony type");
  }

  absl::Status RootSteps() {
    if (auto s = Login(script_.token, "root (offline)", &key_conn_); !s.ok()) return s;
    auto key = GenerateKey();
    if (!key.ok()) return key.status();
    auto bridge = pkcs11::HsmKeyToEvpPkey(*key);
    if (!bridge.ok()) return bridge.status();
    const absl::Time nb = NotBefore();
    auto cert = IssueRootCertificate(
        bridge->get(), (*key)->public_key(),
        RootCertSpec{script_.certificate.subject, nb, nb + script_.certificate.validity});
    if (!cert.ok()) return cert.status();
    return FinishCertificate(cert->get(), (*key)->public_key(), nullptr, "root");
  }

  absl::Status IntermediateSteps() {
    auto root_pem = ReadFileBounded(script_.root_certificate, kMaxRootCertBytes);
    if (!root_pem.ok()) return pkcs11::WithContext(root_pem.status(), "root.certificate");
    auto parsed =
        ParseOnePemCertificate(*root_pem, absl::StrCat("root.certificate: ", script_.root_certificate));
    if (!parsed.ok()) return parsed.status();
    X509Ptr root = *std::move(parsed);
    if (X509_check_ca(root.get()) != 1 || X509_verify(root.get(), X509_get0_pubkey(root.get())) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("root.certificate: ", script_.root_certificate,
                                                     " is not a self-signed CA certificate"));
    }
    transcript_.Step(absl::StrCat("read the root certificate ", script_.root_certificate, " (",
                                  Summary(root.get()), ", SHA-256 ",
                                  signing::CertSha256Fingerprint(root.get()), ")"));

    if (auto s = Login(script_.root_token, "root (offline)", &root_conn_); !s.ok()) return s;
    auto root_key = pkcs11::HsmKey::Load(root_conn_.pool, pkcs11::KeyQuery{.label = script_.root_key_label});
    if (!root_key.ok()) return pkcs11::WithContext(root_key.status(), "root.key_label");
    if (EVP_PKEY_eq((*root_key)->public_key(), X509_get0_pubkey(root.get())) != 1) {
      return absl::FailedPreconditionError(absl::StrCat("root.key_label '", script_.root_key_label,
                                                        "' is not the key of root.certificate ",
                                                        script_.root_certificate));
    }
    transcript_.Step(absl::StrCat("found the root key label '", script_.root_key_label, "' id ",
                                  HexEncode((*root_key)->info().id), "; it matches the root certificate"));

    if (auto s = Login(script_.token, "intermediate (online)", &key_conn_); !s.ok()) return s;
    if (key_conn_.token->module() == root_conn_.token->module() &&
        key_conn_.token->info().slot == root_conn_.token->info().slot) {
      return absl::FailedPreconditionError(
          "token and root.token are the same token: the online token must never hold the root key");
    }
    auto key = GenerateKey();
    if (!key.ok()) return key.status();
    auto bridge = pkcs11::HsmKeyToEvpPkey(*root_key);
    if (!bridge.ok()) return bridge.status();
    // Not before the root itself (a verifier checks each certificate's window on its own, but an
    // intermediate that predates its issuer is a mistake worth refusing).
    absl::Time nb = NotBefore();
    if (!script_.certificate.not_before) nb = std::max(nb, CertTime(X509_get0_notBefore(root.get())));
    auto cert = IssueIntermediateCertificate(
        root.get(), bridge->get(), (*key)->public_key(),
        IntermediateCertSpec{script_.certificate.subject, script_.certificate.permitted_dns_subtree, nb,
                             nb + script_.certificate.validity});
    if (!cert.ok()) return cert.status();
    return FinishCertificate(cert->get(), (*key)->public_key(), root.get(), "intermediate");
  }

  absl::Status KeySteps() {
    if (auto s = Login(script_.token, "signing (online)", &key_conn_); !s.ok()) return s;
    auto key = GenerateKey();
    if (!key.ok()) return key.status();
    auto pem = signing::PublicKeyPem((*key)->public_key());
    if (!pem.ok()) return pem.status();
    return WriteOutput(CeremonyOutputNames(script_).front(), *pem);
  }

  // Verifies what was issued, then writes it.
  absl::Status FinishCertificate(X509* cert, const EVP_PKEY* subject_key, X509* issuer, const char* what) {
    if (EVP_PKEY_eq(X509_get0_pubkey(cert), subject_key) != 1) {
      return absl::InternalError(absl::StrCat("the ", what, " certificate does not carry the new key"));
    }
    if (X509_check_ca(cert) != 1)
      return absl::InternalError(absl::StrCat("the ", what, " certificate is not a CA"));
    X509* anchor = issuer != nullptr ? issuer : cert;
    X509StorePtr store(X509_STORE_new());
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    CheckOpenSsl(store && ctx && X509_STORE_add_cert(store.get(), anchor) == 1, "X509_STORE setup");
    CheckOpenSsl(X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) == 1, "X509_STORE_CTX_init");
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
    const absl::Time not_before = CertTime(X509_get0_notBefore(cert));
    X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(not_before) + 1);
    if (X509_verify_cert(ctx.get()) != 1) {
      const int err = X509_STORE_CTX_get_error(ctx.get());
      ERR_clear_error();
      return absl::InternalError(absl::StrCat(
          "the new ", what, " certificate does not verify: ", X509_verify_cert_error_string(err)));
    }
    result_.certificate_sha256 = signing::CertSha256Fingerprint(cert);
    transcript_.Step(absl::StrCat("issued the ", what, " certificate: ", Summary(cert), ", valid ",
                                  Rfc3339(not_before), " .. ", Rfc3339(CertTime(X509_get0_notAfter(cert))),
                                  ", SHA-256 ", result_.certificate_sha256));
    transcript_.Step(absl::StrCat("verified the ", what, " certificate: signature, CA, and path to ",
                                  issuer != nullptr ? "the root" : "itself", " (X.509 strict)"));
    return WriteOutput(CeremonyOutputNames(script_).front(), CertPem(cert));
  }

  const CeremonyScript& script_;
  const CeremonyOptions& options_;
  Transcript transcript_;
  const absl::Time start_;
  CeremonyResult result_;
  HsmConnection root_conn_;          // intermediate ceremony: the offline token
  HsmConnection key_conn_;           // the token this ceremony's key is generated on
  std::vector<uint8_t> new_key_id_;  // set once the key exists, so a failure can remove it
};

}  // namespace

std::vector<std::string> CeremonyOutputNames(const CeremonyScript& script) {
  std::string first = script.type == CeremonyType::kKey ? absl::StrCat(script.key.label, ".pub.pem")
                                                        : absl::StrCat(script.key.label, ".crt.pem");
  return {first, absl::StrCat(script.name, ".transcript.txt")};
}

absl::StatusOr<CeremonyScript> ParseCeremonyScript(std::string_view yaml, std::string_view origin,
                                                   const std::string& base_dir) {
  ScriptParser parser(Av(origin), base_dir);
  try {
    return parser.Run(Av(yaml));
  } catch (const std::exception& e) {
    return parser.Err(yaml::kTopLevel, "could not parse: ", yaml::Escaped(e.what()));
  }
}

absl::StatusOr<CeremonyResult> RunCeremony(const CeremonyScript& script, const CeremonyOptions& options) {
  CeremonyRun run(script, options);
  return run.Run();
}

}  // namespace signet::keymgmt
