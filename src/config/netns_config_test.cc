// `burrow netns` namespace files and the wg-quick files they may name: each key's accepted
// and refused values, the FILE:LINE: key.path form of errors, unknown-key warnings, the
// highAssurance defaults and refusals, and the merge of wireguard.configFile.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/base.h"
#include "config/config.h"

namespace config {
namespace {

// Test keys (base64 of 32 bytes each), not real ones.
constexpr std::string_view kPrivateKey = "O5qhQv76RKq4OrHAkJ9pKf1TZWuJXsL8DkfUEupiulQ=";
constexpr std::string_view kPeer1 = "aYdQoJuTQzd0bwlzRIFn82TK4TLi+LMnrkkT5bVEUCk=";
constexpr std::string_view kPeer2 = "OyE87QA+ibNaJsIsvQEcm/qylXhBWyBp9/yLAZmLkD0=";

std::string dataFile(const char* name) { return std::string(BURROW_NETNS_TEST_DATA) + "/" + name; }

// The smallest valid namespace "vpn"; `tail` goes on from line 13, inside `vpn:`.
std::string minimal(std::string_view tail = "") {
  return fmt::format(
      "namespaces:\n"                          // 1
      "  vpn:\n"                               // 2
      "    wireguard:\n"                       // 3
      "      interface: wg0\n"                 // 4
      "      privateKeyFile: /k\n"             // 5
      "      address: 10.2.0.2\n"              // 6
      "      peers:\n"                         // 7
      "        - publicKey: {}\n"              // 8
      "          endpoint: 192.0.2.1:51820\n"  // 9
      "          allowedIPs: [0.0.0.0/0]\n"    // 10
      "    dns:\n"                             // 11
      "      servers: [10.2.0.1]\n"            // 12
      "{}",
      kPeer1, tail);
}

// Lines 13-15 that make a minimal document pass highAssurance.
constexpr std::string_view kHighAssurance =
    "    securityProfile: highAssurance\n"      // 13
    "    egress:\n"                             // 14
    "      allowedCidrs: [198.51.100.0/24]\n";  // 15

// `doc` with its one `from` replaced by `to`.
std::string replaced(std::string doc, std::string_view from, std::string_view to) {
  const size_t at = doc.find(from);
  EXPECT_NE(at, std::string::npos) << "no '" << from << "' in:\n" << doc;
  if (at != std::string::npos) doc.replace(at, from.size(), to);
  return doc;
}

base::Result<NamespaceConfig> parse(std::string_view yaml, std::string_view name = "vpn") {
  return parseNamespace(yaml, "t.yml", name);
}

std::string errorOf(std::string_view yaml, std::string_view name = "vpn") {
  auto cfg = parse(yaml, name);
  return cfg ? "<parsed fine>" : cfg.error().message();
}

template <class T>
std::string messageOf(const base::Result<T>& r) {
  return r ? "<parsed fine>" : r.error().message();
}

void expectError(const std::string& msg, std::string_view prefix, std::string_view part) {
  EXPECT_TRUE(msg.starts_with(prefix)) << "want prefix '" << prefix << "' in: " << msg;
  EXPECT_NE(msg.find(part), std::string::npos) << "want '" << part << "' in: " << msg;
}

// A directory of its own per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "burrow-netns-XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }

  std::string write(const std::string& name, std::string_view text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- Whole files ----

TEST(NetnsConfig, SampleFileLoads) {
  const std::string f = dataFile("vpn.yml");
  auto cfg = loadNamespace(f, "vpn");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->name, "vpn");
  EXPECT_EQ(cfg->source, f);
  EXPECT_EQ(cfg->line, 4);
  EXPECT_EQ(cfg->security_profile, "default");
  const WireguardSettings& wg = cfg->wireguard;
  EXPECT_EQ(wg.line, 6);
  EXPECT_EQ(wg.interface, "wg-vpn");
  EXPECT_EQ(wg.private_key_file, "/etc/burrow/vpn.key");
  EXPECT_EQ(wg.private_key, "");
  EXPECT_EQ(wg.addresses, (std::vector<std::string>{"10.2.0.2/32", "fd00::2/128"}));
  EXPECT_EQ(wg.mtu, 1380);
  EXPECT_EQ(wg.listen_port, 51000);
  EXPECT_FALSE(wg.allow_hostname_endpoints);
  EXPECT_EQ(wg.config_file, "");
  ASSERT_EQ(wg.peers.size(), 1u);
  EXPECT_EQ(wg.peers[0].public_key, kPeer1);
  EXPECT_EQ(wg.peers[0].preshared_key_file, "/etc/burrow/vpn.psk");
  EXPECT_EQ(wg.peers[0].endpoint, "192.0.2.1:51820");
  EXPECT_EQ(wg.peers[0].allowed_ips, (std::vector<std::string>{"0.0.0.0/0", "::/0"}));
  EXPECT_EQ(wg.peers[0].persistent_keepalive, 25);
  EXPECT_EQ(wg.peers[0].line, 13);
  EXPECT_EQ(cfg->dns_mode, "strict");
  EXPECT_EQ(cfg->dns_servers, std::vector<std::string>{"10.2.0.1"});
  EXPECT_FALSE(cfg->dns_allow_host_resolver_ipc);
  EXPECT_EQ(cfg->egress_mode, "allowAllTunnel");
  EXPECT_TRUE(cfg->egress_allowed_cidrs.empty());
  EXPECT_EQ(cfg->ipv6_mode, "disable");
  EXPECT_EQ(cfg->publish_tcp, (std::vector<uint16_t>{8080, 9090}));
  EXPECT_EQ(cfg->warnings,
            std::vector<std::string>{f + ":27: unknown key 'namespaces.vpn.comment'"});
}

TEST(NetnsConfig, SampleHighAssuranceNamespaceMergesProviderFile) {
  auto cfg = loadNamespace(dataFile("vpn.yml"), "secure");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->security_profile, "highAssurance");
  const WireguardSettings& wg = cfg->wireguard;
  EXPECT_EQ(wg.interface, "wg-secure");
  // The YAML's privateKeyFile wins: the file's inline PrivateKey is not taken.
  EXPECT_EQ(wg.private_key_file, "secure.key");
  EXPECT_EQ(wg.private_key, "");
  EXPECT_EQ(wg.config_file, "provider.conf");  // kept as written
  EXPECT_EQ(wg.addresses,
            (std::vector<std::string>{"10.64.1.2/32", "fc00:bbbb:bbbb:bb01::1:2/128"}));
  EXPECT_EQ(wg.mtu, 1320);
  ASSERT_EQ(wg.peers.size(), 1u);
  EXPECT_EQ(wg.peers[0].public_key, kPeer2);
  EXPECT_EQ(wg.peers[0].endpoint, "198.51.100.20:51820");
  EXPECT_EQ(wg.peers[0].allowed_ips, (std::vector<std::string>{"0.0.0.0/0", "::/0"}));
  EXPECT_EQ(wg.peers[0].line, 8);  // the [Peer] line of provider.conf
  // DNS= gave one address and one search domain; only the address is kept.
  EXPECT_EQ(cfg->dns_servers, std::vector<std::string>{"10.64.0.1"});
  EXPECT_EQ(cfg->egress_mode, "allowList");  // highAssurance's default
  EXPECT_EQ(cfg->egress_allowed_cidrs, std::vector<std::string>{"203.0.113.0/24"});
  EXPECT_EQ(cfg->egress_allowed_ports, std::vector<uint16_t>{443});
  EXPECT_TRUE(cfg->warnings.empty());
}

TEST(NetnsConfig, MissingFileNamesPathAndReason) {
  auto cfg = loadNamespace("/nonexistent/burrow/vpn.yml", "vpn");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message().find("/nonexistent/burrow/vpn.yml"), std::string::npos);
  EXPECT_NE(cfg.error().message().find("No such file or directory"), std::string::npos)
      << cfg.error().message();
}

