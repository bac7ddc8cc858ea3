#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/limits.h"
#include "fleet_core/messages.h"

using fakes::bytes;
using fleet::RejectReason;

namespace {

const std::string kId = "esp32-a1b2c3d4e5f6";

template <typename Fn>
auto decode(Fn fn, const std::string& text, const std::string* id = nullptr) {
  return fn(bytes(text), text.size(), id);
}

fleet::Decoded<fleet::AckMsg> ack(const std::string& text) {
  return fleet::decodeAck(bytes(text), text.size());
}

}  // namespace

TEST(Messages, StatusBirthMatchesTheContractExample) {
  fleet::StatusMsg birth;
  birth.online = true;
  birth.boot = 12;
  birth.fw = "1.0.0";
  birth.ip = "10.1.2.3";
  EXPECT_EQ(
      fleet::encodeStatus(kId, birth),
      R"({"v":1,"id":"esp32-a1b2c3d4e5f6","online":true,"boot":12,"fw":"1.0.0","ip":"10.1.2.3"})");
}

TEST(Messages, StatusRoundTripWithShutdownReason) {
  fleet::StatusMsg will;
  will.online = false;
  will.boot = 4294967295u;
  will.reason = "shutdown";
  const std::string text = fleet::encodeStatus(kId, will);
  EXPECT_EQ(
      text,
      R"({"v":1,"id":"esp32-a1b2c3d4e5f6","online":false,"boot":4294967295,"reason":"shutdown"})");
  const auto back = decode(fleet::decodeStatus, text, &kId);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_FALSE(back.value().online);
  EXPECT_EQ(back.value().boot, 4294967295u);
  EXPECT_EQ(back.value().reason, "shutdown");
  EXPECT_FALSE(back.value().fw);
}

TEST(Messages, HeartbeatRoundTrip) {
  fleet::HeartbeatMsg hb;
  hb.boot = 12;
  hb.uptime_s = 3600;
  hb.rssi = -61;
  hb.heap = 143000;
  hb.fw = "1.0.0";
  hb.config_version = 7;
  hb.stations = 18;
  hb.queued = 0;
  hb.stations_peak = 10;
  hb.stations_refused = 4;
  hb.checkins_served = 112;
  const std::string text = fleet::encodeHeartbeat(kId, hb);
  EXPECT_EQ(
      text,
      R"({"v":1,"id":"esp32-a1b2c3d4e5f6","boot":12,"uptime_s":3600,"rssi":-61,"heap":143000,)"
      R"("fw":"1.0.0","config_version":7,"stations":18,"queued":0,"stations_peak":10,)"
      R"("stations_refused":4,"checkins_served":112})");
  const auto back = decode(fleet::decodeHeartbeat, text, &kId);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back.value().rssi, -61);
  EXPECT_EQ(back.value().config_version, 7u);
  EXPECT_EQ(back.value().queued, 0u);
  EXPECT_EQ(back.value().stations_peak, 10u);
  EXPECT_EQ(back.value().stations_refused, 4u);
  EXPECT_EQ(back.value().checkins_served, 112u);
}

TEST(Messages, StateAppliedAndRejectedRoundTrip) {
  fleet::StateMsg applied;
  applied.config_version = 7;
  applied.active_session = true;
  applied.session_id = 42;
  applied.ssid = "CS101_Attendance_2024_2025";
  const std::string a = fleet::encodeState(kId, applied);
  EXPECT_EQ(a, R"({"v":1,"id":"esp32-a1b2c3d4e5f6","config_version":7,"result":"applied",)"
               R"("active_session":true,"session_id":42,"ssid":"CS101_Attendance_2024_2025"})");
  const auto a_back = decode(fleet::decodeState, a, &kId);
  ASSERT_TRUE(a_back.ok()) << a_back.error().describe();
  EXPECT_EQ(a_back.value().session_id, 42u);

  fleet::StateMsg rejected;
  rejected.config_version = 9;
  rejected.result = fleet::ApplyResult::kRejected;
  rejected.error = "ssid must be 1..32 characters of [A-Za-z0-9_-]";
  rejected.applied_version = 8;
  const std::string r = fleet::encodeState(kId, rejected);
  const auto r_back = decode(fleet::decodeState, r, &kId);
  ASSERT_TRUE(r_back.ok()) << r_back.error().describe();
  EXPECT_EQ(r_back.value().result, fleet::ApplyResult::kRejected);
  EXPECT_EQ(r_back.value().error, rejected.error);
  EXPECT_EQ(r_back.value().applied_version, 8u);
  EXPECT_EQ(r.find("active_session"), std::string::npos);
}

