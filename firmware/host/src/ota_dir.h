// The host port's "flash" for firmware: two slots and the boot choice under STATE-DIR/ota, read
// and written by the device (host_slots.h) and by its supervisor (supervisor.h), which plays
// the bootloader:
//
//   ota/slot0/, ota/slot1/   app (the executable), version, image.bin (the signed image)
//   ota/boot                 "0" or "1": the slot the supervisor starts
//   ota/trial                the slot booted before: while it differs from boot, the booted slot
//                            is on trial (ESP_OTA_IMG_PENDING_VERIFY); the app removes it to
//                            confirm (esp_ota_mark_app_valid_cancel_rollback)
//
// The supervisor tells its child which slot it runs in FLEET_OTA_SLOT.
#pragma once

#include <optional>
#include <string>

namespace host {

constexpr const char* kOtaSlotEnv = "FLEET_OTA_SLOT";
constexpr int kRebootExitCode = 75;  // the app asks its supervisor for a restart (esp_restart)

class OtaDir {
 public:
  explicit OtaDir(const std::string& state_dir) : dir_(state_dir + "/ota") {}

  const std::string& path() const { return dir_; }
  std::string slotDir(int slot) const { return dir_ + "/slot" + std::to_string(slot); }
  std::string app(int slot) const { return slotDir(slot) + "/app"; }

  std::optional<int> boot() const;
  std::optional<int> trialFrom() const;  // the slot booted before a trial, while one runs
  bool onTrial() const;
  std::string version(int slot) const;  // "" unknown

  bool setBoot(int slot) const;
  bool setTrialFrom(int slot) const;
  bool endTrial() const;

 private:
  std::string dir_;
};

// FLEET_OTA_SLOT, when a supervisor started this process.
std::optional<int> slotFromEnvironment();

}  // namespace host