TEST(NetnsConfig, MinimalDocumentTakesDefaults) {
  auto cfg = parse(minimal());
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->security_profile, "default");
  EXPECT_EQ(cfg->wireguard.mtu, 1420);
  EXPECT_EQ(cfg->wireguard.listen_port, 0);
  EXPECT_EQ(cfg->wireguard.addresses, std::vector<std::string>{"10.2.0.2/32"});
  EXPECT_EQ(cfg->wireguard.peers[0].persistent_keepalive, 0);
  EXPECT_EQ(cfg->wireguard.peers[0].line, 8);
  EXPECT_EQ(cfg->dns_mode, "strict");
  EXPECT_EQ(cfg->egress_mode, "allowAllTunnel");
  EXPECT_EQ(cfg->ipv6_mode, "disable");
  EXPECT_TRUE(cfg->publish_tcp.empty());
  EXPECT_TRUE(cfg->warnings.empty());
}

// ---- Structure ----

TEST(NetnsConfig, NamespaceNameRules) {
  const std::string doc = replaced(minimal(), "  vpn:", "  a_B-9:");
  EXPECT_TRUE(parse(doc, "a_B-9"));
  const std::string long_ok(15, 'n');
  EXPECT_TRUE(parse(replaced(minimal(), "  vpn:", "  " + long_ok + ":"), long_ok));
  for (std::string_view bad : {"", "nnnnnnnnnnnnnnnn", "-vpn", "vp.n", "vpn/x", "vpn x"}) {
    expectError(errorOf(minimal(), bad), "t.yml: namespace name '",
                "is invalid: use 1 to 15 characters");
  }
}

TEST(NetnsConfig, UnknownNamespaceListsTheDefinedOnes) {
  expectError(errorOf(minimal(), "other"),
              "t.yml:1: ", "no namespace 'other' under namespaces:; the file defines vpn");
  const std::string two = minimal("  work:\n    wireguard: {}\n");
  expectError(errorOf(two, "other"), "t.yml:1: ", "the file defines vpn, work");
  expectError(errorOf("namespaces: {}\n"), "t.yml:1: ", "the file defines none");
  // Only the requested namespace is read: a broken sibling does not stop this one.
  EXPECT_TRUE(parse(two));
}

TEST(NetnsConfig, TopLevelShape) {
  expectError(errorOf(""), "t.yml:1: ", "expected a mapping with namespaces:");
  expectError(errorOf("- a\n- b\n"),
              "t.yml:1: ", "expected a mapping with namespaces:, got a list");
  expectError(errorOf("version: 1\n"), "t.yml:1: ", "no namespaces: mapping");
  expectError(errorOf("namespaces: [vpn]\n"),
              "t.yml:1: ", "namespaces: expected a mapping, got a list");
  expectError(errorOf("namespaces:\n  vpn: wg0\n"),
              "t.yml:2: ", "namespaces.vpn: expected a mapping with wireguard:, got a scalar");
  expectError(errorOf("namespaces:\n  vpn:\n    dns: {mode: compat}\n"),
              "t.yml:2: ", "namespaces.vpn.wireguard: missing");
  expectError(errorOf(minimal("    dns: {}\n")), "t.yml:13: ", "key 'dns' appears twice");
}

TEST(NetnsConfig, YamlSyntaxErrorNamesFileAndLine) {
  expectError(errorOf("namespaces:\n  vpn:\n    wireguard: [a, b\n    dns: {}\n"),
              "t.yml:", "invalid YAML");
  const std::string msg = errorOf("namespaces:\n  vpn:\n    wireguard:\n  - x: \"unterminated\n");
  expectError(msg, "t.yml:4: ", "invalid YAML");
}

TEST(NetnsConfig, UnknownKeysWarnWithFullPathAndLine) {
  std::string doc = replaced(minimal(), "      interface: wg0\n",
                             "      interface: wg0\n      fwMark: 7\n");  // line 5
  doc = replaced(doc, "          endpoint:", "          label: exit\n          endpoint:");  // 10
  doc = "version: 2\n" + doc;  // everything moves down one line
  doc +=
      "    dns_servers: [1.1.1.1]\n"  // 16
      "    egress:\n"                 // 17
      "      allowedUdp: [53]\n";     // 18
  auto cfg = parse(doc);
  ASSERT_TRUE(cfg) << cfg.error().message();
  const std::vector<std::string> want = {
      "t.yml:1: unknown key 'version'",
      "t.yml:6: unknown key 'namespaces.vpn.wireguard.fwMark'",
      "t.yml:11: unknown key 'namespaces.vpn.wireguard.peers[0].label'",
      "t.yml:16: unknown key 'namespaces.vpn.dns_servers'",
      "t.yml:18: unknown key 'namespaces.vpn.egress.allowedUdp'",
  };
  EXPECT_EQ(cfg->warnings, want);
}

TEST(NetnsConfig, WrongTypesNameKeyAndLine) {
  expectError(errorOf("namespaces:\n  vpn:\n    wireguard: [wg0]\n"),
              "t.yml:3: ", "namespaces.vpn.wireguard: expected a mapping, got a list");
  expectError(
      errorOf(replaced(minimal(), "      peers:\n", "      peers: {a: b}\n      x:\n")),
      "t.yml:7: ", "namespaces.vpn.wireguard.peers: expected a list of peers, got a mapping");
  expectError(errorOf(replaced(minimal(), "      interface: wg0", "      interface: [wg0]")),
              "t.yml:4: ", "namespaces.vpn.wireguard.interface: expected a string, got a list");
  expectError(errorOf(replaced(minimal(), "      address: 10.2.0.2", "      address: {a: b}")),
              "t.yml:6: ", "namespaces.vpn.wireguard.address: expected a list, got a mapping");
  expectError(errorOf(minimal("    egress:\n      allowedCidrs: {a: 1}\n")),
              "t.yml:14: ", "namespaces.vpn.egress.allowedCidrs: expected a list, got a mapping");
  expectError(errorOf(minimal("    egress:\n      allowedCidrs:\n        - [10.0.0.0/8]\n")),
              "t.yml:15: ", "namespaces.vpn.egress.allowedCidrs: list items must be scalars");
  // dns.servers is a list even for one server.
  expectError(errorOf(replaced(minimal(), "servers: [10.2.0.1]", "servers: 10.2.0.1")),
              "t.yml:12: ", "namespaces.vpn.dns.servers: expected a list, got a scalar");
  EXPECT_TRUE(parse(minimal("    wireguard2: [x]\n")));  // an unknown key, not a type error
  expectError(
      errorOf(replaced(minimal(), "        - publicKey:", "        - x\n        - publicKey:")),
      "t.yml:8: ", "namespaces.vpn.wireguard.peers[0]: expected a mapping with publicKey:");
  expectError(errorOf(minimal("    publishToHost: [8080]\n")),
              "t.yml:13: ", "namespaces.vpn.publishToHost: expected a mapping, got a list");
}