TEST(Messages, StateIdleHasNoSessionFields) {
  fleet::StateMsg idle;
  idle.config_version = 8;
  EXPECT_EQ(
      fleet::encodeState(kId, idle),
      R"({"v":1,"id":"esp32-a1b2c3d4e5f6","config_version":8,"result":"applied","active_session":false})");
}

TEST(Messages, AttendanceRoundTrip) {
  fleet::AttendanceMsg msg;
  msg.session_id = 42;
  fleet::CheckinEvent e;
  e.seq = 17;
  e.student_id = "U2021/0042";
  e.station_mac = "aa:bb:cc:dd:ee:ff";
  e.uptime_ms = 912345;
  msg.events.push_back(e);
  const std::string text = fleet::encodeAttendance(kId, msg);
  EXPECT_EQ(text,
            R"({"v":1,"id":"esp32-a1b2c3d4e5f6","session_id":42,"events":[{"seq":17,)"
            R"("student_id":"U2021/0042","station_mac":"aa:bb:cc:dd:ee:ff","uptime_ms":912345}]})");
  const auto back = decode(fleet::decodeAttendance, text, &kId);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  ASSERT_EQ(back.value().events.size(), 1u);
  EXPECT_EQ(back.value().events[0].student_id, "U2021/0042");
  EXPECT_EQ(back.value().events[0].uptime_ms, 912345u);
}

TEST(Messages, AckRoundTrip) {
  EXPECT_EQ(fleet::encodeAck({17}), R"({"v":1,"upto":17})");
  const auto back = ack(R"({"v":1,"upto":17,"stored":3})");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value().upto, 17u);
}

TEST(Messages, RejectsWithTheContractReasons) {
  EXPECT_EQ(ack("not json").error().reason, RejectReason::kBadJson);
  EXPECT_EQ(ack(R"({"v":1,"upto":17} trailing)").error().reason, RejectReason::kBadJson);
  EXPECT_EQ(ack("[1,2]").error().reason, RejectReason::kNotObject);
  EXPECT_EQ(ack(R"({"v":2,"upto":1})").error().reason, RejectReason::kBadVersion);
  EXPECT_EQ(ack(R"({"v":"1","upto":1})").error().reason, RejectReason::kBadVersion);
  EXPECT_EQ(ack(R"({"v":1.0,"upto":1})").error().reason, RejectReason::kBadVersion);
  EXPECT_EQ(ack(R"({"upto":1})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1,"upto":-1})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1,"upto":17.5})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1,"upto":1e3})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1,"upto":4294967296})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1,"upto":"17"})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(R"({"v":1,"upto":null})").error().reason, RejectReason::kSchema);
  EXPECT_EQ(ack(std::string("{\"v\":1,\"upto\":1}\0x", 18)).error().reason, RejectReason::kBadJson);
  EXPECT_EQ(ack("{\"v\":1,\"upto\":1,\"x\":\"\xff\"}").error().reason, RejectReason::kBadJson);
}

TEST(Messages, RejectsPayloadsOver1024Bytes) {
  const std::string padding(1100, 'x');
  const std::string text = R"({"v":1,"upto":1,"pad":")" + padding + "\"}";
  EXPECT_EQ(ack(text).error().reason, RejectReason::kTooLarge);
}

TEST(Messages, RejectsDeepNesting) {
  std::string deep = R"({"v":1,"upto":1,"x":)";
  deep += std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_EQ(ack(deep).error().reason, RejectReason::kBadJson);
}

TEST(Messages, IgnoresUnknownFieldsEvenWithFractions) {
  const auto back = ack(R"({"v":1,"upto":5,"extra":{"ratio":0.5,"list":[1.5,2]}})");
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back.value().upto, 5u);
}

