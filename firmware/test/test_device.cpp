#include <gtest/gtest.h>

#include <memory>

#include "fakes.h"
#include "fleet_core/config.h"
#include "fleet_core/device.h"
#include "fleet_core/messages.h"
#include "fleet_core/storage_keys.h"
#include "samples.h"

using fakes::bytes;
using fleet::CheckinResult;

namespace {

const std::string kId = "esp32-a1b2c3d4e5f6";

class DeviceTest : public ::testing::Test, protected fakes::FakePorts {
 protected:
  // A fresh Device over the same flash: a reboot.
  void boot(bool connected = false) {
    transport.is_connected = connected;
    transport.clear();
    transport.subscriptions.clear();
    fleet::DeviceOptions options;
    options.device_id = kId;
    options.queue_capacity = capacity;
    device = std::make_unique<fleet::Device>(options, ports());
    device->begin();
  }
  void connect() {
    transport.is_connected = true;
    device->onConnected();
  }
  void disconnect() {
    transport.is_connected = false;
    device->loop();
  }
  void deliver(const std::string& leaf, const std::string& payload) {
    device->onMessage("fleet/devices/" + kId + "/" + leaf, bytes(payload), payload.size());
  }
  std::string topic(const std::string& leaf) const { return "fleet/devices/" + kId + "/" + leaf; }
  fleet::StateMsg lastState() const {
    const auto states = transport.on(topic("state"));
    EXPECT_FALSE(states.empty());
    EXPECT_TRUE(states.back().retained);
    const auto state =
        fleet::decodeState(bytes(states.back().payload), states.back().payload.size(), &kId);
    EXPECT_TRUE(state.ok()) << state.error().describe();
    return state.value();
  }
  std::vector<fleet::CheckinEvent> sentEvents() const {
    std::vector<fleet::CheckinEvent> events;
    for (const auto& p : transport.on(topic("attendance"))) {
      EXPECT_FALSE(p.retained);
      const auto msg = fleet::decodeAttendance(bytes(p.payload), p.payload.size(), &kId);
      EXPECT_TRUE(msg.ok()) << msg.error().describe();
      for (const auto& e : msg.value().events) events.push_back(e);
    }
    return events;
  }

  std::size_t capacity = fleet::kQueueCapacity;
  std::unique_ptr<fleet::Device> device;
};

}  // namespace

TEST_F(DeviceTest, FreshDeviceBootsIdleWithBootOne) {
  boot();
  EXPECT_EQ(device->boot(), 1u);
  EXPECT_EQ(device->appliedConfig().version, 0u);
  EXPECT_FALSE(ap.running);
  EXPECT_TRUE(transport.published.empty());
  EXPECT_EQ(device->willTopic(), topic("status"));
  EXPECT_EQ(device->willPayload(), R"({"v":1,"id":"esp32-a1b2c3d4e5f6","online":false,"boot":1})");
}

TEST_F(DeviceTest, BootCounterRisesAtEachBoot) {
  boot();
  boot();
  boot();
  EXPECT_EQ(device->boot(), 3u);
  EXPECT_NE(device->willPayload().find("\"boot\":3"), std::string::npos);
}

TEST_F(DeviceTest, ServesTheStoredSsidBeforeAnyNetwork) {
  flash.data[fleet::keys::kConfig] = fleet::encodeConfig(samples::activeConfig(7));
  boot(false);  // broker unreachable
  EXPECT_TRUE(ap.running);
  EXPECT_EQ(ap.ssid, "CS101_Attendance_2024_2025");
  EXPECT_EQ(device->appliedConfig().version, 7u);
  EXPECT_TRUE(transport.published.empty());
  EXPECT_EQ(device->checkin("U2021/0042", "", ""), CheckinResult::kCheckedIn);  // offline check-in
}