// ---- securityProfile ----

TEST(NetnsConfig, SecurityProfileValues) {
  EXPECT_EQ(parse(minimal("    securityProfile: default\n"))->security_profile, "default");
  auto high = parse(minimal(kHighAssurance));
  ASSERT_TRUE(high) << high.error().message();
  EXPECT_EQ(high->security_profile, "highAssurance");
  expectError(errorOf(minimal("    securityProfile: paranoid\n")), "t.yml:13: ",
              "namespaces.vpn.securityProfile: expected default or highAssurance, got 'paranoid'");
}

// ---- wireguard ----

TEST(NetnsConfig, InterfaceNameRules) {
  auto ok = parse(replaced(minimal(), "interface: wg0", "interface: wg.vpn_1-xyzabc"));
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->wireguard.interface, "wg.vpn_1-xyzabc");
  for (std::string_view bad :
       {"wg.vpn_1-xyzabcd", "\".\"", "\"..\"", "\"wg 0\"", "\"wg:0\"", "wg/0", "\"\""}) {
    expectError(errorOf(replaced(minimal(), "interface: wg0", "interface: " + std::string(bad))),
                "t.yml:4: namespaces.vpn.wireguard.interface: ", "is not a valid interface name");
  }
  expectError(errorOf(replaced(minimal(), "      interface: wg0\n", "")),
              "t.yml:3: ", "namespaces.vpn.wireguard.interface: missing");
}

TEST(NetnsConfig, PrivateKeyInlineOrFileExactlyOne) {
  const std::string inline_key =
      replaced(minimal(), "privateKeyFile: /k", "privateKey: " + std::string(kPrivateKey));
  auto cfg = parse(inline_key);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->wireguard.private_key, kPrivateKey);
  EXPECT_EQ(cfg->wireguard.private_key_file, "");

  // A bad key is refused without echoing it.
  const std::string bad_key = "O5qhQv76RKq4OrHAkJ9pKf1TZWuJXsL8DkfUEupiulR=";  // stray bits
  for (const std::string& bad : {bad_key, std::string(kPrivateKey.substr(0, 40)) + "AA==",
                                 std::string("not-base64-at-all")}) {
    const std::string msg =
        errorOf(replaced(minimal(), "privateKeyFile: /k", "privateKey: " + bad));
    expectError(msg, "t.yml:5: namespaces.vpn.wireguard.privateKey: ", "not a WireGuard key");
    EXPECT_EQ(msg.find(bad), std::string::npos) << msg;
  }
  expectError(errorOf(replaced(minimal(), "      privateKeyFile: /k\n",
                               "      privateKeyFile: /k\n      privateKey: " +
                                   std::string(kPrivateKey) + "\n")),
              "t.yml:6: ", "namespaces.vpn.wireguard: set privateKeyFile or privateKey, not both");
  expectError(errorOf(replaced(minimal(), "      privateKeyFile: /k\n", "")),
              "t.yml:3: ", "namespaces.vpn.wireguard.privateKeyFile: missing");
  expectError(errorOf(replaced(minimal(), "privateKeyFile: /k", "privateKeyFile: \"\"")),
              "t.yml:5: ", "namespaces.vpn.wireguard.privateKeyFile: expected a file path");
}

TEST(NetnsConfig, AddressesAreNormalisedKeepingTheHost) {
  auto one = parse(replaced(minimal(), "address: 10.2.0.2", "address: 10.2.0.2/24"));
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(one->wireguard.addresses, std::vector<std::string>{"10.2.0.2/24"});
  auto list = parse(replaced(minimal(), "address: 10.2.0.2",
                             "address: [10.2.0.2, \"FD00:0::0002/64\", 2001:db8::1]"));
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_EQ(list->wireguard.addresses,
            (std::vector<std::string>{"10.2.0.2/32", "fd00::2/64", "2001:db8::1/128"}));
  expectError(errorOf(replaced(minimal(), "address: 10.2.0.2", "address:\n        - 10.2.0.2/33")),
              "t.yml:7: ", "namespaces.vpn.wireguard.address: '10.2.0.2/33' is not a CIDR");
  expectError(errorOf(replaced(minimal(), "address: 10.2.0.2", "address: 10.2.0.256")),
              "t.yml:6: ", "'10.2.0.256' is not a CIDR");
  expectError(errorOf(replaced(minimal(), "address: 10.2.0.2", "address: 10.2.0.2/-1")),
              "t.yml:6: ", "is not a CIDR (the prefix length must be 0 to 32)");
  expectError(errorOf(replaced(minimal(), "address: 10.2.0.2", "address: []")),
              "t.yml:6: ", "namespaces.vpn.wireguard.address: missing; give at least one address");
}

TEST(NetnsConfig, MtuAndListenPortRanges) {
  auto lo = parse(replaced(minimal(), "      address:", "      mtu: 576\n      address:"));
  ASSERT_TRUE(lo) << lo.error().message();
  EXPECT_EQ(lo->wireguard.mtu, 576);
  EXPECT_EQ(parse(replaced(minimal(), "      address:", "      mtu: 65535\n      address:"))
                ->wireguard.mtu,
            65535);
  for (std::string_view bad : {"575", "65536", "-1", "1420.5", "big", "[1420]"}) {
    expectError(
        errorOf(replaced(minimal(),
                         "      address:", "      mtu: " + std::string(bad) + "\n      address:")),
        "t.yml:6: namespaces.vpn.wireguard.mtu: ", "expected a whole number from 576 to 65535");
  }
  EXPECT_EQ(parse(replaced(minimal(), "      address:", "      listenPort: 65535\n      address:"))
                ->wireguard.listen_port,
            65535);
  EXPECT_EQ(parse(replaced(minimal(), "      address:", "      listenPort: 0\n      address:"))
                ->wireguard.listen_port,
            0);
  expectError(
      errorOf(replaced(minimal(), "      address:", "      listenPort: 65536\n      address:")),
      "t.yml:6: namespaces.vpn.wireguard.listenPort: ",
      "expected a whole number from 0 to 65535, got '65536'");
}

