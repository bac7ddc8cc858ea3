#include "fleet_core/device.h"

#include <algorithm>
#include <utility>

#include "fleet_core/attendance_batch.h"
#include "fleet_core/boot_counter.h"
#include "fleet_core/identifiers.h"
#include "fleet_core/storage_keys.h"

namespace fleet {
namespace {

std::string fitError(std::string error) {
  // The state's "error" is 1..128 characters; ours are ASCII.
  if (error.empty()) error = "rejected";
  if (error.size() > kMaxStateErrorLen) error.resize(kMaxStateErrorLen);
  return error;
}

std::string versionText(std::uint32_t version) {
  return "v" + std::to_string(version);
}

}  // namespace

const char* checkinResultName(CheckinResult result) {
  switch (result) {
    case CheckinResult::kCheckedIn: return "checked_in";
    case CheckinResult::kAlreadyCheckedIn: return "already_checked_in";
    case CheckinResult::kNoActiveSession: return "no_active_session";
    case CheckinResult::kBadStudentId: return "bad_student_id";
    case CheckinResult::kQueueFull: return "queue_full";
    case CheckinResult::kStorageError: return "storage_error";
  }
  return "unknown";
}

std::optional<std::string> validateOptions(const DeviceOptions& options) {
  if (!isValidDeviceId(options.device_id)) {
    return std::string("device id must match ^[a-z0-9][a-z0-9-]{2,31}$");
  }
  if (!isValidRoot(options.root))
    return std::string("topic root must be 1..64 bytes, no + # or empty level");
  if (options.fw_version.size() > kMaxFwLen) return std::string("fw version is longer than 32");
  if (options.heartbeat_interval_ms == 0) return std::string("heartbeat interval must be > 0");
  if (options.ack_timeout_ms == 0) return std::string("ack timeout must be > 0");
  if (options.queue_capacity == 0 || options.queue_capacity > kQueueCapacity) {
    return std::string("queue capacity must be 1..") + std::to_string(kQueueCapacity);
  }
  return std::nullopt;
}

Device::Device(DeviceOptions options, Ports ports)
    : options_(std::move(options)),
      topics_(options_.root, options_.device_id),
      ports_(ports),
      queue_(ports.storage, options_.queue_capacity),
      stations_(options_.recycle_stations) {}

void Device::begin() {
  last_millis_ = ports_.clock.millis();
  boot_ = raiseBootCounter(ports_.storage);
  loadAppliedConfig();
  if (applied_.active_session) {
    if (!applyToAccessPoint(applied_)) log(LogLevel::kError, "access point did not start");
  } else {
    ports_.access_point.stop();
  }
  const std::size_t loaded = queue_.load();
  seen_.reset(applied_.active_session ? applied_.session.session_id : 0);
  for (const QueuedCheckin& entry : queue_.entries()) {
    if (entry.session_id == seen_.session()) seen_.insert(entry.student_id);
  }
  log(LogLevel::kInfo,
      "boot " + std::to_string(boot_) + ", config " + versionText(applied_.version) +
          (applied_.active_session ? " (session " + std::to_string(applied_.session.session_id) +
                                         ", ssid " + applied_.session.ssid + ")"
                                   : " (idle)") +
          ", " + std::to_string(loaded) + " check-ins queued");
}

void Device::loadAppliedConfig() {
  applied_ = ConfigMsg();
  std::string blob;
  if (!ports_.storage.get(keys::kConfig, blob)) return;
  Decoded<ConfigMsg> stored =
      decodeConfig(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size());
  if (!stored.ok()) {
    log(LogLevel::kWarn,
        "stored config unreadable (" + stored.error().describe() + "): starting idle");
    return;
  }
  applied_ = stored.value();
}

std::string Device::willPayload() const {
  StatusMsg will;
  will.online = false;
  will.boot = boot_;
  return encodeStatus(options_.device_id, will);
}

void Device::onConnected() {
  link_up_ = true;
  config_seen_ = false;
  connected_ms_ = ports_.clock.millis();
  sent_upto_ = 0;
  publishBirth();
  if (!ports_.transport.subscribe(topics_.config(), 1))
    log(LogLevel::kWarn, "subscribe config failed");
  if (!ports_.transport.subscribe(topics_.attendanceAck(), 1)) {
    log(LogLevel::kWarn, "subscribe attendance/ack failed");
  }
  if (updates_ != nullptr) {
    if (!ports_.transport.subscribe(topics_.update(), 1)) {
      log(LogLevel::kWarn, "subscribe update failed");
    }
    updates_->onConnected();
  }
  publishHeartbeat();
  last_heartbeat_ms_ = ports_.clock.millis();
  publishAppliedState();
  if (!queue_.empty()) {
    log(LogLevel::kInfo, "resending " + std::to_string(queue_.size()) + " unacked check-ins");
  }
  flushQueue();
}

void Device::onDisconnected() {
  if (link_up_) log(LogLevel::kWarn, "broker connection lost");
  link_up_ = false;
  sent_upto_ = 0;
}

void Device::onMessage(const std::string& topic, const std::uint8_t* payload, std::size_t len) {
  const std::optional<DeviceTopic> parsed = parseDeviceTopic(options_.root, topic);
  if (!parsed || parsed->device_id != options_.device_id) {
    drop("message", "bad_topic: " + topic);
    return;
  }
  switch (parsed->channel) {
    case Channel::kConfig: handleConfig(payload, len); break;
    case Channel::kAttendanceAck: handleAck(payload, len); break;
    case Channel::kUpdate:
      if (updates_ != nullptr) {
        updates_->onCommand(payload, len);
        break;
      }
      drop("message", "bad_topic: no updates here: " + topic);
      break;
    default: drop("message", "bad_topic: not for a device: " + topic); break;
  }
}

void Device::handleConfig(const std::uint8_t* payload, std::size_t len) {
  config_seen_ = true;
  const Decoded<std::uint32_t> version = peekConfigVersion(payload, len);
  if (!version.ok()) {
    drop("config", version.error().describe());
    return;
  }
  if (!shouldApply(version.value(), applied_.version)) {
    ++stats_.configs_ignored;
    log(LogLevel::kDebug, "config " + versionText(version.value()) +
                              " ignored: " + versionText(applied_.version) + " already applied");
    return;
  }
  Decoded<ConfigMsg> decoded = decodeConfig(payload, len);
  if (!decoded.ok()) {
    const DecodeError& error = decoded.error();
    rejectConfig(version.value(),
                 error.reason == RejectReason::kSchema ? error.detail : error.describe());
    return;
  }
  const ConfigMsg& next = decoded.value();
  const std::string blob = encodeConfig(next);
  if (blob.empty() || !ports_.storage.put(keys::kConfig, blob)) {
    rejectConfig(next.version, "could not store the config in flash");
    return;
  }
  if (!applyToAccessPoint(next)) {
    // Put the previous config back, in flash and on the air.
    if (applied_.version > 0) {
      ports_.storage.put(keys::kConfig, encodeConfig(applied_));
    } else {
      ports_.storage.remove(keys::kConfig);
    }
    if (applied_.active_session) applyToAccessPoint(applied_);
    rejectConfig(next.version, "access point did not start");
    return;
  }
  startSession(next);
}

void Device::startSession(const ConfigMsg& config) {
  const std::uint32_t session = config.active_session ? config.session.session_id : 0;
  if (session != seen_.session()) {
    seen_.reset(session);
    stations_.reset();
  }
  applied_ = config;
  rejection_.reset();
  ++stats_.configs_applied;
  log(LogLevel::kInfo, "config " + versionText(config.version) + " applied: " +
                           (config.active_session ? "session " + std::to_string(session) +
                                                        " on ssid " + config.session.ssid
                                                  : std::string("idle")));
  publishAppliedState();
}

bool Device::applyToAccessPoint(const ConfigMsg& config) {
  if (!config.active_session) {
    if (ap_running_) ports_.access_point.stop();
    ap_running_ = false;
    ap_ssid_.clear();
    ap_password_.clear();
    return true;
  }
  const SessionConfig& s = config.session;
  // Same network: keep it up, so connected students are not dropped.
  if (ap_running_ && ap_ssid_ == s.ssid && ap_password_ == s.password) return true;
  if (!ports_.access_point.start(s.ssid, s.password)) {
    ap_running_ = false;
    return false;
  }
  ap_running_ = true;
  ap_ssid_ = s.ssid;
  ap_password_ = s.password;
  return true;
}

void Device::rejectConfig(std::uint32_t version, const std::string& error) {
  StateMsg state;
  state.config_version = version;
  state.result = ApplyResult::kRejected;
  state.error = fitError(error);
  state.applied_version = applied_.version;
  rejection_ = state;
  ++stats_.configs_rejected;
  log(LogLevel::kWarn, "config " + versionText(version) + " rejected: " + state.error +
                           " (keeping " + versionText(applied_.version) + ")");
  publish(topics_.state(), encodeState(options_.device_id, state), true);
}

void Device::handleAck(const std::uint8_t* payload, std::size_t len) {
  const Decoded<AckMsg> ack = decodeAck(payload, len);
  if (!ack.ok()) {
    drop("ack", ack.error().describe());
    return;
  }
  const std::size_t dropped = queue_.dropUpto(ack.value().upto);
  if (dropped > 0) {
    stats_.events_acked += static_cast<std::uint32_t>(dropped);
    ack_wait_start_ms_ = ports_.clock.millis();
    log(LogLevel::kDebug, "ack upto " + std::to_string(ack.value().upto) + ": " +
                              std::to_string(dropped) + " dropped, " +
                              std::to_string(queue_.size()) + " queued");
  }
}

void Device::loop() {
  tickUptime();
  const std::uint32_t now = ports_.clock.millis();
  releaseStations(now);
  if (link_up_ && !ports_.transport.connected()) onDisconnected();
  if (updates_ != nullptr) updates_->loop(health(now));
  if (!link_up_) return;
  if (now - last_heartbeat_ms_ >= options_.heartbeat_interval_ms) {
    last_heartbeat_ms_ = now;
    publishHeartbeat();
  }
  resendIfUnacked(now);
  flushQueue();
}

// A new image confirms once connected, its config settled (the retained config handled, or none
// within kConfirmSettleMs) and the access point as that config wants it.
DeviceHealth Device::health(std::uint32_t now) const {
  DeviceHealth h;
  h.connected = link_up_;
  h.config_settled = link_up_ && (config_seen_ || now - connected_ms_ >= kConfirmSettleMs);
  h.access_point_ok = ap_running_ == applied_.active_session;
  h.serving_session = applied_.active_session;
  return h;
}

void Device::resendIfUnacked(std::uint32_t now) {
  if (queue_.empty() || sent_upto_ < queue_.entries().back().seq) return;
  if (now - ack_wait_start_ms_ < options_.ack_timeout_ms) return;
  log(LogLevel::kInfo, "no ack for " + std::to_string(options_.ack_timeout_ms / 1000) +
                           " s: resending " + std::to_string(queue_.size()) + " check-ins");
  sent_upto_ = 0;
  ack_wait_start_ms_ = now;
}

void Device::releaseStations(std::uint32_t now) {
  for (const std::string& station : stations_.expire(now)) {
    ports_.access_point.release(station);
    log(LogLevel::kDebug, "station " + station + " released");
  }
}

StationJoin Device::joinStation(const std::string& station) {
  const StationJoin joined = stations_.join(station, ports_.clock.millis());
  if (joined == StationJoin::kRefused) {
    // The ESP32's radio admitted it into its spare slot: the refusal is this release. The host's
    // radio model has not admitted it (it answers 503), so the release finds nothing there.
    ports_.access_point.release(station);
    log(LogLevel::kInfo, "station " + station + " refused: all " +
                             std::to_string(kApMaxConnections) + " slots taken");
  }
  return joined;
}

void Device::leaveStation(const std::string& station) {
  stations_.leave(station);
}

bool Device::stationRequest(const std::string& station) {
  if (station.empty()) return false;
  return stations_.request(station, ports_.clock.millis());
}

void Device::flushQueue() {
  if (!link_up_ || !ports_.transport.connected()) return;
  const auto& entries = queue_.entries();
  // The ack timeout runs from the oldest sent check-in still unacked (or the last ack that moved
  // the queue), not from the latest send: a controller holding its ack for a lost batch waits for
  // this resend, which check-ins arriving more often than the timeout must not put off forever.
  bool waiting = !entries.empty() && sent_upto_ >= entries.front().seq;
  for (std::size_t sent = 0; sent < kMaxBatchesPerLoop; ++sent) {
    const auto next = std::find_if(entries.begin(), entries.end(),
                                   [this](const QueuedCheckin& e) { return e.seq > sent_upto_; });
    if (next == entries.end()) return;
    const std::optional<AttendanceBatch> batch =
        buildBatch(options_.device_id, entries, static_cast<std::size_t>(next - entries.begin()));
    if (!batch) {
      log(LogLevel::kError,
          "check-in seq " + std::to_string(next->seq) + " does not fit a message");
      sent_upto_ = next->seq;
      continue;
    }
    if (!publish(topics_.attendance(), batch->payload, false)) return;
    sent_upto_ = batch->last_seq;
    if (!waiting) ack_wait_start_ms_ = ports_.clock.millis();
    waiting = true;
    ++stats_.batches_sent;
    log(LogLevel::kDebug, "sent check-ins " + std::to_string(batch->first_seq) + ".." +
                              std::to_string(batch->last_seq) + " of session " +
                              std::to_string(batch->session_id));
  }
}

void Device::publishBirth() {
  StatusMsg birth;
  birth.online = true;
  birth.boot = boot_;
  birth.fw = options_.fw_version;
  std::string ip = ports_.system.ip();
  if (!ip.empty() && ip.size() <= kMaxIpLen) birth.ip = std::move(ip);
  publish(topics_.status(), encodeStatus(options_.device_id, birth), true);
}

void Device::publishHeartbeat() {
  HeartbeatMsg hb;
  hb.boot = boot_;
  hb.uptime_s = uptimeSeconds();
  const std::optional<int> rssi = ports_.system.rssi();
  if (rssi && *rssi >= kMinRssi && *rssi <= kMaxRssi) hb.rssi = rssi;
  hb.heap = ports_.system.freeHeap();
  hb.fw = options_.fw_version;
  hb.config_version = applied_.version;
  const StationStats slots = stations_.stats();
  hb.stations = slots.now;
  hb.queued = static_cast<std::uint32_t>(queue_.size());
  hb.stations_peak = slots.peak;
  if (options_.sees_refused_stations) hb.stations_refused = slots.refused;
  hb.checkins_served = slots.checkins_served;
  // Only when some were: the controller reads the common heartbeat on its fast path.
  if (updates_ != nullptr && updates_->imagesRefused() > 0) {
    hb.images_refused = updates_->imagesRefused();
  }
  publish(topics_.heartbeat(), encodeHeartbeat(options_.device_id, hb), false);
}

void Device::publishAppliedState() {
  StateMsg state;
  state.config_version = applied_.version;
  state.result = ApplyResult::kApplied;
  state.active_session = applied_.active_session;
  if (applied_.active_session) {
    state.session_id = applied_.session.session_id;
    state.ssid = applied_.session.ssid;
  }
  publish(topics_.state(), encodeState(options_.device_id, state), true);
}

bool Device::publishShutdown() {
  StatusMsg status;
  status.online = false;
  status.boot = boot_;
  status.reason = "shutdown";
  return publish(topics_.status(), encodeStatus(options_.device_id, status), true);
}

PortalSnapshot Device::snapshot() const {
  PortalSnapshot snap;
  snap.active_session = applied_.active_session;
  if (applied_.active_session) snap.session = applied_.session;
  snap.applied_version = applied_.version;
  snap.connected = link_up_ && ports_.transport.connected();
  if (rejection_) {
    snap.rejected_version = rejection_->config_version;
    snap.rejected_error = rejection_->error;
  }
  snap.queued = queue_.size();
  snap.releases_stations = stations_.recycles();
  return snap;
}

CheckinResult Device::checkin(const std::string& student_id, const std::string& station_mac,
                              const std::string& station) {
  const CheckinResult result = store(student_id, station_mac);
  if (!station.empty() &&
      (result == CheckinResult::kCheckedIn || result == CheckinResult::kAlreadyCheckedIn)) {
    stations_.checkedIn(station, result == CheckinResult::kCheckedIn, ports_.clock.millis());
  }
  return result;
}

CheckinResult Device::store(const std::string& student_id, const std::string& station_mac) {
  if (!applied_.active_session) return CheckinResult::kNoActiveSession;
  const std::string id = trim(student_id);
  if (!isValidStudentId(id)) return CheckinResult::kBadStudentId;
  if (seen_.contains(id)) return CheckinResult::kAlreadyCheckedIn;
  tickUptime();
  std::uint32_t seq = 0;
  const PushResult pushed = queue_.push(applied_.session.session_id, id, station_mac,
                                        static_cast<std::uint32_t>(uptime_ms_), &seq);
  if (pushed == PushResult::kFull) {
    log(LogLevel::kWarn, "check-in of " + id + " refused: queue full");
    return CheckinResult::kQueueFull;
  }
  if (pushed == PushResult::kStorageError) {
    log(LogLevel::kError, "check-in of " + id + " not stored: flash write failed");
    return CheckinResult::kStorageError;
  }
  seen_.insert(id);
  log(LogLevel::kInfo, "check-in seq " + std::to_string(seq) + ": " + id + " (session " +
                           std::to_string(applied_.session.session_id) + ")");
  return CheckinResult::kCheckedIn;
}

std::uint32_t Device::uptimeSeconds() const {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(uptime_ms_ / 1000, kCounterMax));
}

void Device::tickUptime() {
  const std::uint32_t now = ports_.clock.millis();
  uptime_ms_ += static_cast<std::uint32_t>(now - last_millis_);
  last_millis_ = now;
}

bool Device::publish(const std::string& topic, const std::string& payload, bool retained) {
  if (payload.empty()) {
    ++stats_.publish_failures;
    log(LogLevel::kError,
        "message for " + topic + " exceeds " + std::to_string(kMaxPayloadBytes) + " bytes");
    return false;
  }
  if (!ports_.transport.publish(topic, payload, retained)) {
    ++stats_.publish_failures;
    log(LogLevel::kWarn, "publish to " + topic + " failed");
    return false;
  }
  return true;
}

void Device::drop(const char* what, const std::string& why) {
  ++stats_.inbound_dropped;
  log(LogLevel::kWarn, std::string("dropped ") + what + ": " + why);
}

void Device::log(LogLevel level, const std::string& message) {
  ports_.logger.log(level, message);
}

}  // namespace fleet
