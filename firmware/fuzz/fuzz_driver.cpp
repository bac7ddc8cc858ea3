// fleet-fuzz-driver: feeds hostile input to the firmware core's decoders, deterministically.
//
// tests/faults/test_fuzz_firmware.py starts one driver process and streams frames to its stdin;
// hypothesis generates the bytes. Built with AddressSanitizer and UBSan when the compiler has
// them (see the fuzz block of ../host/CMakeLists.txt), so a memory error aborts the process with
// a report on stderr instead of going unnoticed.
//
// Frame on stdin (little-endian):  kind:u8  aux_len:u16  aux[aux_len]  len:u32  data[len]
// One line on stdout per frame:
//   's' 'h' 'S' 'a'  decodeStatus / decodeHeartbeat / decodeState / decodeAttendance of data;
//                    aux is the topic's device id (empty: no id check)
//   'k' 'c' 'p' 'u'  decodeAck / decodeConfig / peekConfigVersion / decodeUpdate of data
//       -> "ok <every decoded field as one compact JSON object>" or "reject <reason>"
//   't'              parseDeviceTopic(root = aux, topic = data)
//       -> "ok <device id> <channel leaf>" or "reject"
//   'D'              Device::onMessage(topic = aux, payload = data) on one long-lived device over
//                    fake ports (the unit tests' fakes); 'R' boots a fresh one
//       -> "ok <stats and what the device published in answer, as one JSON object>"
//   'A'              every decoder above on data (aux: root for the topic parser) -> "done"
//   'm'              -> "ok <bytes allocated now>" (the sanitizer's allocator, or malloc's)
// Exit status 0 after end of input; 2 on a truncated frame.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fakes.h"
#include "fleet_core/config.h"
#include "fleet_core/device.h"
#include "fleet_core/json_codec.h"
#include "fleet_core/messages.h"
#include "fleet_core/topics.h"
#include "fleet_core/update_msg.h"

#if defined(FLEET_FUZZ_SANITIZED)
// From libasan (g++ ships no <sanitizer/allocator_interface.h> on Debian).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace {

using fleet::json::Writer;

std::string rejected(const fleet::DecodeError& error) {
  return std::string("reject ") + fleet::rejectReasonName(error.reason);
}

void optionalCounter(Writer& w, const char* name, const std::optional<std::uint32_t>& value) {
  if (value) w.counter(name, *value);
}

void optionalString(Writer& w, const char* name, const std::optional<std::string>& value) {
  if (value) w.string(name, *value);
}

std::string ok(const Writer& w) {
  return "ok " + w.print();
}

const std::string* expectedId(const std::string& aux) {
  return aux.empty() ? nullptr : &aux;
}

std::string status(const std::uint8_t* data, std::size_t len, const std::string& aux) {
  const auto d = fleet::decodeStatus(data, len, expectedId(aux));
  if (!d.ok()) return rejected(d.error());
  const fleet::StatusMsg& m = d.value();
  Writer w;
  w.boolean("online", m.online).counter("boot", m.boot);
  optionalString(w, "fw", m.fw);
  optionalString(w, "ip", m.ip);
  optionalString(w, "reason", m.reason);
  return ok(w);
}

std::string heartbeat(const std::uint8_t* data, std::size_t len, const std::string& aux) {
  const auto d = fleet::decodeHeartbeat(data, len, expectedId(aux));
  if (!d.ok()) return rejected(d.error());
  const fleet::HeartbeatMsg& m = d.value();
  Writer w;
  w.counter("boot", m.boot).counter("uptime_s", m.uptime_s);
  if (m.rssi) w.integer("rssi", *m.rssi);
  optionalCounter(w, "heap", m.heap);
  optionalString(w, "fw", m.fw);
  optionalCounter(w, "config_version", m.config_version);
  optionalCounter(w, "stations", m.stations);
  optionalCounter(w, "queued", m.queued);
  optionalCounter(w, "stations_peak", m.stations_peak);
  optionalCounter(w, "stations_refused", m.stations_refused);
  optionalCounter(w, "checkins_served", m.checkins_served);
  return ok(w);
}

