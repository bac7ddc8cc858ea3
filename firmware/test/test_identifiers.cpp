#include <gtest/gtest.h>

#include "fleet_core/identifiers.h"

TEST(Identifiers, DeviceIdFromMacKeepsWireOrderInLowercaseHex) {
  const std::uint8_t mac[6] = {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6};
  EXPECT_EQ(fleet::deviceIdFromMac(mac), "esp32-a1b2c3d4e5f6");
  EXPECT_TRUE(fleet::isValidDeviceId(fleet::deviceIdFromMac(mac)));
  EXPECT_EQ(fleet::formatMac(mac), "a1:b2:c3:d4:e5:f6");
  const std::uint8_t zero[6] = {0, 0, 0, 0, 0, 1};
  EXPECT_EQ(fleet::deviceIdFromMac(zero), "esp32-000000000001");
}

TEST(Identifiers, DeviceIdPattern) {
  EXPECT_TRUE(fleet::isValidDeviceId("esp32-a1b2c3d4e5f6"));
  EXPECT_TRUE(fleet::isValidDeviceId("abc"));
  EXPECT_TRUE(fleet::isValidDeviceId(std::string(32, 'a')));
  EXPECT_FALSE(fleet::isValidDeviceId("ab"));
  EXPECT_FALSE(fleet::isValidDeviceId(std::string(33, 'a')));
  EXPECT_FALSE(fleet::isValidDeviceId("-esp32"));
  EXPECT_FALSE(fleet::isValidDeviceId("ESP32-A1"));
  EXPECT_FALSE(fleet::isValidDeviceId("esp32_a1b2"));
  EXPECT_FALSE(fleet::isValidDeviceId("esp32-a1b2\n"));
}

TEST(Identifiers, StudentIdPattern) {
  EXPECT_TRUE(fleet::isValidStudentId("U2021/0042"));
  EXPECT_TRUE(fleet::isValidStudentId("cs.2022_17-b"));
  EXPECT_TRUE(fleet::isValidStudentId("9"));
  EXPECT_TRUE(fleet::isValidStudentId(std::string(32, 'x')));
  EXPECT_FALSE(fleet::isValidStudentId(""));
  EXPECT_FALSE(fleet::isValidStudentId(std::string(33, 'x')));
  EXPECT_FALSE(fleet::isValidStudentId("/U2021"));
  EXPECT_FALSE(fleet::isValidStudentId("U2021 0042"));
  EXPECT_FALSE(fleet::isValidStudentId("notavalidid!"));
  EXPECT_FALSE(fleet::isValidStudentId("<script>"));
}

TEST(Identifiers, SsidAndPassword) {
  EXPECT_TRUE(fleet::isValidSsid("CS101_Attendance_2024_2025"));
  EXPECT_TRUE(fleet::isValidSsid(std::string(32, 'S')));
  EXPECT_FALSE(fleet::isValidSsid(std::string(33, 'S')));
  EXPECT_FALSE(fleet::isValidSsid(std::string(40, 'S')));
  EXPECT_FALSE(fleet::isValidSsid(""));
  EXPECT_FALSE(fleet::isValidSsid("CS101 Attendance"));
  EXPECT_FALSE(fleet::isValidSsid("CS101/2024"));
  EXPECT_TRUE(fleet::isValidApPassword(""));
  EXPECT_TRUE(fleet::isValidApPassword("12345678"));
  EXPECT_TRUE(fleet::isValidApPassword(std::string(63, 'p')));
  EXPECT_FALSE(fleet::isValidApPassword("1234567"));
  EXPECT_FALSE(fleet::isValidApPassword(std::string(64, 'p')));
  EXPECT_FALSE(fleet::isValidApPassword("caf\xc3\xa9-password"));  // not ASCII
  EXPECT_FALSE(fleet::isValidApPassword("tab\tpassword"));
}

TEST(Identifiers, ParseMacIsFormatMacBackwards) {
  std::uint8_t mac[6] = {};
  ASSERT_TRUE(fleet::parseMac("A1:b2:C3:d4:e5:F6", mac));
  EXPECT_EQ(fleet::formatMac(mac), "a1:b2:c3:d4:e5:f6");
  EXPECT_FALSE(fleet::parseMac("a1:b2:c3:d4:e5", mac));
  EXPECT_FALSE(fleet::parseMac("127.0.0.2", mac));
}

TEST(Identifiers, Mac) {
  EXPECT_TRUE(fleet::isValidMac("aa:bb:cc:dd:ee:ff"));
  EXPECT_TRUE(fleet::isValidMac("AA:BB:CC:DD:EE:01"));
  EXPECT_FALSE(fleet::isValidMac("aa-bb-cc-dd-ee-ff"));
  EXPECT_FALSE(fleet::isValidMac("aa:bb:cc:dd:ee"));
  EXPECT_FALSE(fleet::isValidMac("gg:bb:cc:dd:ee:ff"));
}

TEST(Identifiers, Utf8LengthCountsCharactersAndRejectsBadBytes) {
  EXPECT_EQ(fleet::utf8Length("abc"), 3u);
  EXPECT_EQ(fleet::utf8Length("caf\xc3\xa9"), 4u);       // café
  EXPECT_EQ(fleet::utf8Length("\xe2\x82\xac"), 1u);      // €
  EXPECT_EQ(fleet::utf8Length("\xf0\x9f\x98\x80"), 1u);  // emoji
  EXPECT_FALSE(fleet::utf8Length("\xc3"));               // truncated
  EXPECT_FALSE(fleet::utf8Length("\xc0\xaf"));           // overlong
  EXPECT_FALSE(fleet::utf8Length("\xed\xa0\x80"));       // surrogate
  EXPECT_FALSE(fleet::utf8Length("\xff"));
}

TEST(Identifiers, Trim) {
  EXPECT_EQ(fleet::trim("  U2021/0042 \r\n"), "U2021/0042");
  EXPECT_EQ(fleet::trim("   "), "");
}
