#include "fleet_core/update_agent.h"

#include <utility>

#include "fleet_core/boot_counter.h"
#include "fleet_core/limits.h"
#include "fleet_core/semver.h"
#include "fleet_core/storage_keys.h"

namespace fleet {
namespace {

// -1, 0, 1; a version that does not parse (a hand-built image) counts as below any other.
int compareVersions(const std::string& a, const std::string& b) {
  const std::optional<Semver> sa = parseSemver(a);
  const std::optional<Semver> sb = parseSemver(b);
  if (!sa || !sb) return sa ? 1 : sb ? -1 : 0;
  return compareSemver(*sa, *sb);
}

// What identifies a command for "not again": the same bytes, signature and place. The same
// image from another URL, or signed anew, is tried again.
std::string commandKey(const UpdateCommand& cmd) {
  return cmd.sha256 + " " + cmd.signature + " " + cmd.url;
}

}  // namespace

UpdateAgent::UpdateAgent(Topics topics, UpdatePorts ports, UpdateOptions options)
    : topics_(std::move(topics)), ports_(ports), options_(options) {
  if (options_.chunk_bytes == 0) options_.chunk_bytes = kUpdateChunkBytes;
  if (options_.chunks_per_loop == 0) options_.chunks_per_loop = 1;
}

void UpdateAgent::begin() {
  images_refused_ = loadU32(ports_.storage, keys::kImagesRefused).value_or(0);
  ports_.storage.get(keys::kUpdateSkip, skip_);
  const bool pending = ports_.slots.pendingVerify();
  std::string record;
  if (!ports_.storage.get(keys::kUpdateBoot, record)) {
    // An image on trial that no update of ours put there (flashed by hand): confirm it quietly.
    if (pending) {
      stage_ = UpdateStage::kTrial;
      due_ms_ = ports_.clock.millis() + kConfirmDeadlineMs;
    }
    return;
  }
  const std::size_t space = record.find(' ');
  target_ = UpdateCommand();
  target_.version = record.substr(0, space);
  const std::string key = space == std::string::npos ? std::string() : record.substr(space + 1);
  const std::string running = ports_.slots.runningVersion();
  if (compareVersions(running, target_.version) == 0 && pending) {
    stage_ = UpdateStage::kTrial;
    due_ms_ = ports_.clock.millis() + kConfirmDeadlineMs;
    log(LogLevel::kInfo, "running " + running + " on trial: confirming once back at work");
    return;
  }
  ports_.storage.remove(keys::kUpdateBoot);
  if (compareVersions(running, target_.version) == 0) {
    report(UpdatePhase::kConfirmed);
    return;
  }
  remember(key);
  log(LogLevel::kWarn, "update to " + target_.version + " rolled back: running " + running);
  report(UpdatePhase::kRolledBack, std::nullopt, std::string("not_confirmed"));
}

void UpdateAgent::onCommand(const std::uint8_t* payload, std::size_t len) {
  if (len == 0) {
    wanted_.reset();
    if (stage_ == UpdateStage::kDownloading || stage_ == UpdateStage::kRetryWait ||
        stage_ == UpdateStage::kVerified) {
      log(LogLevel::kInfo, "update to " + target_.version + " withdrawn");
      release();
      stage_ = UpdateStage::kIdle;
    }
    return;
  }
  Decoded<UpdateCommand> decoded = decodeUpdate(payload, len);
  if (!decoded.ok()) {
    ++commands_dropped_;
    log(LogLevel::kWarn, "update dropped: " + decoded.error().describe());
    return;
  }
  wanted_ = std::move(decoded.value());
  // Another image while one is on its way (not yet switched to): the newer command wins.
  const bool under_way = stage_ == UpdateStage::kDownloading || stage_ == UpdateStage::kRetryWait ||
                         stage_ == UpdateStage::kVerified;
  if (under_way && commandKey(*wanted_) != commandKey(target_)) {
    log(LogLevel::kInfo, "update to " + target_.version + " replaced by " + wanted_->version);
    release();
    stage_ = UpdateStage::kIdle;
  } else if (under_way) {
    wanted_.reset();  // the same command again (a reconnect): it is under way
  }
}

void UpdateAgent::onConnected() {
  if (last_ && !last_sent_) {
    last_sent_ = ports_.transport.publish(topics_.updateState(),
                                          encodeUpdateState(topics_.deviceId(), *last_), true);
  }
}

void UpdateAgent::loop(const DeviceHealth& health) {
  switch (stage_) {
    case UpdateStage::kIdle: consider(health); break;
    case UpdateStage::kDownloading: download(); break;
    case UpdateStage::kRetryWait: retry(); break;
    case UpdateStage::kVerified: reboot(health); break;
    case UpdateStage::kRebooting:
      if (ports_.clock.millis() - due_ms_ < 0x80000000u) ports_.slots.reboot();
      break;
    case UpdateStage::kTrial: confirm(health); break;
  }
}

void UpdateAgent::consider(const DeviceHealth& health) {
  if (!wanted_) return;
  if (commandKey(*wanted_) == skip_) {
    wanted_.reset();
    return;
  }
  const std::string running = ports_.slots.runningVersion();
  const int order = compareVersions(wanted_->version, running);
  if (order == 0) {
    wanted_.reset();  // already running it
    return;
  }
  if (health.serving_session) {
    if (!deferred_logged_) log(LogLevel::kInfo, "update deferred: a session is running");
    deferred_logged_ = true;
    return;
  }
  deferred_logged_ = false;
  target_ = *wanted_;
  wanted_.reset();
  if (order < 0 && !target_.allow_downgrade) {
    report(UpdatePhase::kFailed, std::nullopt, std::string("downgrade"));
    return;
  }
  if (!ports_.slots.canUpdate()) {
    report(UpdatePhase::kFailed, std::nullopt, std::string("unsupported"));
    return;
  }
  start();
}

void UpdateAgent::start() {
  if (!ports_.slots.begin(target_.size)) {
    report(UpdatePhase::kFailed, std::nullopt, std::string("no_space"));
    return;
  }
  written_ = 0;
  failures_ = 0;
  reported_percent_ = 0;
  buffer_.assign(options_.chunk_bytes, 0);
  stage_ = UpdateStage::kDownloading;
  log(LogLevel::kInfo, "update to " + target_.version + " from " + target_.url);
  report(UpdatePhase::kDownloading, 0);
  if (!ports_.downloader.start(target_.url, 0)) fail("download_error");
}

void UpdateAgent::download() {
  DownloadStep step = DownloadStep::kBusy;
  for (std::size_t i = 0; i < options_.chunks_per_loop; ++i) {
    std::size_t got = 0;
    step = ports_.downloader.poll(buffer_.data(), buffer_.size(), got);
    if (got > 0 && !take(got)) return;
    if (step != DownloadStep::kBusy || got < buffer_.size()) break;
  }
  if (step == DownloadStep::kDone && written_ == target_.size) {
    ports_.downloader.stop();
    verify();
    return;
  }
  if (step == DownloadStep::kBusy) return;
  // Broken, or ended short: resume where it stopped.
  ports_.downloader.stop();
  if (++failures_ >= kUpdateMaxAttempts) {
    fail("download_error");
    return;
  }
  log(LogLevel::kWarn, "download broke at " + std::to_string(written_) + " of " +
                           std::to_string(target_.size) + " bytes: resuming");
  stage_ = UpdateStage::kRetryWait;
  due_ms_ = ports_.clock.millis() + kUpdateRetryMs;
}

// Writes one chunk; false when that ended the update.
bool UpdateAgent::take(std::size_t got) {
  if (got > target_.size - written_) {
    refuse("bad_image");  // longer than the command said
    return false;
  }
  if (!ports_.slots.write(buffer_.data(), got)) {
    fail("flash_error");
    return false;
  }
  written_ += static_cast<std::uint32_t>(got);
  failures_ = 0;
  const std::uint32_t percent =
      static_cast<std::uint32_t>(static_cast<std::uint64_t>(written_) * 100 / target_.size);
  if (percent >= reported_percent_ + kUpdatePercentStep ||
      (percent == 100 && reported_percent_ < 100)) {
    reported_percent_ = percent;
    report(UpdatePhase::kDownloading, percent);
  }
  return true;
}

void UpdateAgent::retry() {
  if (ports_.clock.millis() - due_ms_ >= 0x80000000u) return;  // not yet
  stage_ = UpdateStage::kDownloading;
  if (!ports_.downloader.start(target_.url, written_)) fail("download_error");
}

void UpdateAgent::verify() {
  buffer_.clear();
  buffer_.shrink_to_fit();
  report(UpdatePhase::kVerifying);
  std::string sha256;
  std::string version;
  if (!ports_.slots.finish(sha256, version)) {
    refuse("bad_image");
    return;
  }
  if (sha256 != target_.sha256) {
    refuse("bad_sha256");
    return;
  }
  switch (ports_.slots.verify(sha256, target_.signature)) {
    case SignatureCheck::kValid: break;
    case SignatureCheck::kInvalid: refuse("bad_signature"); return;
    case SignatureCheck::kNoKey: fail("no_key"); return;
  }
  if (version != target_.version) {
    refuse("bad_image");  // signed, but not the version the command named
    return;
  }
  stage_ = UpdateStage::kVerified;
}

void UpdateAgent::reboot(const DeviceHealth& health) {
  if (health.serving_session) return;  // never during a lecture
  if (!ports_.slots.activate()) {
    fail("flash_error");
    return;
  }
  ports_.storage.put(keys::kUpdateBoot, target_.version + " " + commandKey(target_));
  report(UpdatePhase::kRebooting);
  log(LogLevel::kInfo, "rebooting into " + target_.version);
  stage_ = UpdateStage::kRebooting;
  due_ms_ = ports_.clock.millis() + kUpdateRebootDelayMs;
}

void UpdateAgent::confirm(const DeviceHealth& health) {
  if (!health.connected || !health.config_settled || !health.access_point_ok) {
    // Not back at work in time (no broker, a config it cannot apply): the old image again. The
    // old image finds the record and reports rolled_back.
    if (ports_.clock.millis() - due_ms_ < 0x80000000u) {
      log(LogLevel::kError, "not back at work " + std::to_string(kConfirmDeadlineMs / 1000) +
                                " s after the update: rolling back");
      ports_.slots.rollBack();
      due_ms_ = ports_.clock.millis() + kConfirmDeadlineMs;  // returned: it could not, try later
    }
    return;
  }
  if (!ports_.slots.markValid()) {
    log(LogLevel::kError, "could not mark the running image valid");
    return;
  }
  stage_ = UpdateStage::kIdle;
  if (target_.version.empty()) return;
  ports_.storage.remove(keys::kUpdateBoot);
  log(LogLevel::kInfo, "update to " + target_.version + " confirmed");
  report(UpdatePhase::kConfirmed);
}

void UpdateAgent::fail(const std::string& reason) {
  release();
  stage_ = UpdateStage::kIdle;
  log(LogLevel::kWarn, "update to " + target_.version + " failed: " + reason);
  report(UpdatePhase::kFailed, std::nullopt, reason);
}

void UpdateAgent::refuse(const std::string& reason) {
  ++images_refused_;
  storeU32(ports_.storage, keys::kImagesRefused, images_refused_);
  remember(commandKey(target_));  // the same command would be refused again
  fail(reason);
}

void UpdateAgent::release() {
  ports_.downloader.stop();
  ports_.slots.abort();
  buffer_.clear();
  buffer_.shrink_to_fit();
}

void UpdateAgent::report(UpdatePhase phase, std::optional<std::uint32_t> percent,
                         std::optional<std::string> reason) {
  UpdateStateMsg msg;
  msg.version = target_.version;
  msg.phase = phase;
  msg.percent = percent;
  msg.reason = std::move(reason);
  const std::string running = ports_.slots.runningVersion();
  if (!running.empty() && running.size() <= kMaxFwLen) msg.running = running;
  last_ = msg;
  last_sent_ = ports_.transport.connected() &&
               ports_.transport.publish(topics_.updateState(),
                                        encodeUpdateState(topics_.deviceId(), msg), true);
}

void UpdateAgent::remember(const std::string& key) {
  if (key.empty() || key == skip_) return;
  skip_ = key;
  ports_.storage.put(keys::kUpdateSkip, key);
}

void UpdateAgent::log(LogLevel level, const std::string& message) {
  ports_.logger.log(level, message);
}

}  // namespace fleet
