// Ceremony scripts: what a valid script means, and the clear error every bad one gets. Running
// ceremonies against real tokens is tests/integration/ceremony_test.cc.
#include "keymgmt/ceremony.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace signet::keymgmt {
namespace {

using ::testing::HasSubstr;

constexpr char kRoot[] = R"(ceremony: root
name: example-root-2026
output_dir: out/root
token:
  token: signet-offline
  module: /usr/lib/softhsm/libsofthsm2.so
key:
  label: example-root-2026
  curve: P-384
certificate:
  subject:
    common_name: Example Content Signature Root
    organization: Example
    organizational_unit: Security
    country: US
  not_before: "2026-01-01T00:00:00Z"
  validity: 87600h
)";

constexpr char kIntermediate[] = R"(ceremony: intermediate
name: example-intermediate-2026
output_dir: /abs/out
root:
  token: {token: signet-offline}
  key_label: example-root-2026
  certificate: out/root/example-root-2026.crt.pem
token: {token: signet-online}
key: {label: example-intermediate-2026}
certificate:
  subject: {common_name: Example Content Signature Intermediate}
  permitted_dns_subtree: .content-signature.example.org
  validity: 8760h
)";

constexpr char kKey[] = R"(ceremony: key
name: remote-settings-key
output_dir: keys
token: {token: signet-online}
key: {label: remote-settings-p256, curve: P-256}
)";

std::string Error(const std::string& yaml) {
  auto s = ParseCeremonyScript(yaml, "c.yaml", "/base");
  EXPECT_FALSE(s.ok()) << yaml;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
  return std::string(s.status().message());
}

TEST(CeremonyScriptTest, RootScriptParses) {
  auto s = ParseCeremonyScript(kRoot, "root.yaml", "/srv/ceremony");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->type, CeremonyType::kRoot);
  EXPECT_EQ(s->name, "example-root-2026");
  EXPECT_EQ(s->output_dir, "/srv/ceremony/out/root");
  EXPECT_EQ(s->token.token, "signet-offline");
  EXPECT_EQ(s->token.module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(s->key.label, "example-root-2026");
  EXPECT_EQ(s->key.curve, EcCurve::kP384);
  EXPECT_EQ(s->certificate.subject.common_name, "Example Content Signature Root");
  EXPECT_EQ(s->certificate.subject.country, "US");
  ASSERT_TRUE(s->certificate.not_before.has_value());
  EXPECT_EQ(absl::ToUnixSeconds(*s->certificate.not_before), 1767225600);
  EXPECT_EQ(s->certificate.validity, absl::Hours(87600));
  EXPECT_EQ(s->script_sha256.size(), 64u);
  EXPECT_EQ(CeremonyOutputNames(*s),
            (std::vector<std::string>{"example-root-2026.crt.pem", "example-root-2026.transcript.txt"}));
}

TEST(CeremonyScriptTest, IntermediateAndKeyScriptsParse) {
  auto i = ParseCeremonyScript(kIntermediate, "i.yaml", "/srv");
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(i->type, CeremonyType::kIntermediate);
  EXPECT_EQ(i->output_dir, "/abs/out");  // absolute paths are kept
  EXPECT_EQ(i->root_certificate, "/srv/out/root/example-root-2026.crt.pem");
  EXPECT_EQ(i->root_key_label, "example-root-2026");
  EXPECT_EQ(i->root_token.token, "signet-offline");
  EXPECT_EQ(i->certificate.permitted_dns_subtree, ".content-signature.example.org");
  EXPECT_FALSE(i->certificate.not_before.has_value());

  auto k = ParseCeremonyScript(kKey, "k.yaml", "/srv");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->type, CeremonyType::kKey);
  EXPECT_EQ(k->key.curve, EcCurve::kP256);
  EXPECT_EQ(CeremonyOutputNames(*k)[0], "remote-settings-p256.pub.pem");
}