std::string state(const std::uint8_t* data, std::size_t len, const std::string& aux) {
  const auto d = fleet::decodeState(data, len, expectedId(aux));
  if (!d.ok()) return rejected(d.error());
  const fleet::StateMsg& m = d.value();
  Writer w;
  w.counter("config_version", m.config_version);
  if (m.result == fleet::ApplyResult::kApplied) {
    w.string("result", "applied").boolean("active_session", m.active_session);
    if (m.active_session) w.counter("session_id", m.session_id).string("ssid", m.ssid);
  } else {
    w.string("result", "rejected").string("error", m.error);
  }
  optionalCounter(w, "applied_version", m.applied_version);
  return ok(w);
}

std::string attendance(const std::uint8_t* data, std::size_t len, const std::string& aux) {
  const auto d = fleet::decodeAttendance(data, len, expectedId(aux));
  if (!d.ok()) return rejected(d.error());
  Writer w;
  w.counter("session_id", d.value().session_id);
  for (const fleet::CheckinEvent& e : d.value().events) {
    Writer event;
    event.counter("seq", e.seq).string("student_id", e.student_id);
    optionalString(event, "station_mac", e.station_mac);
    optionalCounter(event, "uptime_ms", e.uptime_ms);
    w.append("events", std::move(event));
  }
  return ok(w);
}

std::string ack(const std::uint8_t* data, std::size_t len) {
  const auto d = fleet::decodeAck(data, len);
  if (!d.ok()) return rejected(d.error());
  Writer w;
  w.counter("upto", d.value().upto);
  return ok(w);
}

// Printed by the encoder that stores an applied config in flash: what the device runs again
// after a reboot. A decoded config the encoder cannot store (over the payload limit) would be
// lost at the next boot, so it is reported as a rejection the tests do not know.
std::string config(const std::uint8_t* data, std::size_t len) {
  const auto d = fleet::decodeConfig(data, len);
  if (!d.ok()) return rejected(d.error());
  const std::string stored = fleet::encodeConfig(d.value());
  return stored.empty() ? "reject unstorable" : "ok " + stored;
}

std::string peekVersion(const std::uint8_t* data, std::size_t len) {
  const auto d = fleet::peekConfigVersion(data, len);
  if (!d.ok()) return rejected(d.error());
  Writer w;
  w.counter("version", d.value());
  return ok(w);
}

std::string update(const std::uint8_t* data, std::size_t len) {
  const auto d = fleet::decodeUpdate(data, len);
  if (!d.ok()) return rejected(d.error());
  const fleet::UpdateCommand& m = d.value();
  Writer w;
  w.string("version", m.version).string("url", m.url).counter("size", m.size);
  w.string("sha256", m.sha256).string("signature", m.signature);
  if (m.allow_downgrade) w.boolean("allow_downgrade", true);
  return ok(w);
}

std::string topic(const std::string& root, const std::uint8_t* data, std::size_t len) {
  const std::string text(reinterpret_cast<const char*>(data), len);
  const auto parsed = fleet::parseDeviceTopic(root, text);
  if (!parsed) return "reject";
  return "ok " + parsed->device_id + " " + fleet::channelLeaf(parsed->channel);
}

// One device over the unit tests' fake ports, connected, kept across 'D' frames.
class FuzzedDevice {
 public:
  static constexpr const char* kId = "esp32-f0f1f2f3f4f5";

  FuzzedDevice() {
    fleet::DeviceOptions options;
    options.device_id = kId;
    device_ = std::make_unique<fleet::Device>(
        options, fleet::Ports{transport_, flash_, ap_, clock_, system_, logger_});
    device_->begin();
    transport_.is_connected = true;
    device_->onConnected();
    transport_.clear();
  }

