#include "fleet_core/messages.h"

#include <utility>

#include "fleet_core/identifiers.h"
#include "fleet_core/json_codec.h"
#include "fleet_core/limits.h"

namespace fleet {
namespace {

std::string fitPayload(std::string text) {
  return text.size() <= kMaxPayloadBytes ? text : std::string();
}

json::Writer deviceMessage(const std::string& device_id) {
  json::Writer writer;
  writer.counter("v", kContractVersion).string("id", device_id);
  return writer;
}

void optionalCounter(json::Writer& writer, const char* name,
                     const std::optional<std::uint32_t>& value) {
  if (value) writer.counter(name, *value);
}

void optionalString(json::Writer& writer, const char* name,
                    const std::optional<std::string>& value) {
  if (value) writer.string(name, *value);
}

json::Writer eventObject(const CheckinEvent& event) {
  json::Writer writer;
  writer.counter("seq", event.seq).string("student_id", event.student_id);
  optionalString(writer, "station_mac", event.station_mac);
  optionalCounter(writer, "uptime_ms", event.uptime_ms);
  return writer;
}

template <typename T>
Decoded<T> finish(const json::Reader& reader, T value) {
  if (!reader.ok()) return reader.error();
  return value;
}

bool readEvent(json::Reader& outer, const cJSON* node, CheckinEvent& event) {
  if (!json::isObject(node)) return outer.fail(RejectReason::kSchema, "an event must be an object");
  json::Reader reader(outer.document(), node);
  reader.counter("seq", event.seq, 1);
  reader.string("student_id", 1, kMaxEventStudentIdLen, event.student_id);
  reader.optionalString("station_mac", kMacTextLen, event.station_mac);
  reader.optionalCounter("uptime_ms", event.uptime_ms);
  if (reader.ok() && event.station_mac && !isValidMac(*event.station_mac)) {
    reader.fail(RejectReason::kSchema, "station_mac must look like aa:bb:cc:dd:ee:ff");
  }
  if (!reader.ok()) return outer.fail(reader.error().reason, reader.error().detail);
  return true;
}

}  // namespace

std::string encodeStatus(const std::string& device_id, const StatusMsg& msg) {
  json::Writer writer = deviceMessage(device_id);
  writer.boolean("online", msg.online).counter("boot", msg.boot);
  optionalString(writer, "fw", msg.fw);
  optionalString(writer, "ip", msg.ip);
  optionalString(writer, "reason", msg.reason);
  return fitPayload(writer.print());
}

std::string encodeHeartbeat(const std::string& device_id, const HeartbeatMsg& msg) {
  json::Writer writer = deviceMessage(device_id);
  writer.counter("boot", msg.boot).counter("uptime_s", msg.uptime_s);
  if (msg.rssi) writer.integer("rssi", *msg.rssi);
  optionalCounter(writer, "heap", msg.heap);
  optionalString(writer, "fw", msg.fw);
  optionalCounter(writer, "config_version", msg.config_version);
  optionalCounter(writer, "stations", msg.stations);
  optionalCounter(writer, "queued", msg.queued);
  optionalCounter(writer, "stations_peak", msg.stations_peak);
  optionalCounter(writer, "stations_refused", msg.stations_refused);
  optionalCounter(writer, "checkins_served", msg.checkins_served);
  optionalCounter(writer, "images_refused", msg.images_refused);
  return fitPayload(writer.print());
}

std::string encodeState(const std::string& device_id, const StateMsg& msg) {
  json::Writer writer = deviceMessage(device_id);
  writer.counter("config_version", msg.config_version);
  if (msg.result == ApplyResult::kApplied) {
    writer.string("result", "applied").boolean("active_session", msg.active_session);
    if (msg.active_session) writer.counter("session_id", msg.session_id).string("ssid", msg.ssid);
  } else {
    writer.string("result", "rejected").string("error", msg.error);
    optionalCounter(writer, "applied_version", msg.applied_version);
  }
  return fitPayload(writer.print());
}

std::string encodeAttendance(const std::string& device_id, const AttendanceMsg& msg) {
  json::Writer writer = deviceMessage(device_id);
  writer.counter("session_id", msg.session_id);
  for (const CheckinEvent& event : msg.events) writer.append("events", eventObject(event));
  return fitPayload(writer.print());
}

std::string encodeAck(const AckMsg& msg) {
  json::Writer writer;
  writer.counter("v", kContractVersion).counter("upto", msg.upto);
  return fitPayload(writer.print());
}

Decoded<StatusMsg> decodeStatus(const std::uint8_t* data, std::size_t len,
                                const std::string* expected_id) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  StatusMsg msg;
  reader.senderId(expected_id);
  reader.boolean("online", msg.online);
  reader.counter("boot", msg.boot);
  reader.optionalString("fw", kMaxFwLen, msg.fw);
  reader.optionalString("ip", kMaxIpLen, msg.ip);
  reader.optionalString("reason", kMaxReasonLen, msg.reason);
  return finish(reader, std::move(msg));
}

