#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/provisioning.h"

using fleet::ConsoleCommandKind;

namespace {

std::string run(const std::string& line, fakes::MemoryStorage& flash, bool* reboot = nullptr) {
  const fleet::ConsoleOutput out = fleet::runConsoleCommand(fleet::parseConsoleLine(line), flash);
  if (reboot != nullptr) *reboot = out.reboot;
  return out.text;
}

}  // namespace

TEST(Provisioning, SetWritesSettingsThatLoadBack) {
  fakes::MemoryStorage flash;
  EXPECT_EQ(run("set wifi_ssid Campus WiFi\r\n", flash), "ok: wifi_ssid saved (reboot to apply)\n");
  run("set wifi_pass campus-secret", flash);
  run("set broker mqtt://10.0.0.5:1883", flash);
  run("set mqtt_user esp32-a1b2c3d4e5f6", flash);
  run("set mqtt_pass s3cret", flash);
  const fleet::NetSettings s = fleet::loadNetSettings(flash);
  EXPECT_EQ(s.wifi_ssid, "Campus WiFi");
  EXPECT_EQ(s.wifi_pass, "campus-secret");
  EXPECT_EQ(s.broker, "mqtt://10.0.0.5:1883");
  EXPECT_EQ(s.mqtt_user, "esp32-a1b2c3d4e5f6");
  EXPECT_EQ(s.mqtt_pass, "s3cret");
  EXPECT_EQ(s.root, "fleet");
  EXPECT_TRUE(flash.bad_keys.empty());
}

TEST(Provisioning, ShowMasksPasswords) {
  fakes::MemoryStorage flash;
  run("set wifi_ssid Campus", flash);
  run("set wifi_pass campus-secret", flash);
  const std::string shown = run("show", flash);
  EXPECT_NE(shown.find("wifi_ssid = Campus"), std::string::npos);
  EXPECT_NE(shown.find("wifi_pass = ********"), std::string::npos);
  EXPECT_EQ(shown.find("campus-secret"), std::string::npos);
  EXPECT_NE(shown.find("mqtt_pass = (none)"), std::string::npos);
}

TEST(Provisioning, EmptyValueClears) {
  fakes::MemoryStorage flash;
  run("set mqtt_user someone", flash);
  run("set mqtt_user", flash);
  EXPECT_EQ(fleet::loadNetSettings(flash).mqtt_user, "");
  EXPECT_EQ(flash.data.count("mqtt_user"), 0u);
}

TEST(Provisioning, RejectsBadValuesAndCommands) {
  fakes::MemoryStorage flash;
  EXPECT_EQ(run("set broker http://x", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set broker mqtt://host:99999", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set wifi_pass short", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set wifi_ssid " + std::string(33, 's'), flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set colour blue", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set root fleet/#", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("format", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set", flash).rfind("error:", 0), 0u);
  EXPECT_TRUE(flash.data.empty());
}

TEST(Provisioning, RebootHelpAndBlank) {
  fakes::MemoryStorage flash;
  bool reboot = false;
  run("reboot", flash, &reboot);
  EXPECT_TRUE(reboot);
  EXPECT_NE(run("help", flash).find("set broker"), std::string::npos);
  EXPECT_EQ(fleet::parseConsoleLine("   \r\n").kind, ConsoleCommandKind::kEmpty);
}

TEST(Provisioning, BrokerUrls) {
  auto url = fleet::parseBrokerUrl("mqtt://127.0.0.1:18830");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 18830);
  url = fleet::parseBrokerUrl("mqtt://broker.campus.edu");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->port, 1883);
  url = fleet::parseBrokerUrl("mqtt://[::1]:1884");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 1884);
  EXPECT_FALSE(url->tls);
  url = fleet::parseBrokerUrl("mqtts://broker.campus.edu");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, 8883);
  url = fleet::parseBrokerUrl("mqtts://[::1]:18883");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, 18883);
  EXPECT_FALSE(fleet::parseBrokerUrl("mqttss://x:8883"));
  EXPECT_FALSE(fleet::parseBrokerUrl("mqtts://"));
  EXPECT_FALSE(fleet::parseBrokerUrl("ssl://x:8883"));
  EXPECT_FALSE(fleet::parseBrokerUrl("mqtt://"));
  EXPECT_FALSE(fleet::parseBrokerUrl("mqtt://x:"));
  EXPECT_FALSE(fleet::parseBrokerUrl("mqtt://x:0"));
  EXPECT_FALSE(fleet::parseBrokerUrl("mqtt://user@x:1883"));
}