TEST(Messages, SenderIdMustMatchTheTopic) {
  const std::string other = "esp32-000000000001";
  const std::string text = R"({"v":1,"id":"esp32-a1b2c3d4e5f6","online":true,"boot":1})";
  EXPECT_TRUE(decode(fleet::decodeStatus, text, &kId).ok());
  EXPECT_EQ(decode(fleet::decodeStatus, text, &other).error().reason, RejectReason::kIdMismatch);
  const std::string bad = R"({"v":1,"id":"ESP32","online":true,"boot":1})";
  EXPECT_EQ(decode(fleet::decodeStatus, bad, &kId).error().reason, RejectReason::kSchema);
}

TEST(Messages, AttendanceEventRules) {
  auto reason = [](const std::string& events) {
    const std::string text = R"({"v":1,"session_id":42,"events":)" + events + "}";
    return fleet::decodeAttendance(bytes(text), text.size(), nullptr).error().reason;
  };
  EXPECT_EQ(reason(R"([{"seq":1,"student_id":"a"}])"), RejectReason::kNone);
  EXPECT_EQ(reason("[]"), RejectReason::kSchema);
  EXPECT_EQ(reason(R"([{"seq":0,"student_id":"a"}])"), RejectReason::kSchema);
  EXPECT_EQ(reason(R"([{"seq":1,"student_id":""}])"), RejectReason::kSchema);
  EXPECT_EQ(reason(R"([{"seq":1,"student_id":"a","station_mac":"aa-bb-cc-dd-ee-ff"}])"),
            RejectReason::kSchema);
  EXPECT_EQ(reason(R"(["U2021/0042"])"), RejectReason::kSchema);
  std::string many = "[";
  for (int i = 1; i <= 33; ++i) {
    many +=
        std::string(i > 1 ? "," : "") + R"({"seq":)" + std::to_string(i) + R"(,"student_id":"S"})";
  }
  EXPECT_EQ(reason(many + "]"), RejectReason::kSchema);
}

TEST(Messages, WorstCaseDeviceMessagesFitOnePayload) {
  const std::string id(fleet::kMaxDeviceIdLen, 'a');
  fleet::StatusMsg status;
  status.boot = fleet::kCounterMax;
  status.fw = std::string(fleet::kMaxFwLen, 'f');
  status.ip = std::string(fleet::kMaxIpLen, '1');
  status.reason = std::string(fleet::kMaxReasonLen, 'r');
  const std::string s = fleet::encodeStatus(id, status);
  EXPECT_FALSE(s.empty());
  EXPECT_LE(s.size(), fleet::kStatusWorstCase);

  fleet::HeartbeatMsg hb;
  hb.boot = hb.uptime_s = fleet::kCounterMax;
  hb.rssi = -128;
  hb.heap = hb.config_version = hb.stations = hb.queued = fleet::kCounterMax;
  hb.stations_peak = hb.stations_refused = hb.checkins_served = fleet::kCounterMax;
  hb.fw = std::string(fleet::kMaxFwLen, 'f');
  const std::string h = fleet::encodeHeartbeat(id, hb);
  EXPECT_FALSE(h.empty());
  EXPECT_LE(h.size(), fleet::kHeartbeatWorstCase);

  fleet::StateMsg st;
  st.config_version = fleet::kCounterMax;
  st.result = fleet::ApplyResult::kRejected;
  st.error = std::string(fleet::kMaxStateErrorLen, 'e');
  st.applied_version = fleet::kCounterMax;
  const std::string t = fleet::encodeState(id, st);
  EXPECT_FALSE(t.empty());
  EXPECT_LE(t.size(), fleet::kStateWorstCase);
}