  std::string deliver(const std::string& topic, const std::uint8_t* data, std::size_t len) {
    device_->onMessage(topic, data, len);
    clock_.advance(10);
    device_->loop();
    logger_.lines.clear();  // the device logs each drop; keep the fake's memory flat
    const fleet::DeviceStats& st = device_->stats();
    Writer w;
    w.counter("applied", st.configs_applied)
        .counter("rejected", st.configs_rejected)
        .counter("ignored", st.configs_ignored)
        .counter("dropped", st.inbound_dropped)
        .counter("version", device_->appliedConfig().version)
        .boolean("ap_running", ap_.running)
        .string("ssid", ap_.ssid);
    for (const fakes::Published& p : transport_.published) {
      Writer item;
      item.string("topic", p.topic).string("payload", p.payload).boolean("retained", p.retained);
      w.append("published", std::move(item));
    }
    transport_.clear();
    return ok(w);
  }

 private:
  fakes::FakeTransport transport_;
  fakes::MemoryStorage flash_;
  fakes::FakeAccessPoint ap_;
  fakes::FakeClock clock_;
  fakes::FakeSystemInfo system_;
  fakes::RecordingLogger logger_;
  std::unique_ptr<fleet::Device> device_;
};

std::size_t allocatedBytes() {
#if defined(FLEET_FUZZ_SANITIZED)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

bool readExact(void* out, std::size_t n) {
  return n == 0 || std::fread(out, 1, n, stdin) == n;
}

std::uint32_t littleEndian(const std::uint8_t* bytes, std::size_t n) {
  std::uint32_t value = 0;
  for (std::size_t i = n; i > 0; --i) value = (value << 8) | bytes[i - 1];
  return value;
}

}  // namespace

int main() {
  std::unique_ptr<FuzzedDevice> device;
  std::vector<std::uint8_t> data;
  data.reserve(1 << 16);  // so that 'm' sees the decoders' memory, not this buffer growing
  for (;;) {
    std::uint8_t kind = 0;
    if (std::fread(&kind, 1, 1, stdin) != 1) return 0;
    std::uint8_t header[4];
    if (!readExact(header, 2)) return 2;
    std::string aux(littleEndian(header, 2), '\0');
    if (!readExact(aux.data(), aux.size()) || !readExact(header, 4)) return 2;
    data.assign(littleEndian(header, 4), 0);
    if (!readExact(data.data(), data.size())) return 2;
    // data() of an empty vector may be null; decoders get a valid pointer either way.
    const std::uint8_t empty = 0;
    const std::uint8_t* bytes = data.empty() ? &empty : data.data();
    const std::size_t len = data.size();

    std::string line;
    switch (kind) {
      case 's': line = status(bytes, len, aux); break;
      case 'h': line = heartbeat(bytes, len, aux); break;
      case 'S': line = state(bytes, len, aux); break;
      case 'a': line = attendance(bytes, len, aux); break;
      case 'k': line = ack(bytes, len); break;
      case 'c': line = config(bytes, len); break;
      case 'p': line = peekVersion(bytes, len); break;
      case 'u': line = update(bytes, len); break;
      case 't': line = topic(aux, bytes, len); break;
      case 'R': device = std::make_unique<FuzzedDevice>(); line = "ok"; break;
      case 'D':
        if (!device) device = std::make_unique<FuzzedDevice>();
        line = device->deliver(aux, bytes, len);
        break;
      case 'A':
        status(bytes, len, aux);
        heartbeat(bytes, len, aux);
        state(bytes, len, aux);
        attendance(bytes, len, aux);
        ack(bytes, len);
        config(bytes, len);
        peekVersion(bytes, len);
        update(bytes, len);
        topic(aux, bytes, len);
        line = "done";
        break;
      case 'm': line = "ok " + std::to_string(allocatedBytes()); break;
      default: line = "error unknown kind"; break;
    }
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
}
