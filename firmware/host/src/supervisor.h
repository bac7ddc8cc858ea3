// fleet-device --supervise: the host port's bootloader. It starts the app of the boot slot
// (STATE-DIR/ota, ota_dir.h) with the device's options and FLEET_OTA_SLOT set, and restarts it
// when it exits (at once after a requested reboot, exit code 75; after a second when it crashed).
// A slot on trial must confirm (remove ota/trial) within --confirm-s seconds: if it exits, crashes
// or stays silent past the deadline, the supervisor stops it (SIGTERM, then SIGKILL), sets the
// boot slot back to the one before and starts that: the rollback ESP-IDF's bootloader does for an
// app left ESP_OTA_IMG_PENDING_VERIFY.
//
//   fleet-device --supervise [--confirm-s 60] -- --id ... --state-dir DIR ... (the device options)
//
// On its first start it installs its own executable as slot 0 (the factory image, version
// FLEET_FW_VERSION). SIGTERM/SIGINT are passed on to the app, and the supervisor exits with it.
#pragma once

namespace host {

int superviseMain(int argc, char** argv);

}  // namespace host