TEST(Provisioning, BrokerLists) {
  auto list = fleet::parseBrokerList("mqtt://10.0.0.5:1883,10.0.0.6,[::1]:1884");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].host, "10.0.0.5");
  EXPECT_EQ((*list)[1].host, "10.0.0.6");
  EXPECT_EQ((*list)[1].port, 1883);
  EXPECT_EQ((*list)[2].host, "::1");
  EXPECT_EQ((*list)[2].port, 1884);
  list = fleet::parseBrokerList("mqtts://a.campus.edu,b.campus.edu:9883");
  ASSERT_TRUE(list);
  EXPECT_TRUE((*list)[0].tls && (*list)[1].tls);
  EXPECT_EQ((*list)[0].port, 8883);
  EXPECT_EQ((*list)[1].port, 9883);
  list = fleet::parseBrokerList("mqtt://one:1883");  // one broker is a list of one
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 1u);
  EXPECT_FALSE(fleet::parseBrokerList("mqtt://a:1883,,b:1883"));
  EXPECT_FALSE(fleet::parseBrokerList("mqtt://a:1883,"));
  EXPECT_FALSE(fleet::parseBrokerList("mqtt://a:1883,mqtt://b:1883"));
  EXPECT_FALSE(fleet::parseBrokerList("mqtt://a:1883,a:1883"));
  EXPECT_FALSE(fleet::parseBrokerList("mqtt://a:1883,b:0"));
  EXPECT_FALSE(fleet::parseBrokerList("a:1883,b:1883"));
  EXPECT_FALSE(fleet::parseBrokerList("mqtt://a,b,c,d,e"));  // more than kMaxBrokers
  EXPECT_TRUE(fleet::parseBrokerList("mqtt://a,b,c,d"));
}

TEST(Provisioning, TheBrokerSettingTakesAList) {
  fakes::MemoryStorage flash;
  EXPECT_EQ(run("set broker mqtt://10.0.0.5:1883,10.0.0.6:1883,10.0.0.7:1883", flash),
            "ok: broker saved (reboot to apply)\n");
  EXPECT_EQ(fleet::loadNetSettings(flash).broker, "mqtt://10.0.0.5:1883,10.0.0.6:1883,10.0.0.7:1883");
  EXPECT_EQ(run("set broker mqtt://a:1883,,b:1883", flash).rfind("error: broker must", 0), 0u);
}

TEST(Provisioning, CaCertIsOneLineOfBase64AndBecomesPem) {
  fakes::MemoryStorage flash;
  const std::string body(100, 'A');  // 100 base64 characters (75 bytes of DER)
  EXPECT_EQ(run("set ca_cert " + body, flash), "ok: ca_cert saved (reboot to apply)\n");
  EXPECT_EQ(fleet::loadNetSettings(flash).ca_cert, body);
  EXPECT_NE(run("show", flash).find("ca_cert   = 100 base64 characters"), std::string::npos);
  EXPECT_EQ(run("set ca_cert -----BEGIN CERTIFICATE-----", flash).rfind("error: ca_cert", 0), 0u);
  EXPECT_EQ(run("set ca_cert " + std::string(99, 'A'), flash).rfind("error:", 0), 0u);  // not 4n
  EXPECT_EQ(run("set ca_cert " + std::string(3004, 'A'), flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set ca_cert " + std::string(96, 'A') + "AA==", flash),
            "ok: ca_cert saved (reboot to apply)\n");
  EXPECT_EQ(run("set ca_cert " + std::string(96, 'A') + "A=A=", flash).rfind("error:", 0), 0u);
  EXPECT_EQ(run("set ca_cert", flash), "ok: ca_cert saved (reboot to apply)\n");  // cleared
  EXPECT_EQ(fleet::loadNetSettings(flash).ca_cert, "");
  EXPECT_EQ(fleet::pemCertificate(std::string(70, 'B')),
            "-----BEGIN CERTIFICATE-----\n" + std::string(64, 'B') + "\n" + std::string(6, 'B') +
                "\n-----END CERTIFICATE-----\n");
  EXPECT_NE(run("help", flash).find("mqtts://"), std::string::npos);
}

TEST(Provisioning, UpdateKeyIsThePublicKeyPemBodyOnOneLine) {
  fakes::MemoryStorage flash;
  // `fleet firmware keygen`'s public key: a P-256 SubjectPublicKeyInfo, 124 base64 characters.
  const std::string key =
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq1m0z8eYx5bqcd3zQ8sW7b9WmYVx2o5m0t8gU9qvS1GmQZ0b0wY6"
      "cB2k4o1t2ZbqkQx0m1n4o5p6q7r8s9t0uA==";
  EXPECT_EQ(run("set update_key " + key, flash), "ok: update_key saved (reboot to apply)\n");
  EXPECT_EQ(fleet::loadNetSettings(flash).update_key, key);
  EXPECT_NE(fleet::describeSettings(fleet::loadNetSettings(flash)).find("update_key = 124 base64"),
            std::string::npos);
  EXPECT_EQ(run("set update_key -----BEGIN PUBLIC KEY-----", flash).rfind("error: update_key", 0),
            0u);
  EXPECT_EQ(fleet::loadNetSettings(flash).update_key, key);
  run("set update_key", flash);
  EXPECT_NE(fleet::describeSettings(fleet::loadNetSettings(flash)).find("firmware updates refused"),
            std::string::npos);
}