TEST_F(DeviceTest, OnConnectedPublishesBirthSubscribesHeartbeatAndState) {
  boot();
  connect();
  ASSERT_EQ(transport.published.size(), 3u);
  EXPECT_EQ(transport.published[0].topic, topic("status"));
  EXPECT_TRUE(transport.published[0].retained);
  EXPECT_EQ(
      transport.published[0].payload,
      R"({"v":1,"id":"esp32-a1b2c3d4e5f6","online":true,"boot":1,"fw":"1.0.0","ip":"10.1.2.3"})");
  EXPECT_EQ(transport.published[1].topic, topic("heartbeat"));
  EXPECT_FALSE(transport.published[1].retained);
  EXPECT_EQ(transport.published[2].topic, topic("state"));
  const fleet::StateMsg state = lastState();
  EXPECT_EQ(state.config_version, 0u);
  EXPECT_FALSE(state.active_session);
  ASSERT_EQ(transport.subscriptions.size(), 2u);
  EXPECT_EQ(transport.subscriptions[0], std::make_pair(topic("config"), 1));
  EXPECT_EQ(transport.subscriptions[1], std::make_pair(topic("attendance/ack"), 1));
}

TEST_F(DeviceTest, AppliesAnActiveConfigAndReportsIt) {
  boot();
  connect();
  transport.clear();
  deliver("config", samples::activeConfigJson(7));
  EXPECT_TRUE(ap.running);
  EXPECT_EQ(ap.ssid, "CS101_Attendance_2024_2025");
  EXPECT_EQ(ap.password, "");
  const fleet::StateMsg state = lastState();
  EXPECT_EQ(state.result, fleet::ApplyResult::kApplied);
  EXPECT_EQ(state.config_version, 7u);
  EXPECT_TRUE(state.active_session);
  EXPECT_EQ(state.session_id, 42u);
  EXPECT_EQ(state.ssid, "CS101_Attendance_2024_2025");
  // Kept in flash: the next boot serves it at once.
  ap.running = false;
  boot(false);
  EXPECT_TRUE(ap.running);
  EXPECT_EQ(device->appliedConfig().version, 7u);
}

TEST_F(DeviceTest, RejectsAnInvalidConfigAndKeepsThePreviousOne) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  const std::string stored = flash.data[fleet::keys::kConfig];
  deliver("config", samples::activeConfigJson(8, 43, std::string(40, 'S')));
  const fleet::StateMsg state = lastState();
  EXPECT_EQ(state.result, fleet::ApplyResult::kRejected);
  EXPECT_EQ(state.config_version, 8u);
  EXPECT_EQ(state.error, "ssid must be 1..32 characters of [A-Za-z0-9_-]");
  EXPECT_EQ(state.applied_version, 7u);
  EXPECT_EQ(ap.ssid, "CS101_Attendance_2024_2025");
  EXPECT_EQ(flash.data[fleet::keys::kConfig], stored);
  EXPECT_EQ(device->appliedConfig().version, 7u);
  EXPECT_EQ(device->snapshot().rejected_version, 8u);
}

TEST_F(DeviceTest, VersionRuleIgnoresEqualAndLowerVersionsAcrossReboots) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  transport.clear();
  deliver("config", samples::activeConfigJson(7, 99, "Other_SSID"));
  deliver("config", samples::idleConfigJson(6));
  EXPECT_TRUE(transport.on(topic("state")).empty());
  EXPECT_EQ(device->stats().configs_ignored, 2u);
  EXPECT_EQ(ap.ssid, "CS101_Attendance_2024_2025");
  boot(true);
  connect();
  transport.clear();
  deliver("config", samples::activeConfigJson(7));  // the retained config again after a reboot
  EXPECT_TRUE(transport.on(topic("state")).empty());
  deliver("config", samples::idleConfigJson(8));
  EXPECT_EQ(lastState().config_version, 8u);
  EXPECT_FALSE(ap.running);
}