TEST(NetnsConfig, PeerFields) {
  std::string doc = replaced(minimal(), "allowedIPs: [0.0.0.0/0]",
                             "allowedIPs: [10.1.2.3/8, 192.0.2.7, \"2001:db8::1:2/32\"]\n"
                             "          presharedKeyFile: psk/peer1\n"
                             "          persistentKeepalive: 65535");
  auto cfg = parse(doc);
  ASSERT_TRUE(cfg) << cfg.error().message();
  const WireguardPeer& p = cfg->wireguard.peers[0];
  // Filter prefixes lose their host bits; a bare address is one host.
  EXPECT_EQ(p.allowed_ips,
            (std::vector<std::string>{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}));
  EXPECT_EQ(p.preshared_key_file, "psk/peer1");
  EXPECT_EQ(p.persistent_keepalive, 65535);

  expectError(errorOf(replaced(minimal(), "allowedIPs: [0.0.0.0/0]", "allowedIPs: 0.0.0.0/0")),
              "t.yml:10: ", "namespaces.vpn.wireguard.peers[0].allowedIPs: expected a list");
  expectError(
      errorOf(replaced(minimal(), "allowedIPs: [0.0.0.0/0]",
                       "allowedIPs:\n            - 10.0.0.0/8\n            - 10.0.0.0/33")),
      "t.yml:12: ", "namespaces.vpn.wireguard.peers[0].allowedIPs: '10.0.0.0/33' is not a CIDR");
  expectError(
      errorOf(replaced(minimal(), "allowedIPs: [0.0.0.0/0]",
                       "allowedIPs: [0.0.0.0/0]\n          persistentKeepalive: 65536")),
      "t.yml:11: ", "namespaces.vpn.wireguard.peers[0].persistentKeepalive: expected a whole");
  expectError(errorOf(replaced(minimal(), "        - publicKey: " + std::string(kPeer1) + "\n",
                               "        - persistentKeepalive: 1\n")),
              "t.yml:8: ", "namespaces.vpn.wireguard.peers[0].publicKey: missing");
  expectError(errorOf(replaced(minimal(), std::string(kPeer1), "abc")), "t.yml:8: ",
              "namespaces.vpn.wireguard.peers[0].publicKey: 'abc' is not a WireGuard key");
  expectError(errorOf(replaced(minimal(), "      peers:\n", "      peers: []\n      x:\n")),
              "t.yml:7: ", "namespaces.vpn.wireguard.peers: missing; give at least one peer");
}

TEST(NetnsConfig, SecondPeerAndDuplicatePeer) {
  std::string doc = replaced(minimal(), "          allowedIPs: [0.0.0.0/0]\n",
                             "          allowedIPs: [0.0.0.0/0]\n"
                             "        - publicKey: " +
                                 std::string(kPeer2) +
                                 "\n"                                               // 11
                                 "          endpoint: \"[2001:DB8::7]:51820\"\n");  // 12
  auto cfg = parse(doc);
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_EQ(cfg->wireguard.peers.size(), 2u);
  EXPECT_EQ(cfg->wireguard.peers[1].line, 11);
  EXPECT_EQ(cfg->wireguard.peers[1].endpoint, "[2001:db8::7]:51820");

  expectError(errorOf(replaced(doc, std::string(kPeer2), std::string(kPeer1))),
              "t.yml:11: namespaces.vpn.wireguard.peers[1]: ", "appears twice");
}

TEST(NetnsConfig, EndpointForms) {
  auto endpoint = [](std::string_view text) {
    return replaced(minimal(), "endpoint: 192.0.2.1:51820",
                    "endpoint: \"" + std::string(text) + "\"");
  };
  EXPECT_EQ(parse(endpoint("[2001:db8::1]:51820"))->wireguard.peers[0].endpoint,
            "[2001:db8::1]:51820");
  for (std::string_view bad :
       {"2001:db8::1:51820", "192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "[192.0.2.1]:51820",
        "[2001:db8::1]51820", "1.2.3.256:51820", "bad_host:51820", "-a.example:1", ":51820"}) {
    expectError(errorOf(endpoint(bad)),
                "t.yml:9: namespaces.vpn.wireguard.peers[0].endpoint: ", "endpoint '");
  }
}