Decoded<HeartbeatMsg> decodeHeartbeat(const std::uint8_t* data, std::size_t len,
                                      const std::string* expected_id) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  HeartbeatMsg msg;
  reader.senderId(expected_id);
  reader.counter("boot", msg.boot);
  reader.counter("uptime_s", msg.uptime_s);
  reader.optionalInteger("rssi", kMinRssi, kMaxRssi, msg.rssi);
  reader.optionalCounter("heap", msg.heap);
  reader.optionalString("fw", kMaxFwLen, msg.fw);
  reader.optionalCounter("config_version", msg.config_version);
  reader.optionalCounter("stations", msg.stations);
  reader.optionalCounter("queued", msg.queued);
  reader.optionalCounter("stations_peak", msg.stations_peak);
  reader.optionalCounter("stations_refused", msg.stations_refused);
  reader.optionalCounter("checkins_served", msg.checkins_served);
  reader.optionalCounter("images_refused", msg.images_refused);
  return finish(reader, std::move(msg));
}

Decoded<StateMsg> decodeState(const std::uint8_t* data, std::size_t len,
                              const std::string* expected_id) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  StateMsg msg;
  std::string result;
  reader.senderId(expected_id);
  reader.counter("config_version", msg.config_version);
  reader.string("result", 1, 16, result);
  reader.optionalCounter("applied_version", msg.applied_version);
  if (!reader.ok()) return reader.error();
  if (result == "rejected") {
    msg.result = ApplyResult::kRejected;
    reader.string("error", 1, kMaxStateErrorLen, msg.error);
  } else if (result == "applied") {
    msg.result = ApplyResult::kApplied;
    reader.boolean("active_session", msg.active_session);
    if (reader.ok() && msg.active_session) {
      reader.counter("session_id", msg.session_id, 1);
      reader.string("ssid", 1, kMaxSsidLen, msg.ssid);
      if (reader.ok() && !isValidSsid(msg.ssid)) {
        reader.fail(RejectReason::kSchema, "ssid must be 1..32 characters of [A-Za-z0-9_-]");
      }
    }
  } else {
    reader.fail(RejectReason::kSchema, "result must be applied or rejected");
  }
  return finish(reader, std::move(msg));
}

Decoded<AttendanceMsg> decodeAttendance(const std::uint8_t* data, std::size_t len,
                                        const std::string* expected_id) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  AttendanceMsg msg;
  std::vector<const cJSON*> items;
  reader.senderId(expected_id);
  reader.counter("session_id", msg.session_id, 1);
  reader.array("events", 1, kMaxEventsPerBatch, items);
  for (const cJSON* item : items) {
    CheckinEvent event;
    if (!readEvent(reader, item, event)) break;
    msg.events.push_back(std::move(event));
  }
  return finish(reader, std::move(msg));
}

Decoded<AckMsg> decodeAck(const std::uint8_t* data, std::size_t len) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  AckMsg msg;
  reader.counter("upto", msg.upto);
  return finish(reader, msg);
}

}  // namespace fleet
