// PubSubClient's buffer sizing (limits.h): the packet arithmetic against what was measured on the
// real library, and the largest packets the device receives and sends.
#include <gtest/gtest.h>

#include "fleet_core/limits.h"

TEST(MqttPacketSizes, RemainingLengthTakesOneByteFor7Bits) {
  EXPECT_EQ(fleet::mqttRemainingLengthBytes(0), 1u);
  EXPECT_EQ(fleet::mqttRemainingLengthBytes(127), 1u);
  EXPECT_EQ(fleet::mqttRemainingLengthBytes(128), 2u);
  EXPECT_EQ(fleet::mqttRemainingLengthBytes(16383), 2u);
  EXPECT_EQ(fleet::mqttRemainingLengthBytes(16384), 3u);
  EXPECT_EQ(fleet::mqttRemainingLengthBytes(268435455), 4u);
}

TEST(MqttPacketSizes, TheMeasuredConfigPacketMatchesTheArithmetic) {
  // Measured with PubSubClient 2.8: a 1015-byte config on fleet/devices/esp32-<12 hex>/config
  // (39 bytes), QoS 1, arrived as a 1061-byte packet; a 1060-byte buffer dropped it.
  EXPECT_EQ(fleet::mqttPublishBytes(39, 1015, /*qos1=*/true), 1061u);
  // Without the packet id the sum comes out 2 bytes short: the mistake the old comment made.
  EXPECT_EQ(fleet::mqttPublishBytes(39, 1015, /*qos1=*/false), 1059u);
}

TEST(MqttPacketSizes, TheLargestInboundPublishFitsTheBuffer) {
  const std::size_t largest =
      fleet::mqttPublishBytes(fleet::kMaxTopicLen, fleet::kMaxPayloadBytes, /*qos1=*/true);
  EXPECT_LE(largest, fleet::kMqttBufferBytes);
  // Its fixed header is 3 bytes; the buffer counts 5, so 2 bytes are spare and no more.
  EXPECT_EQ(fleet::kMqttBufferBytes - largest, 2u);
  // Those 2 spare bytes are all the slack: a topic 3 bytes longer would be dropped.
  EXPECT_GT(fleet::mqttPublishBytes(fleet::kMaxTopicLen + 3, fleet::kMaxPayloadBytes, true),
            fleet::kMqttBufferBytes);
}

TEST(MqttPacketSizes, TheConnectWithItsWillFits) {
  EXPECT_LE(fleet::kMqttConnectWorstCase, fleet::kMqttBufferBytes);
}