TEST(CeremonyScriptTest, EveryBadScriptNamesItsKey) {
  const std::string root = kRoot;
  auto with = [&](const std::string& from, const std::string& to) {
    return absl::StrReplaceAll(root, {{from, to}});
  };
  EXPECT_THAT(Error(with("name: example-root-2026", "name: x\nnmae: y")), HasSubstr("nmae: unknown key"));
  EXPECT_THAT(Error(with("ceremony: root", "ceremony: sub")), HasSubstr("ceremony: must be one of root"));
  EXPECT_THAT(Error(with("ceremony: root\n", "")), HasSubstr("ceremony: required"));
  EXPECT_THAT(Error(with("name: example-root-2026", "name: ../etc")), HasSubstr("name: must be 1..64 bytes"));
  EXPECT_THAT(Error(with("  label: example-root-2026", "  label: a/b")), HasSubstr("key.label: must be"));
  EXPECT_THAT(Error(with("  curve: P-384", "  curve: P-224")), HasSubstr("key.curve: must be one of P-256"));
  EXPECT_THAT(Error(with("  validity: 87600h", "  validity: 10y")),
              HasSubstr("certificate.validity: must be"));
  EXPECT_THAT(Error(with("  validity: 87600h\n", "")), HasSubstr("certificate.validity: required"));
  EXPECT_THAT(Error(with("\"2026-01-01T00:00:00Z\"", "yesterday")),
              HasSubstr("certificate.not_before: must be"));
  EXPECT_THAT(Error(with("    country: US", "    country: USA")), HasSubstr("subject.country"));
  EXPECT_THAT(Error(with("    common_name: Example Content Signature Root\n", "")),
              HasSubstr("certificate.subject.common_name: required"));
  EXPECT_THAT(Error(with("  validity: 87600h", "  validity: 87600h\n  permitted_dns_subtree: .x.org")),
              HasSubstr("permitted_dns_subtree: only an intermediate"));
  EXPECT_THAT(Error(with("  token: signet-offline", "  token: \"pkcs11:token=x?pin-source=/tmp/pin\"")),
              HasSubstr("token.token: must not carry a pin-source"));
  EXPECT_THAT(Error(with("output_dir: out/root\n", "")), HasSubstr("output_dir: required"));
  EXPECT_THAT(Error(root + "root: {}\n"), HasSubstr("root: only an intermediate ceremony"));
  EXPECT_THAT(Error(root + "name: again\n"), HasSubstr("duplicate key"));
  EXPECT_THAT(Error(root + "---\nceremony: key\n"), HasSubstr("expected one YAML document"));
  EXPECT_THAT(Error("ceremony: [root\n"), HasSubstr("YAML syntax error"));
  EXPECT_THAT(Error(std::string(kMaxCeremonyScriptBytes + 1, '#')), HasSubstr("ceremony script bound"));

  const std::string key = kKey;
  EXPECT_THAT(Error(key + "certificate: {validity: 1h}\n"),
              HasSubstr("certificate: not used by a key ceremony"));
  const std::string inter = kIntermediate;
  EXPECT_THAT(
      Error(absl::StrReplaceAll(inter, {{"  permitted_dns_subtree: .content-signature.example.org\n", ""}})),
      HasSubstr("certificate.permitted_dns_subtree: required"));
  EXPECT_THAT(Error(absl::StrReplaceAll(inter, {{".content-signature.example.org", ".bad_name.org"}})),
              HasSubstr("permitted_dns_subtree"));
  EXPECT_THAT(Error(absl::StrReplaceAll(inter, {{"  key_label: example-root-2026\n", ""}})),
              HasSubstr("root.key_label: required"));
  EXPECT_THAT(Error(absl::StrReplaceAll(inter, {{"root:\n", "rot:\n"}})), HasSubstr("rot: unknown key"));
}

bool Printable(const std::string& m) {
  for (char ch : m) {
    if (ch < 0x20 || ch > 0x7e) return false;
  }
  return true;
}

// Found by fuzz_ceremony (regressions/ceremony/yaml-error-echoes-non-ascii-byte): yaml-cpp's syntax
// errors quote the offending byte, which reached the message raw.
TEST(CeremonyScriptTest, YamlCppMessagesAreEscaped) {
  const std::string m = Error(std::string("\x04\n\0\xdb", 4));
  EXPECT_THAT(m, HasSubstr("YAML syntax error: unknown escape character: \\x"));
  EXPECT_TRUE(Printable(m)) << m;
}

// Found by fuzz_strict_yaml (regressions/ceremony/comma-after-document-endless): a ',' where a document
// should start made yaml-cpp return empty documents forever, and the parse never ended.
TEST(CeremonyScriptTest, StrayCommaIsASyntaxError) {
  EXPECT_EQ(Error(","), "c.yaml: line 1, column 1: YAML syntax error: unexpected ','");
  EXPECT_THAT(Error(std::string(kKey) + "---\n, name: x\n"),
              HasSubstr("line 7, column 1: YAML syntax error: unexpected ','"));
}

// Found by fuzz_ceremony (regressions/ceremony/permitted-subtree-echoes-non-ascii): the DNS name check
// echoed permitted_dns_subtree's bytes raw.
TEST(CeremonyScriptTest, PermittedSubtreeBytesAreEscaped) {
  const std::string inter = kIntermediate;
  const std::string m = Error(absl::StrReplaceAll(
      inter, {{".content-signature.example.org", "\".content-signature.exampl\\xf3.org\\n\""}}));
  EXPECT_THAT(m, HasSubstr("certificate.permitted_dns_subtree: permitted_dns_subtree "
                           "'content-signature.exampl\\xc3\\xb3.org\\n' may contain only"));
  EXPECT_TRUE(Printable(m)) << m;
}

// Found by fuzz_ceremony (regressions/ceremony/subject-not-utf8-aborts): a subject field with bytes that
// are not UTF-8 aborted the process when the script was checked, before any HSM was touched.
TEST(CeremonyScriptTest, SubjectThatIsNotUtf8IsAnError) {
  const std::string root = kRoot;
  EXPECT_THAT(Error(absl::StrReplaceAll(root, {{"organization: Example", "organization: Exa\xa9mple"}})),
              HasSubstr("certificate.subject.organization: is not valid UTF-8 (at byte 3)"));
}

// The examples in ops/ceremony/ are what officers start from: they must parse, and mean what they say.
TEST(CeremonyScriptTest, ShippedExamplesParse) {
  const std::string dir = SIGNET_OPS_DIR "/ceremony/examples";
  for (const char* file : {"root.yaml", "intermediate.yaml", "key.yaml"}) {
    auto text = ReadFileBounded(dir + "/" + file, kMaxCeremonyScriptBytes);
    ASSERT_TRUE(text.ok()) << text.status();
    auto script = ParseCeremonyScript(*text, file, dir);
    ASSERT_TRUE(script.ok()) << file << ": " << script.status();
  }
  auto inter = ParseCeremonyScript(*ReadFileBounded(dir + "/intermediate.yaml", kMaxCeremonyScriptBytes),
                                   "intermediate.yaml", dir);
  EXPECT_EQ(inter->root_certificate, dir + "/out/root/example-root-2026.crt.pem");
  EXPECT_EQ(inter->root_token.token, "signet-offline");
  EXPECT_EQ(inter->token.token, "signet-online");
}

}  // namespace
}  // namespace signet::keymgmt