TEST(NetnsConfig, HostnameEndpointNeedsOptIn) {
  const std::string doc =
      replaced(minimal(), "endpoint: 192.0.2.1:51820", "endpoint: vpn.example.com:51820");
  EXPECT_EQ(errorOf(doc),
            "t.yml:9: namespaces.vpn.wireguard.peers[0].endpoint: 'vpn.example.com:51820' is a "
            "hostname; set wireguard.allowHostnameEndpoints: true to allow it");
  auto cfg =
      parse(replaced(doc, "      address:", "      allowHostnameEndpoints: true\n      address:"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->wireguard.allow_hostname_endpoints);
  EXPECT_EQ(cfg->wireguard.peers[0].endpoint, "vpn.example.com:51820");
  expectError(errorOf(replaced(
                  doc, "      address:", "      allowHostnameEndpoints: maybe\n      address:")),
              "t.yml:6: namespaces.vpn.wireguard.allowHostnameEndpoints: ",
              "expected true or false, got 'maybe'");
}

TEST(NetnsConfig, EndpointRefreshSeconds) {
  auto cfg = parse(minimal());
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->wireguard.endpoint_refresh, 120);
  cfg = parse(replaced(minimal(), "      address:", "      endpointRefresh: 30\n      address:"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->wireguard.endpoint_refresh, 30);
  for (std::string_view bad : {"0", "86401", "5m"}) {
    expectError(
        errorOf(replaced(minimal(), "      address:",
                         "      endpointRefresh: " + std::string(bad) + "\n      address:")),
        "t.yml:6: namespaces.vpn.wireguard.endpointRefresh: ",
        "expected a whole number from 1 to 86400");
  }
}

// ---- dns, egress, ipv6, publishToHost ----

TEST(NetnsConfig, DnsModes) {
  auto compat = parse(replaced(minimal(), "      servers: [10.2.0.1]\n", "      mode: compat\n"));
  ASSERT_TRUE(compat) << compat.error().message();
  EXPECT_EQ(compat->dns_mode, "compat");
  EXPECT_TRUE(compat->dns_servers.empty());
  auto allow = parse(replaced(minimal(), "      servers: [10.2.0.1]\n",
                              "      servers: [\"2001:DB8::53\", 10.2.0.1]\n"
                              "      allowHostResolverIPC: true\n"));
  ASSERT_TRUE(allow) << allow.error().message();
  EXPECT_TRUE(allow->dns_allow_host_resolver_ipc);
  EXPECT_EQ(allow->dns_servers, (std::vector<std::string>{"2001:db8::53", "10.2.0.1"}));

  expectError(
      errorOf(replaced(minimal(), "      servers: [10.2.0.1]\n", "      mode: strict\n")),
      "t.yml:11: ", "namespaces.vpn.dns.servers: strict mode needs at least one DNS server");
  expectError(errorOf(replaced(minimal(), "    dns:\n      servers: [10.2.0.1]\n", "")),
              "t.yml:2: ", "namespaces.vpn.dns.servers: strict mode needs at least one DNS server");
  expectError(errorOf(replaced(minimal(), "      servers: [10.2.0.1]\n",
                               "      mode: loose\n      servers: [10.2.0.1]\n")),
              "t.yml:12: ", "namespaces.vpn.dns.mode: expected strict or compat, got 'loose'");
  expectError(errorOf(replaced(minimal(), "servers: [10.2.0.1]", "servers: [10.2.0.1/32]")),
              "t.yml:12: ", "namespaces.vpn.dns.servers: '10.2.0.1/32' is not an IP address");
}

TEST(NetnsConfig, EgressModes) {
  auto list =
      parse(minimal("    egress:\n"
                    "      mode: allowList\n"
                    "      allowedCidrs: [198.51.100.9/24, \"2001:db8::/48\"]\n"
                    "      allowedPorts: [1, 443, 65535]\n"));
  ASSERT_TRUE(list) << list.error().message();
  EXPECT_EQ(list->egress_mode, "allowList");
  EXPECT_EQ(list->egress_allowed_cidrs,
            (std::vector<std::string>{"198.51.100.0/24", "2001:db8::/48"}));
  EXPECT_EQ(list->egress_allowed_ports, (std::vector<uint16_t>{1, 443, 65535}));

  expectError(errorOf(minimal("    egress:\n      mode: allowList\n")), "t.yml:13: ",
              "namespaces.vpn.egress.allowedCidrs: mode allowList needs at least one CIDR");
  expectError(errorOf(minimal("    egress:\n      mode: denyAll\n")), "t.yml:14: ",
              "namespaces.vpn.egress.mode: expected allowAllTunnel or allowList, got 'denyAll'");
  for (std::string_view bad : {"0", "65536", "http"}) {
    expectError(
        errorOf(minimal("    egress:\n      allowedPorts: [443, " + std::string(bad) + "]\n")),
        "t.yml:14: ", "namespaces.vpn.egress.allowedPorts: expected a port from 1 to 65535");
  }
  expectError(errorOf(minimal("    egress:\n      allowedCidrs: [10.0.0.0/33]\n")),
              "t.yml:14: ", "namespaces.vpn.egress.allowedCidrs: '10.0.0.0/33' is not a CIDR");
}

TEST(NetnsConfig, Ipv6OnlyDisable) {
  auto cfg = parse(minimal("    ipv6:\n      mode: disable\n"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->ipv6_mode, "disable");
  for (std::string_view bad : {"enable", "tunnel", "\"\""}) {
    expectError(errorOf(minimal("    ipv6:\n      mode: " + std::string(bad) + "\n")),
                "t.yml:14: ", "namespaces.vpn.ipv6.mode: only 'disable' is supported");
  }
}

TEST(NetnsConfig, PublishToHostPorts) {
  auto cfg = parse(minimal("    publishToHost:\n      tcp: [8080, 1, 65535]\n"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->publish_tcp, (std::vector<uint16_t>{8080, 1, 65535}));
  expectError(errorOf(minimal("    publishToHost:\n"
                              "      tcp:\n"
                              "        - 8080\n"
                              "        - 9090\n"
                              "        - 8080\n")),
              "t.yml:17: ", "namespaces.vpn.publishToHost.tcp: port 8080 appears twice");
  expectError(errorOf(minimal("    publishToHost:\n      tcp: [0]\n")), "t.yml:14: ",
              "namespaces.vpn.publishToHost.tcp: expected a port from 1 to 65535, got '0'");
}

TEST(NetnsConfig, PublishToHostUdpAndHostAddress) {
  auto cfg =
      parse(minimal("    publishToHost:\n      udp: [7000]\n      hostAddress: 10.99.0.2\n"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->publish_udp, (std::vector<uint16_t>{7000}));
  EXPECT_EQ(cfg->publish_host_address, "10.99.0.2");
  for (std::string_view bad : {"10.99.0.0", "10.99.0.3"}) {
    expectError(errorOf(minimal("    publishToHost:\n      udp: [7000]\n      hostAddress: " +
                                std::string(bad) + "\n")),
                "t.yml:15: ", "the network or broadcast address of its /30");
  }
  expectError(
      errorOf(minimal("    publishToHost:\n      udp: [7000]\n      hostAddress: fd00::1\n")),
      "t.yml:15: ", "namespaces.vpn.publishToHost.hostAddress: 'fd00::1' is not an IPv4");
  expectError(errorOf(minimal("    publishToHost:\n      hostAddress: 10.99.0.1\n")),
              "t.yml:14: ", "hostAddress: there is no host link");
  expectError(errorOf(minimal("    publishToHost:\n      udp: [53, 53]\n")),
              "t.yml:14: ", "namespaces.vpn.publishToHost.udp: port 53 appears twice");
}

// ---- vpn-confinement's accessibleFrom, portMappings, openVPNPorts ----

TEST(NetnsConfig, PortMappingsWithVpnConfinementsProtocols) {
  auto cfg =
      parse(minimal("    accessibleFrom: [192.168.1.7/24, 10.0.0.5]\n"  // 13
                    "    portMappings:\n"                               // 14
                    "      - {from: 80, to: 8080}\n"                    // 15
                    "      - {from: 5000, to: 5000, protocol: both}\n"  // 16
                    "      - {from: 6000, to: 600, protocol: udp}\n"))  // 17
      ;
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->accessible_from, (std::vector<std::string>{"192.168.1.0/24", "10.0.0.5/32"}));
  ASSERT_EQ(cfg->port_mappings.size(), 3u);
  const auto& m = cfg->port_mappings;
  EXPECT_EQ(std::tuple(m[0].from, m[0].to, m[0].tcp, m[0].udp), std::tuple(80, 8080, true, false));
  EXPECT_EQ(std::tuple(m[1].tcp, m[1].udp), std::tuple(true, true));
  EXPECT_EQ(std::tuple(m[2].from, m[2].to, m[2].tcp, m[2].udp), std::tuple(6000, 600, false, true));

  expectError(errorOf(minimal("    portMappings:\n      - {from: 80, to: 8080, protocol: sctp}\n")),
              "t.yml:14: ", "namespaces.vpn.portMappings[0].protocol: expected tcp or udp or both");
  expectError(errorOf(minimal("    portMappings:\n      - {from: 80}\n")),
              "t.yml:14: ", "namespaces.vpn.portMappings[0].to: missing");
  expectError(errorOf(minimal("    portMappings:\n      - {from: 80, to: 0}\n")), "t.yml:14: ",
              "namespaces.vpn.portMappings[0].to: expected a whole number from 1 to 65535");
  expectError(errorOf(minimal("    portMappings:\n"
                              "      - {from: 80, to: 8080, protocol: both}\n"
                              "      - {from: 80, to: 9090, protocol: udp}\n")),
              "t.yml:15: ", "namespaces.vpn.portMappings[1]: host port 80/udp is mapped twice");
  expectError(errorOf(minimal("    portMappings: [80]\n")), "t.yml:13: ",
              "portMappings[0]: expected a mapping {from, to, protocol}, got a scalar");
  cfg = parse(
      minimal("    accessibleFrom: [fd00::/8, 10.1.0.0/16]\n    publishToHost: {tcp: [80]}\n"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->accessible_from, std::vector<std::string>{"10.1.0.0/16"});
  EXPECT_EQ(cfg->warnings, std::vector<std::string>{"t.yml:13: namespaces.vpn.accessibleFrom: "
                                                    "fd00::/8 left out: IPv6 is off (ipv6.mode: "
                                                    "disable)"});
  expectError(errorOf(minimal("    accessibleFrom: [10.0.0.0/8]\n")),
              "t.yml:13: ", "namespaces.vpn.accessibleFrom: nothing to reach");
}

TEST(NetnsConfig, OpenVpnPortsPerProtocol) {
  auto cfg =
      parse(minimal("    openVPNPorts:\n"
                    "      - port: 51413\n"
                    "        protocol: both\n"
                    "      - {port: 6881, protocol: udp}\n"
                    "      - {port: 22}\n"));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->open_vpn_tcp, (std::vector<uint16_t>{51413, 22}));
  EXPECT_EQ(cfg->open_vpn_udp, (std::vector<uint16_t>{51413, 6881}));
  expectError(errorOf(minimal("    openVPNPorts:\n      - {protocol: tcp}\n")),
              "t.yml:14: ", "namespaces.vpn.openVPNPorts[0].port: missing");
  expectError(errorOf(minimal("    openVPNPorts: {port: 1}\n")), "t.yml:13: ",
              "namespaces.vpn.openVPNPorts: expected a list of {port, protocol}, got a mapping");
}

// ---- highAssurance ----

TEST(NetnsConfig, HighAssuranceDefaultsToAllowList) {
  auto cfg = parse(minimal(kHighAssurance));
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->egress_mode, "allowList");
  EXPECT_EQ(cfg->egress_allowed_cidrs, std::vector<std::string>{"198.51.100.0/24"});
  // The default profile with the same egress keeps allowAllTunnel.
  auto plain = parse(minimal("    egress:\n      allowedCidrs: [198.51.100.0/24]\n"));
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_EQ(plain->egress_mode, "allowAllTunnel");
}

TEST(NetnsConfig, HighAssuranceRefusals) {
  const std::string high = minimal(kHighAssurance);
  EXPECT_EQ(
      errorOf(replaced(high, "privateKeyFile: /k", "privateKey: " + std::string(kPrivateKey))),
      "t.yml:5: namespaces.vpn.wireguard.privateKey: highAssurance refuses an inline private "
      "key; use privateKeyFile");
  EXPECT_EQ(errorOf(replaced(high, "      allowedCidrs: [198.51.100.0/24]\n",
                             "      allowedPorts: [443]\n")),
            "t.yml:14: namespaces.vpn.egress.allowedCidrs: highAssurance needs at least one "
            "allowed CIDR");
  EXPECT_EQ(errorOf(minimal("    securityProfile: highAssurance\n")),
            "t.yml:2: namespaces.vpn.egress.allowedCidrs: highAssurance needs at least one "
            "allowed CIDR");
  // A hostname endpoint is refused even when allowHostnameEndpoints says yes.
  std::string named =
      replaced(high, "endpoint: 192.0.2.1:51820", "endpoint: vpn.example.com:51820");
  named = replaced(named, "      address:", "      allowHostnameEndpoints: true\n      address:");
  expectError(errorOf(named), "t.yml:10: namespaces.vpn.wireguard.peers[0].endpoint: ",
              "highAssurance refuses host name endpoint 'vpn.example.com:51820' (even with "
              "allowHostnameEndpoints)");
  EXPECT_EQ(errorOf(replaced(high, "      servers: [10.2.0.1]\n",
                             "      servers: [10.2.0.1]\n      allowHostResolverIPC: true\n")),
            "t.yml:13: namespaces.vpn.dns.allowHostResolverIPC: highAssurance refuses the host "
            "resolver; set it to false");
  EXPECT_EQ(errorOf(replaced(high, "      servers: [10.2.0.1]\n",
                             "      servers: [10.2.0.1]\n      mode: compat\n")),
            "t.yml:13: namespaces.vpn.dns.mode: highAssurance refuses compat; use strict");
}

// ---- wireguard.configFile ----

TEST(NetnsConfig, WireguardConfigFileAloneAsVpnConfinementWritesIt) {
  TempDir dir;
  dir.write("wg0.conf", "[Interface]\nPrivateKey = " + std::string(kPrivateKey) +
                            "\nAddress = 10.9.0.2/32\nDNS = 10.9.0.1\n[Peer]\nPublicKey = " +
                            std::string(kPeer2) + "\nEndpoint = 198.51.100.1:51820\n");
  const std::string yml =
      dir.write("vpn.yml", "namespaces:\n  vpn:\n    wireguardConfigFile: wg0.conf\n");
  auto cfg = loadNamespace(yml, "vpn");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->wireguard.interface, "vpn0");  // vpn-confinement's name for the link
  EXPECT_EQ(cfg->wireguard.private_key, kPrivateKey);
  EXPECT_EQ(cfg->dns_servers, std::vector<std::string>{"10.9.0.1"});

  const std::string both = dir.write("both.yml",
                                     "namespaces:\n  vpn:\n    wireguardConfigFile: wg0.conf\n"
                                     "    wireguard: {configFile: wg0.conf}\n");
  expectError(messageOf(loadNamespace(both, "vpn")), both + ":3: ",
              "namespaces.vpn.wireguardConfigFile: namespaces.vpn.wireguard.configFile is set "
              "too; keep one of them");
  const std::string long_name =
      dir.write("long.yml", "namespaces:\n  abcdefghijklmno:\n    wireguardConfigFile: wg0.conf\n");
  expectError(messageOf(loadNamespace(long_name, "abcdefghijklmno")), long_name + ":3: ",
              "abcdefghijklmno0 (the namespace's name and 0) is longer than 15 bytes");
  const std::string missing =
      dir.write("missing.yml", "namespaces:\n  vpn:\n    wireguardConfigFile: no.conf\n");
  expectError(messageOf(loadNamespace(missing, "vpn")),
              missing + ":3: ", "namespaces.vpn.wireguardConfigFile: cannot read it: ");
}

TEST(NetnsConfig, ConfigFileFillsWhatTheYamlLeavesUnset) {
  TempDir dir;
  dir.write("wg0.conf",
            "[Interface]\n"  // 1
            "PrivateKey = " +
                std::string(kPrivateKey) +
                "\n"                              // 2
                "Address = 10.9.0.2/32\n"         // 3
                "DNS = 10.9.0.1, corp.example\n"  // 4
                "MTU = 1300\n"                    // 5
                "ListenPort = 41000\n"            // 6
                "[Peer]\n"                        // 7
                "PublicKey = " +
                std::string(kPeer2) +
                "\n"                               // 8
                "Endpoint = 198.51.100.1:51820\n"  // 9
                "AllowedIPs = 0.0.0.0/0\n");       // 10
  // Only interface and configFile in the YAML: everything else comes from wg0.conf.
  const std::string yml = dir.write("vpn.yml",
                                    "namespaces:\n"
                                    "  vpn:\n"
                                    "    wireguard:\n"
                                    "      interface: wg-x\n"
                                    "      configFile: wg0.conf\n");
  auto cfg = loadNamespace(yml, "vpn");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->wireguard.private_key, kPrivateKey);
  EXPECT_EQ(cfg->wireguard.addresses, std::vector<std::string>{"10.9.0.2/32"});
  EXPECT_EQ(cfg->wireguard.mtu, 1300);
  EXPECT_EQ(cfg->wireguard.listen_port, 41000);
  ASSERT_EQ(cfg->wireguard.peers.size(), 1u);
  EXPECT_EQ(cfg->wireguard.peers[0].public_key, kPeer2);
  EXPECT_EQ(cfg->dns_servers, std::vector<std::string>{"10.9.0.1"});

  // Everything set in the YAML wins.
  const std::string full = dir.write(
      "full.yml",
      replaced(replaced(minimal(), "      address:",
                        "      configFile: wg0.conf\n      mtu: 1400\n      listenPort: 0\n"
                        "      address:"),
               "servers: [10.2.0.1]", "servers: [10.2.0.53]"));
  auto mine = loadNamespace(full, "vpn");
  ASSERT_TRUE(mine) << mine.error().message();
  EXPECT_EQ(mine->wireguard.private_key_file, "/k");
  EXPECT_EQ(mine->wireguard.private_key, "");
  EXPECT_EQ(mine->wireguard.addresses, std::vector<std::string>{"10.2.0.2/32"});
  EXPECT_EQ(mine->wireguard.mtu, 1400);
  EXPECT_EQ(mine->wireguard.listen_port, 0);
  ASSERT_EQ(mine->wireguard.peers.size(), 1u);
  EXPECT_EQ(mine->wireguard.peers[0].public_key, kPeer1);
  EXPECT_EQ(mine->dns_servers, std::vector<std::string>{"10.2.0.53"});

  // An absolute configFile is read as is, wherever the YAML is.
  auto absolute = parseNamespace(
      "namespaces:\n  vpn:\n    wireguard:\n      interface: wg-x\n"
      "      configFile: " +
          dir.path() + "/wg0.conf\n",
      "elsewhere/t.yml", "vpn");
  ASSERT_TRUE(absolute) << absolute.error().message();
  EXPECT_EQ(absolute->wireguard.mtu, 1300);
}