TEST_F(DeviceTest, IdleConfigStopsTheAccessPoint) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  deliver("config", samples::idleConfigJson(8));
  EXPECT_FALSE(ap.running);
  const fleet::StateMsg state = lastState();
  EXPECT_EQ(state.config_version, 8u);
  EXPECT_FALSE(state.active_session);
  EXPECT_EQ(device->checkin("U2021/0042", "", ""), CheckinResult::kNoActiveSession);
}

TEST_F(DeviceTest, SameNetworkUnderANewVersionKeepsTheAccessPointUp) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  deliver("config", samples::activeConfigJson(9));
  EXPECT_EQ(ap.starts, 1);
  EXPECT_EQ(lastState().config_version, 9u);
}

TEST_F(DeviceTest, AccessPointFailureRejectsAndRestores) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  ap.fail_start = true;
  deliver("config", samples::activeConfigJson(8, 43, "Other_SSID"));
  const fleet::StateMsg state = lastState();
  EXPECT_EQ(state.result, fleet::ApplyResult::kRejected);
  EXPECT_EQ(state.error, "access point did not start");
  const auto stored = fleet::decodeConfig(bytes(flash.data[fleet::keys::kConfig]),
                                          flash.data[fleet::keys::kConfig].size());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored.value().version, 7u);
}

TEST_F(DeviceTest, FlashFailureRejectsTheConfig) {
  boot();
  connect();
  flash.fail_writes = true;
  deliver("config", samples::activeConfigJson(7));
  EXPECT_EQ(lastState().error, "could not store the config in flash");
  EXPECT_FALSE(ap.running);
}

TEST_F(DeviceTest, BadInboundMessagesAreCountedAndDropped) {
  boot();
  connect();
  transport.clear();
  deliver("config", "{not json");
  deliver("config", R"({"v":2,"version":9,"active_session":false})");
  deliver("attendance/ack", R"({"v":1,"upto":"x"})");
  device->onMessage("fleet/devices/esp32-000000000001/config", bytes("{}"), 2);
  deliver("heartbeat", "{}");
  EXPECT_EQ(device->stats().inbound_dropped, 5u);
  EXPECT_TRUE(transport.published.empty());
  EXPECT_TRUE(logger.contains("bad_json"));
}

TEST_F(DeviceTest, CheckinResults) {
  boot();
  connect();
  EXPECT_EQ(device->checkin("U2021/0042", "", ""), CheckinResult::kNoActiveSession);
  deliver("config", samples::activeConfigJson(7));
  EXPECT_EQ(device->checkin("bad id!", "", ""), CheckinResult::kBadStudentId);
  EXPECT_EQ(device->checkin("", "", ""), CheckinResult::kBadStudentId);
  EXPECT_EQ(device->checkin(" U2021/0042 ", "AA:BB:CC:DD:EE:FF", ""), CheckinResult::kCheckedIn);
  EXPECT_EQ(device->checkin("U2021/0042", "", ""), CheckinResult::kAlreadyCheckedIn);
  EXPECT_EQ(device->queued(), 1u);
}

TEST_F(DeviceTest, CheckinIsSentAsAnAttendanceBatch) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  clock.advance(5000);
  device->checkin("U2021/0042", "AA:BB:CC:DD:EE:FF", "");
  device->loop();
  const auto events = sentEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].seq, 1u);
  EXPECT_EQ(events[0].student_id, "U2021/0042");
  EXPECT_EQ(events[0].station_mac, "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(events[0].uptime_ms, 5000u);
  const auto payload = transport.on(topic("attendance")).back().payload;
  EXPECT_NE(payload.find("\"session_id\":42"), std::string::npos);
  device->loop();
  EXPECT_EQ(sentEvents().size(), 1u);  // not sent twice while waiting for the ack
}

