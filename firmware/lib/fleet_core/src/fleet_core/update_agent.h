// The device's side of a firmware update (issue 16): the retained `update` command in, the image
// downloaded into the other slot (resuming after a broken transfer), its SHA-256, signature and
// app descriptor checked before the boot slot changes, the reboot, and, in the new image, the
// confirmation once the device is back at work; `update_state` out at every step. Platform-free:
// the slots, the download and the flash are ports (ports.h). Nothing here blocks.
//
// Rules: a version below the running one is refused ("downgrade") unless the command allows it;
// an update never starts while the device serves a session, and the reboot waits for the session
// to end; an image refused for its hash, signature or descriptor is counted (imagesRefused(), in
// the heartbeat) and the same command (bytes, signature, URL) is not tried again; a new image confirms (markValid) only
// once connected to the broker, its config settled and the access point as the config wants it;
// one that is not within kConfirmDeadlineMs gives up (rollBack), as does the bootloader on a reset.
// A new image that never confirms is rolled back by the bootloader (supervisor); the old image
// then finds the record of the update it rebooted for and reports "rolled_back".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet_core/limits.h"
#include "fleet_core/ports.h"
#include "fleet_core/topics.h"
#include "fleet_core/update_msg.h"

namespace fleet {

struct UpdatePorts {
  Transport& transport;
  Storage& storage;
  FirmwareSlots& slots;
  Downloader& downloader;
  Clock& clock;
  Logger& logger;
};

// What the device knows each loop() pass.
struct DeviceHealth {
  bool connected = false;        // the broker session is up
  bool config_settled = false;   // a config was handled since connecting (or none came in time)
  bool access_point_ok = false;  // the access point runs as the applied config wants
  bool serving_session = false;  // a lecture: no update starts, no reboot happens
};

// How much of the download one loop() pass takes: the ESP32 writes flash as it goes (one chunk a
// pass keeps the portal answering), the host port can take more.
struct UpdateOptions {
  std::size_t chunk_bytes = kUpdateChunkBytes;
  std::size_t chunks_per_loop = 1;
};

enum class UpdateStage {
  kIdle,
  kDownloading,
  kRetryWait,  // a broken transfer resumes with a Range request
  kVerified,   // checked, waiting for the session to end before the reboot
  kRebooting,
  kTrial,  // the new image runs, not yet confirmed
};

class UpdateAgent {
 public:
  UpdateAgent(Topics topics, UpdatePorts ports, UpdateOptions options = UpdateOptions());

  // At boot: is this the image an update rebooted into (on trial), or did the bootloader go back?
  void begin();
  // A message on {root}/devices/{id}/update; an empty payload withdraws the command.
  void onCommand(const std::uint8_t* payload, std::size_t len);
  // A report the broker did not take is sent again.
  void onConnected();
  void loop(const DeviceHealth& health);

  UpdateStage stage() const { return stage_; }
  std::uint32_t imagesRefused() const { return images_refused_; }
  std::uint32_t commandsDropped() const { return commands_dropped_; }
  const std::optional<UpdateStateMsg>& lastReport() const { return last_; }

 private:
  void consider(const DeviceHealth& health);
  void start();
  void download();
  bool take(std::size_t got);
  void retry();
  void verify();
  void reboot(const DeviceHealth& health);
  void confirm(const DeviceHealth& health);
  void fail(const std::string& reason);
  void refuse(const std::string& reason);
  void release();
  void report(UpdatePhase phase, std::optional<std::uint32_t> percent = std::nullopt,
              std::optional<std::string> reason = std::nullopt);
  void remember(const std::string& key);
  void log(LogLevel level, const std::string& message);

  Topics topics_;
  UpdatePorts ports_;
  UpdateOptions options_;
  UpdateStage stage_ = UpdateStage::kIdle;
  std::optional<UpdateCommand> wanted_;  // the latest command not yet acted on
  UpdateCommand target_;                 // the update under way
  std::string skip_;                     // a command refused or rolled back: not tried again
  std::vector<std::uint8_t> buffer_;     // one chunk while downloading
  std::uint32_t written_ = 0;
  std::uint32_t reported_percent_ = 0;
  std::uint32_t failures_ = 0;  // broken transfers since the last byte arrived
  std::uint32_t due_ms_ = 0;    // kRetryWait, kRebooting, kTrial (the confirm deadline)
  bool deferred_logged_ = false;
  std::uint32_t images_refused_ = 0;
  std::uint32_t commands_dropped_ = 0;
  std::optional<UpdateStateMsg> last_;
  bool last_sent_ = true;
};

}  // namespace fleet