TEST(NetnsConfig, ConfigFileValuesPassTheSameChecks) {
  TempDir dir;
  const std::string head =
      "namespaces:\n  vpn:\n    wireguard:\n      interface: wg-x\n"
      "      configFile: wg0.conf\n";  // line 5
  const std::string wg_file = dir.path() + "/wg0.conf";
  const std::string yml = dir.path() + "/vpn.yml";

  // A hostname endpoint from the wg-quick file is checked after the merge, at its own line.
  dir.write("wg0.conf", "[Interface]\nPrivateKey = " + std::string(kPrivateKey) +
                            "\nAddress = 10.9.0.2\nDNS = 10.9.0.1\n[Peer]\nPublicKey = " +
                            std::string(kPeer2) + "\nEndpoint = vpn.example.com:51820\n");
  dir.write("vpn.yml", head);
  auto named = loadNamespace(yml, "vpn");
  ASSERT_FALSE(named);
  EXPECT_EQ(named.error().message(),
            wg_file +
                ":7: [Peer] Endpoint (from namespaces.vpn.wireguard.configFile): "
                "'vpn.example.com:51820' is a hostname; set wireguard.allowHostnameEndpoints: "
                "true to allow it");
  dir.write("vpn.yml", head + "      allowHostnameEndpoints: true\n");
  EXPECT_TRUE(loadNamespace(yml, "vpn"));

  // highAssurance refuses the file's inline PrivateKey, naming the file and its line.
  dir.write("vpn.yml", head +
                           "      allowHostnameEndpoints: true\n"
                           "    securityProfile: highAssurance\n"
                           "    egress: {allowedCidrs: [198.51.100.0/24]}\n");
  auto high = loadNamespace(yml, "vpn");
  ASSERT_FALSE(high);
  EXPECT_EQ(high.error().message(),
            wg_file +
                ":2: PrivateKey (from namespaces.vpn.wireguard.configFile): highAssurance "
                "refuses an inline private key; use privateKeyFile");
  // With privateKeyFile in the YAML the next refusal is the hostname endpoint.
  dir.write("vpn.yml", head +
                           "      privateKeyFile: /k\n"
                           "    securityProfile: highAssurance\n"
                           "    egress: {allowedCidrs: [198.51.100.0/24]}\n");
  expectError(messageOf(loadNamespace(yml, "vpn")), wg_file + ":7: [Peer] Endpoint",
              "highAssurance refuses host name endpoint");

  // Errors inside the wg-quick file name that file and line.
  dir.write("wg0.conf", "[Interface]\nAddress = 10.9.0.2\nPostUp = iptables -A FORWARD\n");
  dir.write("vpn.yml", head);
  EXPECT_EQ(messageOf(loadNamespace(yml, "vpn")),
            wg_file + ":3: burrow runs no wg-quick hooks: remove PostUp");

  // A configFile that is not there: the YAML's key and line, the path and the reason.
  dir.write("vpn.yml", replaced(head, "wg0.conf", "missing.conf"));
  const std::string msg = messageOf(loadNamespace(yml, "vpn"));
  expectError(msg, yml + ":5: namespaces.vpn.wireguard.configFile: cannot read it: ",
              "No such file or directory");
  EXPECT_NE(msg.find(dir.path() + "/missing.conf"), std::string::npos) << msg;
}