TEST_F(DeviceTest, AckDropsEventsFromTheQueueAndFlash) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  device->checkin("S1", "", "");
  device->checkin("S2", "", "");
  device->checkin("S3", "", "");
  device->loop();
  deliver("attendance/ack", samples::ackJson(2));
  EXPECT_EQ(device->queued(), 1u);
  EXPECT_EQ(flash.data.count(fleet::keys::queueSlot(1)), 0u);
  EXPECT_EQ(flash.data.count(fleet::keys::queueSlot(3)), 1u);
  deliver("attendance/ack", samples::ackJson(3));
  EXPECT_EQ(device->queued(), 0u);
  EXPECT_EQ(device->stats().events_acked, 3u);
}

TEST_F(DeviceTest, ResendsEveryUnackedEventAfterReconnecting) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  device->checkin("S1", "", "");
  device->checkin("S2", "", "");
  device->checkin("S3", "", "");
  device->loop();
  deliver("attendance/ack", samples::ackJson(1));
  disconnect();
  transport.clear();
  connect();
  const auto events = sentEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].seq, 2u);
  EXPECT_EQ(events[1].seq, 3u);
}

TEST_F(DeviceTest, OfflineCheckinsAreSentOnConnect) {
  boot(false);
  deliver("config", samples::activeConfigJson(7));  // e.g. applied before the link dropped
  device->checkin("S1", "", "");
  device->loop();
  EXPECT_TRUE(transport.published.empty());
  connect();
  ASSERT_EQ(sentEvents().size(), 1u);
}

TEST_F(DeviceTest, QueueAndDuplicateCheckSurviveAReboot) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  device->checkin("S1", "", "");
  device->checkin("S2", "", "");
  boot(false);
  EXPECT_EQ(device->queued(), 2u);
  EXPECT_EQ(device->checkin("S1", "", ""), CheckinResult::kAlreadyCheckedIn);
  EXPECT_EQ(device->checkin("S3", "", ""), CheckinResult::kCheckedIn);
  connect();
  const auto events = sentEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].seq, 3u);
}

TEST_F(DeviceTest, ResendsWhenNoAckArrives) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  device->checkin("S1", "", "");
  device->loop();
  clock.advance(fleet::kAckTimeoutMs - 1);
  device->loop();
  EXPECT_EQ(sentEvents().size(), 1u);
  clock.advance(1);
  device->loop();
  EXPECT_EQ(sentEvents().size(), 2u);
}

TEST_F(DeviceTest, NewCheckinsDoNotPutOffTheResendOfUnackedOnes) {
  // a controller holding its ack for a lost batch waits for this resend: check-ins coming more
  // often than the ack timeout must not restart it
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  device->checkin("S1", "", "");
  device->loop();
  for (int n = 2; n <= 4; ++n) {
    clock.advance(fleet::kAckTimeoutMs / 4);
    device->checkin("S" + std::to_string(n), "", "");
    device->loop();
  }
  ASSERT_EQ(sentEvents().size(), 4u);  // one batch each, none acked
  clock.advance(fleet::kAckTimeoutMs - 3 * (fleet::kAckTimeoutMs / 4));
  device->loop();
  const auto events = sentEvents();
  ASSERT_EQ(events.size(), 8u);  // the whole queue again, 30 s after S1 went out
  EXPECT_EQ(events[4].seq, 1u);
  EXPECT_EQ(events[7].seq, 4u);
}

TEST_F(DeviceTest, HeartbeatEvery30Seconds) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  transport.clear();
  clock.advance(29999);
  device->loop();
  EXPECT_TRUE(transport.on(topic("heartbeat")).empty());
  clock.advance(1);
  device->loop();
  const auto beats = transport.on(topic("heartbeat"));
  ASSERT_EQ(beats.size(), 1u);
  const auto hb = fleet::decodeHeartbeat(bytes(beats[0].payload), beats[0].payload.size(), &kId);
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb.value().uptime_s, 30u);
  EXPECT_EQ(hb.value().config_version, 7u);
  EXPECT_EQ(hb.value().rssi, -61);
  EXPECT_EQ(hb.value().stations, 0u);
  EXPECT_EQ(hb.value().stations_peak, 0u);
  // Default options: a platform whose radio refuses without telling leaves refusals out. Both
  // ports see them (the ESP32 through its spare slot): test_stations.cpp.
  EXPECT_FALSE(hb.value().stations_refused);
  EXPECT_EQ(hb.value().checkins_served, 0u);
  EXPECT_EQ(hb.value().queued, 0u);
}

