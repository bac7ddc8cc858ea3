#include <gtest/gtest.h>

#include "fleet_core/topics.h"

using fleet::Channel;
using fleet::parseDeviceTopic;
using fleet::Topics;

TEST(Topics, BuildsEveryDeviceTopicUnderTheRoot) {
  const Topics t("fleet", "esp32-a1b2c3d4e5f6");
  EXPECT_EQ(t.status(), "fleet/devices/esp32-a1b2c3d4e5f6/status");
  EXPECT_EQ(t.heartbeat(), "fleet/devices/esp32-a1b2c3d4e5f6/heartbeat");
  EXPECT_EQ(t.config(), "fleet/devices/esp32-a1b2c3d4e5f6/config");
  EXPECT_EQ(t.state(), "fleet/devices/esp32-a1b2c3d4e5f6/state");
  EXPECT_EQ(t.attendance(), "fleet/devices/esp32-a1b2c3d4e5f6/attendance");
  EXPECT_EQ(t.attendanceAck(), "fleet/devices/esp32-a1b2c3d4e5f6/attendance/ack");
  EXPECT_EQ(t.controllerStatus(), "fleet/controller/status");
}

TEST(Topics, MultiLevelRoot) {
  const Topics t("test/run-7", "esp32-000000000001");
  EXPECT_EQ(t.config(), "test/run-7/devices/esp32-000000000001/config");
  const auto parsed = parseDeviceTopic("test/run-7", t.attendanceAck());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->device_id, "esp32-000000000001");
  EXPECT_EQ(parsed->channel, Channel::kAttendanceAck);
}

TEST(Topics, ParsesEveryChannelBack) {
  const Topics t("fleet", "esp32-a1b2c3d4e5f6");
  for (Channel c : {Channel::kStatus, Channel::kHeartbeat, Channel::kConfig, Channel::kState,
                    Channel::kAttendance, Channel::kAttendanceAck}) {
    const auto parsed = parseDeviceTopic("fleet", t.of(c));
    ASSERT_TRUE(parsed) << t.of(c);
    EXPECT_EQ(parsed->channel, c);
    EXPECT_EQ(parsed->device_id, "esp32-a1b2c3d4e5f6");
  }
}

TEST(Topics, RejectsForeignOrMalformedTopics) {
  EXPECT_FALSE(parseDeviceTopic("fleet", "other/devices/esp32-a1b2c3d4e5f6/config"));
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleet/devices/esp32-a1b2c3d4e5f6"));
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleet/devices/esp32-a1b2c3d4e5f6/config/extra"));
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleet/devices/esp32-a1b2c3d4e5f6/unknown"));
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleet/devices/ESP32-A1B2/config"));  // bad id
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleet/devices//config"));
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleetx/devices/esp32-a1b2c3d4e5f6/config"));
  EXPECT_FALSE(parseDeviceTopic("fleet", "fleet/controller/status"));
}

TEST(Topics, ValidRoots) {
  EXPECT_TRUE(fleet::isValidRoot("fleet"));
  EXPECT_TRUE(fleet::isValidRoot("a/b/c"));
  EXPECT_FALSE(fleet::isValidRoot(""));
  EXPECT_FALSE(fleet::isValidRoot("/fleet"));
  EXPECT_FALSE(fleet::isValidRoot("fleet/"));
  EXPECT_FALSE(fleet::isValidRoot("a//b"));
  EXPECT_FALSE(fleet::isValidRoot("fleet/+"));
  EXPECT_FALSE(fleet::isValidRoot("fleet/#"));
  EXPECT_FALSE(fleet::isValidRoot(std::string(65, 'r')));
  EXPECT_TRUE(fleet::isValidRoot(std::string(64, 'r')));
  EXPECT_TRUE(fleet::isValidRoot("campus-1/fleet_v2.0"));
  EXPECT_FALSE(fleet::isValidRoot("fl eet"));
  EXPECT_FALSE(fleet::isValidRoot(std::string("fl\0et", 6)));
  EXPECT_FALSE(fleet::isValidRoot("fl\x01et"));
  EXPECT_FALSE(fleet::isValidRoot("caf\xc3\xa9"));
  EXPECT_FALSE(fleet::isValidRoot(".hidden"));
}