// ---- wg-quick files ----

TEST(WgQuick, ParsesAProviderFile) {
  auto text = [] {
    std::ifstream in(dataFile("provider.conf"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto wg = parseWgQuick(text, "provider.conf");
  ASSERT_TRUE(wg) << wg.error().message();
  EXPECT_EQ(wg->wireguard.line, 2);
  EXPECT_EQ(wg->wireguard.private_key, kPrivateKey);
  EXPECT_EQ(wg->wireguard.addresses,
            (std::vector<std::string>{"10.64.1.2/32", "fc00:bbbb:bbbb:bb01::1:2/128"}));
  EXPECT_EQ(wg->wireguard.mtu, 1320);
  EXPECT_EQ(wg->wireguard.interface, "");
  EXPECT_EQ(wg->dns, std::vector<std::string>{"10.64.0.1"});
  ASSERT_EQ(wg->wireguard.peers.size(), 1u);
  const WireguardPeer& p = wg->wireguard.peers[0];
  EXPECT_EQ(p.line, 8);
  EXPECT_EQ(p.public_key, kPeer2);
  EXPECT_EQ(p.allowed_ips, (std::vector<std::string>{"0.0.0.0/0", "::/0"}));
  EXPECT_EQ(p.endpoint, "198.51.100.20:51820");
  EXPECT_EQ(p.persistent_keepalive, 25);
}

TEST(WgQuick, KeysAreCaseInsensitiveAndCommentsGo) {
  auto wg = parseWgQuick(
      "# provider export\r\n"
      "[interface]\r\n"
      "privatekey=" +
          std::string(kPrivateKey) +
          "  # the key\r\n"
          "  ADDRESS = 10.0.0.2/24 ,  \r\n"
          "address = fd00::2\r\n"
          "dns = 1.1.1.1,,search.example, 2606:4700:4700::1111\n"
          "listenport = 0\n"
          "\n"
          "[PEER]\n"
          "publickey = " +
          std::string(kPeer1) +
          "\n"
          "allowedips = 10.1.2.3/8\n"
          "AllowedIPs = 192.0.2.9\n"
          "endpoint = [2001:DB8::1]:51820\n"
          "persistentkeepalive = off\n"
          "[Peer]\n"
          "PublicKey = " +
          std::string(kPeer2) + "\n",
      "w.conf");
  ASSERT_TRUE(wg) << wg.error().message();
  EXPECT_EQ(wg->wireguard.private_key, kPrivateKey);
  // Address lines add up; the address keeps its host bits.
  EXPECT_EQ(wg->wireguard.addresses, (std::vector<std::string>{"10.0.0.2/24", "fd00::2/128"}));
  EXPECT_EQ(wg->dns, (std::vector<std::string>{"1.1.1.1", "2606:4700:4700::1111"}));
  EXPECT_EQ(wg->wireguard.mtu, 1420);
  ASSERT_EQ(wg->wireguard.peers.size(), 2u);
  EXPECT_EQ(wg->wireguard.peers[0].allowed_ips,
            (std::vector<std::string>{"10.0.0.0/8", "192.0.2.9/32"}));
  EXPECT_EQ(wg->wireguard.peers[0].endpoint, "[2001:db8::1]:51820");
  EXPECT_EQ(wg->wireguard.peers[0].persistent_keepalive, 0);
  EXPECT_EQ(wg->wireguard.peers[1].line, 15);
  EXPECT_EQ(wg->wireguard.peers[1].endpoint, "");
}

TEST(WgQuick, HooksAndRoutingKeysAreRefused) {
  for (std::string_view key :
       {"Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig", "FwMark"}) {
    auto wg =
        parseWgQuick("[Interface]\nAddress = 10.0.0.2\n" + base::toLower(key) + " = x\n", "w.conf");
    ASSERT_FALSE(wg) << key;
    EXPECT_EQ(wg.error().message(),
              "w.conf:3: burrow runs no wg-quick hooks: remove " + std::string(key));
  }
}

TEST(WgQuick, InlinePresharedKeyIsRefused) {
  auto wg = parseWgQuick("[Peer]\nPublicKey = " + std::string(kPeer1) +
                             "\nPresharedKey = " + std::string(kPeer2) + "\n",
                         "w.conf");
  ASSERT_FALSE(wg);
  expectError(wg.error().message(), "w.conf:3: ", "presharedKeyFile");
  EXPECT_EQ(wg.error().message().find(kPeer2), std::string::npos);
}

TEST(WgQuick, Errors) {
  auto err = [](std::string_view text) {
    auto wg = parseWgQuick(text, "w.conf");
    return wg ? std::string("<parsed fine>") : wg.error().message();
  };
  const std::string peer = "PublicKey = " + std::string(kPeer1) + "\n";
  expectError(err("[Interface]\nAddress = 10.0.0.2\n[Bogus]\n"), "w.conf:3: ", "unknown section");
  expectError(err("[Interface\n"), "w.conf:1: ", "expected [Interface] or [Peer]");
  expectError(err("Address = 10.0.0.2\n"),
              "w.conf:1: ", "'Address' comes before any [Interface] or [Peer] section");
  expectError(err("[Interface]\n\nAddress 10.0.0.2\n"), "w.conf:3: ", "expected Key = Value");
  expectError(err("[Interface]\nJc = 4\n"), "w.conf:2: ", "unknown key 'Jc' in [Interface]");
  expectError(err("[Peer]\n" + peer + "Address = 10.0.0.2\n"),
              "w.conf:3: ", "unknown key 'Address' in [Peer]");
  expectError(err("[Interface]\n[Interface]\n"), "w.conf:2: ", "a second [Interface]");
  expectError(err("[Interface]\nMTU = 1400\nmtu = 1300\n"), "w.conf:3: ", "MTU is set twice");
  expectError(err("[Interface]\n[Peer]\nEndpoint = 192.0.2.1:1\n[Peer]\n" + peer),
              "w.conf:2: ", "[Peer] has no PublicKey");
  expectError(err("[Interface]\nMTU = 575\n"), "w.conf:2: ", "MTU must be a number from 576");
  expectError(err("[Interface]\nListenPort = 70000\n"), "w.conf:2: ", "ListenPort must be");
  expectError(err("[Interface]\nAddress = 10.0.0.2, 10.0.0.300\n"),
              "w.conf:2: ", "Address: '10.0.0.300' is not a CIDR");
  expectError(err("[Peer]\n" + peer + "AllowedIPs = 0.0.0.0/0, ::/129\n"),
              "w.conf:3: ", "AllowedIPs: '::/129' is not a CIDR");
  expectError(err("[Peer]\n" + peer + "Endpoint = 2001:db8::1:51820\n"), "w.conf:3: ",
              "Endpoint: endpoint '2001:db8::1:51820': write IPv6 addresses in brackets, as "
              "[ADDRESS]:PORT");
  expectError(err("[Peer]\n" + peer + "PersistentKeepalive = never\n"),
              "w.conf:3: ", "PersistentKeepalive must be off or a number");
  expectError(err("[Peer]\nPublicKey = abc\n"),
              "w.conf:2: ", "PublicKey 'abc' is not a WireGuard key");
  // A bad private key is not echoed.
  const std::string bad =
      err("[Interface]\nPrivateKey = " + std::string(kPeer1.substr(0, 43)) + "\n");
  expectError(bad, "w.conf:2: ", "PrivateKey is not a WireGuard key");
  EXPECT_EQ(bad.find(kPeer1.substr(0, 43)), std::string::npos) << bad;
  // Neither is a lone pasted key line.
  const std::string pasted = err("[Interface]\n" + std::string(kPrivateKey) + "\n");
  expectError(pasted, "w.conf:2: ", "expected Key = Value");
  EXPECT_EQ(pasted.find(kPrivateKey.substr(0, 20)), std::string::npos) << pasted;
}

TEST(WgQuick, EmptyFileIsEmpty) {
  auto wg = parseWgQuick("# nothing here\n\n", "w.conf");
  ASSERT_TRUE(wg) << wg.error().message();
  EXPECT_TRUE(wg->wireguard.peers.empty());
  EXPECT_TRUE(wg->wireguard.addresses.empty());
  EXPECT_TRUE(wg->dns.empty());
}

}  // namespace
}  // namespace config
