#include "fleet_core/config.h"

#include <utility>

#include "fleet_core/identifiers.h"
#include "fleet_core/json_codec.h"
#include "fleet_core/limits.h"

namespace fleet {
namespace {

// Fields are read with generous bounds here; validateConfig() owns the real limits so that
// decoding and local checks give the same reasons.
constexpr std::size_t kReadMaxChars = kMaxPayloadBytes;

std::optional<std::string> checkLength(const char* name, const std::string& value,
                                       std::size_t min_chars, std::size_t max_chars) {
  const std::optional<std::size_t> chars = utf8Length(value);
  if (chars && *chars >= min_chars && *chars <= max_chars) return std::nullopt;
  return std::string(name) + " must be " + std::to_string(min_chars) + ".." +
         std::to_string(max_chars) + " characters";
}

}  // namespace

std::optional<std::string> validateConfig(const ConfigMsg& config) {
  if (config.version < 1) return std::string("version must be at least 1");
  if (!config.active_session) return std::nullopt;
  const SessionConfig& s = config.session;
  if (s.session_id < 1) return std::string("session_id must be at least 1");
  if (!isValidCourseCode(s.course_code)) {
    return std::string("course_code must be 1..16 characters of [A-Za-z0-9_-]");
  }
  if (!isValidSsid(s.ssid)) return std::string("ssid must be 1..32 characters of [A-Za-z0-9_-]");
  if (!isValidApPassword(s.password)) {
    return std::string("password must be empty or 8..63 printable ASCII characters");
  }
  if (auto e = checkLength("course_title", s.course_title, 1, kMaxCourseTitleLen)) return e;
  if (auto e = checkLength("session", s.session, 1, kMaxSessionLen)) return e;
  if (auto e = checkLength("semester", s.semester, 1, kMaxSemesterLen)) return e;
  if (auto e = checkLength("lecturer", s.lecturer, 0, kMaxLecturerLen)) return e;
  if (auto e = checkLength("device_id", s.device_label, 1, kMaxDeviceLabelLen)) return e;
  if (auto e = checkLength("device_name", s.device_name, 1, kMaxDeviceNameLen)) return e;
  if (auto e = checkLength("location", s.location, 1, kMaxLocationLen)) return e;
  return std::nullopt;
}

Decoded<std::uint32_t> peekConfigVersion(const std::uint8_t* data, std::size_t len) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  std::uint32_t version = 0;
  if (!reader.counter("version", version, 1)) return reader.error();
  return version;
}

Decoded<ConfigMsg> decodeConfig(const std::uint8_t* data, std::size_t len) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  ConfigMsg config;
  reader.counter("version", config.version, 1);
  reader.boolean("active_session", config.active_session);
  if (reader.ok() && config.active_session) {
    SessionConfig& s = config.session;
    reader.counter("session_id", s.session_id, 1);
    reader.string("course_code", 0, kReadMaxChars, s.course_code);
    reader.string("course_title", 0, kReadMaxChars, s.course_title);
    reader.string("session", 0, kReadMaxChars, s.session);
    reader.string("semester", 0, kReadMaxChars, s.semester);
    reader.string("lecturer", 0, kReadMaxChars, s.lecturer);
    reader.string("device_id", 0, kReadMaxChars, s.device_label);
    reader.string("device_name", 0, kReadMaxChars, s.device_name);
    reader.string("ssid", 0, kReadMaxChars, s.ssid);
    reader.string("password", 0, kReadMaxChars, s.password);
    reader.string("location", 0, kReadMaxChars, s.location);
  }
  if (!reader.ok()) return reader.error();
  if (std::optional<std::string> problem = validateConfig(config)) {
    return reject(RejectReason::kSchema, *problem);
  }
  return config;
}

std::string encodeConfig(const ConfigMsg& config) {
  json::Writer writer;
  writer.counter("v", kContractVersion)
      .counter("version", config.version)
      .boolean("active_session", config.active_session);
  if (config.active_session) {
    const SessionConfig& s = config.session;
    writer.counter("session_id", s.session_id)
        .string("course_code", s.course_code)
        .string("course_title", s.course_title)
        .string("session", s.session)
        .string("semester", s.semester)
        .string("lecturer", s.lecturer)
        .string("device_id", s.device_label)
        .string("device_name", s.device_name)
        .string("ssid", s.ssid)
        .string("password", s.password)
        .string("location", s.location);
  }
  std::string text = writer.print();
  return text.size() <= kMaxPayloadBytes ? text : std::string();
}

}  // namespace fleet