TEST_F(DeviceTest, NoHeartbeatWhileDisconnected) {
  boot();
  connect();
  disconnect();
  transport.clear();
  clock.advance(120000);
  device->loop();
  EXPECT_TRUE(transport.published.empty());
}

TEST_F(DeviceTest, ShutdownPublishesRetainedOfflineWithReason) {
  boot();
  connect();
  transport.clear();
  EXPECT_TRUE(device->publishShutdown());
  ASSERT_EQ(transport.published.size(), 1u);
  EXPECT_EQ(transport.published[0].topic, topic("status"));
  EXPECT_TRUE(transport.published[0].retained);
  EXPECT_EQ(transport.published[0].payload,
            R"({"v":1,"id":"esp32-a1b2c3d4e5f6","online":false,"boot":1,"reason":"shutdown"})");
}

TEST_F(DeviceTest, NewSessionStartsANewDuplicateCheck) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7, 42));
  EXPECT_EQ(device->checkin("S1", "", ""), CheckinResult::kCheckedIn);
  deliver("config", samples::activeConfigJson(8, 43, "CS102_Attendance_2024_2025"));
  EXPECT_EQ(device->checkin("S1", "", ""), CheckinResult::kCheckedIn);
  device->loop();
  const auto batches = transport.on(topic("attendance"));
  ASSERT_EQ(batches.size(), 2u);  // one per session
  EXPECT_NE(batches[0].payload.find("\"session_id\":42"), std::string::npos);
  EXPECT_NE(batches[1].payload.find("\"session_id\":43"), std::string::npos);
}

TEST_F(DeviceTest, FullQueueRefusesCheckins) {
  capacity = 2;
  boot(false);
  deliver("config", samples::activeConfigJson(7));
  EXPECT_EQ(device->checkin("S1", "", ""), CheckinResult::kCheckedIn);
  EXPECT_EQ(device->checkin("S2", "", ""), CheckinResult::kCheckedIn);
  EXPECT_EQ(device->checkin("S3", "", ""), CheckinResult::kQueueFull);
}

TEST_F(DeviceTest, FlashFailureOnCheckinIsReported) {
  boot(false);
  deliver("config", samples::activeConfigJson(7));
  flash.fail_writes = true;
  EXPECT_EQ(device->checkin("S1", "", ""), CheckinResult::kStorageError);
  flash.fail_writes = false;
  EXPECT_EQ(device->checkin("S1", "", ""), CheckinResult::kCheckedIn);
}

TEST_F(DeviceTest, ManyCheckinsGoOutInSeveralBatches) {
  boot();
  connect();
  deliver("config", samples::activeConfigJson(7));
  for (int i = 0; i < 100; ++i)
    device->checkin("U2021/" + std::to_string(1000 + i), "aa:bb:cc:dd:ee:ff", "");
  for (int i = 0; i < 10; ++i) device->loop();
  for (const auto& p : transport.on(topic("attendance"))) EXPECT_LE(p.payload.size(), 1024u);
  const auto events = sentEvents();
  ASSERT_EQ(events.size(), 100u);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq, i + 1);
}

TEST(DeviceOptions, Validation) {
  fleet::DeviceOptions options;
  options.device_id = kId;
  EXPECT_FALSE(fleet::validateOptions(options));
  options.device_id = "Bad_Id";
  EXPECT_TRUE(fleet::validateOptions(options));
  options.device_id = kId;
  options.root = "fleet/#";
  EXPECT_TRUE(fleet::validateOptions(options));
}
