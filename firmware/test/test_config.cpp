#include <gtest/gtest.h>

#include "fakes.h"
#include "fleet_core/config.h"
#include "samples.h"

using fakes::bytes;
using fleet::RejectReason;

namespace {

fleet::Decoded<fleet::ConfigMsg> decode(const std::string& text) {
  return fleet::decodeConfig(bytes(text), text.size());
}

std::string withField(const std::string& name, const std::string& json_value) {
  // The sample config with one field replaced (or removed when json_value is empty).
  std::string text = samples::activeConfigJson();
  const std::string key = "\"" + name + "\":";
  const std::size_t at = text.find(key);
  std::size_t end = at + key.size();
  if (text[end] == '"') {
    end = text.find('"', end + 1) + 1;
  } else {
    end = text.find_first_of(",}", end);
  }
  if (json_value.empty()) {
    const std::size_t from = text[at - 1] == ',' ? at - 1 : at;
    const std::size_t to = text[end] == ',' && from == at ? end + 1 : end;
    return text.erase(from, to - from);
  }
  return text.replace(at + key.size(), end - at - key.size(), json_value);
}

}  // namespace

TEST(Config, DecodesTheContractExample) {
  const auto config = decode(samples::activeConfigJson());
  ASSERT_TRUE(config.ok()) << config.error().describe();
  EXPECT_EQ(config.value().version, 7u);
  EXPECT_TRUE(config.value().active_session);
  EXPECT_EQ(config.value().session.session_id, 42u);
  EXPECT_EQ(config.value().session.ssid, "CS101_Attendance_2024_2025");
  EXPECT_EQ(config.value().session.device_label, "ESP32_CS101_2024_2025_1st_Semester");
  EXPECT_EQ(config.value().session.password, "");
}

TEST(Config, DecodesIdle) {
  const auto config = decode(samples::idleConfigJson(8));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config.value().version, 8u);
  EXPECT_FALSE(config.value().active_session);
}

TEST(Config, EncodeDecodeRoundTrip) {
  const fleet::ConfigMsg original =
      samples::activeConfig(11, 4294967295u, "EEE-401_b", "secret-pass");
  const std::string text = fleet::encodeConfig(original);
  ASSERT_FALSE(text.empty());
  const auto back = decode(text);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back.value().session.session_id, 4294967295u);
  EXPECT_EQ(back.value().session.password, "secret-pass");
  EXPECT_EQ(fleet::encodeConfig(back.value()), text);
  EXPECT_EQ(text, samples::activeConfigJson(11, 4294967295u, "EEE-401_b", "secret-pass"));
}

TEST(Config, RejectsA40ByteSsid) {
  const auto config = decode(samples::activeConfigJson(7, 42, std::string(40, 'S')));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().reason, RejectReason::kSchema);
  EXPECT_EQ(config.error().detail, "ssid must be 1..32 characters of [A-Za-z0-9_-]");
}

TEST(Config, RejectsA7CharacterPassword) {
  const auto config = decode(samples::activeConfigJson(7, 42, "CS101_Attendance", "1234567"));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().detail, "password must be empty or 8..63 printable ASCII characters");
  EXPECT_TRUE(decode(samples::activeConfigJson(7, 42, "CS101_Attendance", "12345678")).ok());
  EXPECT_TRUE(
      decode(samples::activeConfigJson(7, 42, "CS101_Attendance", std::string(63, 'p'))).ok());
  EXPECT_FALSE(
      decode(samples::activeConfigJson(7, 42, "CS101_Attendance", std::string(64, 'p'))).ok());
}

TEST(Config, RejectsBadSsidCharacters) {
  for (const char* ssid : {"", "CS101 Attendance", "CS101/2024", "CS101\\n"}) {
    EXPECT_FALSE(decode(samples::activeConfigJson(7, 42, ssid)).ok()) << ssid;
  }
}

TEST(Config, EveryActiveFieldIsRequired) {
  for (const char* field :
       {"session_id", "course_code", "course_title", "session", "semester", "lecturer", "device_id",
        "device_name", "ssid", "password", "location"}) {
    const auto config = decode(withField(field, ""));
    ASSERT_FALSE(config.ok()) << field;
    EXPECT_EQ(config.error().reason, RejectReason::kSchema) << field;
    EXPECT_EQ(config.error().detail, std::string(field) + " is missing");
  }
}

TEST(Config, IdleNeedsOnlyVersionAndFlag) {
  EXPECT_FALSE(decode(R"({"v":1,"version":8})").ok());
  EXPECT_FALSE(decode(R"({"v":1,"active_session":false})").ok());
  EXPECT_FALSE(decode(R"({"v":1,"version":8,"active_session":"false"})").ok());
  EXPECT_FALSE(decode(R"({"v":1,"version":8,"active_session":true})").ok());
  EXPECT_FALSE(decode(R"({"v":1,"version":0,"active_session":false})").ok());
  EXPECT_TRUE(decode(R"({"v":1,"version":1,"active_session":false,"note":"x"})").ok());
}

TEST(Config, LengthLimitsCountCharacters) {
  EXPECT_FALSE(decode(withField("course_title", "\"\"")).ok());
  EXPECT_FALSE(decode(withField("course_title", "\"" + std::string(101, 'T') + "\"")).ok());
  // 100 characters of two bytes each are still 100 characters.
  std::string accented;
  for (int i = 0; i < 100; ++i) accented += "\xc3\xa9";
  EXPECT_TRUE(decode(withField("course_title", "\"" + accented + "\"")).ok());
  EXPECT_FALSE(decode(withField("course_code", "\"CS 101\"")).ok());
  EXPECT_FALSE(decode(withField("session", "\"2024/2025-2025/26\"")).ok());
  EXPECT_TRUE(decode(withField("lecturer", "\"\"")).ok());
  EXPECT_FALSE(decode(withField("session_id", "0")).ok());
  EXPECT_FALSE(decode(withField("session_id", "\"42\"")).ok());
}

TEST(Config, ValidateGivesReadableReasons) {
  fleet::ConfigMsg config = samples::activeConfig();
  EXPECT_FALSE(fleet::validateConfig(config));
  config.session.ssid = std::string(40, 'S');
  EXPECT_EQ(fleet::validateConfig(config), "ssid must be 1..32 characters of [A-Za-z0-9_-]");
  config = samples::activeConfig();
  config.session.password = "1234567";
  EXPECT_EQ(fleet::validateConfig(config), "password must be empty or 8..63 printable ASCII characters");
  config = samples::activeConfig();
  config.session.location = "";
  EXPECT_EQ(fleet::validateConfig(config), "location must be 1..128 characters");
}

TEST(Config, VersionRuleAppliesOnlyNewer) {
  EXPECT_TRUE(fleet::shouldApply(1, 0));
  EXPECT_TRUE(fleet::shouldApply(8, 7));
  EXPECT_FALSE(fleet::shouldApply(7, 7));
  EXPECT_FALSE(fleet::shouldApply(6, 7));
  EXPECT_TRUE(fleet::shouldApply(4294967295u, 4294967294u));
}

TEST(Config, PeekReadsTheVersionOfAnInvalidConfig) {
  const std::string text = samples::activeConfigJson(9, 42, std::string(40, 'S'));
  const auto version = fleet::peekConfigVersion(bytes(text), text.size());
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version.value(), 9u);
  const std::string no_version = R"({"v":1,"active_session":false})";
  EXPECT_FALSE(fleet::peekConfigVersion(bytes(no_version), no_version.size()).ok());
}
