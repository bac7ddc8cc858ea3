// fleet::FirmwareSlots on Linux: the other slot of STATE-DIR/ota (ota_dir.h) written as the image
// arrives, SHA-256 with OpenSSL while it streams, the fleet key's ECDSA P-256 signature checked
// with OpenSSL, and the boot choice for the supervisor. Without a supervisor (no FLEET_OTA_SLOT)
// the device cannot update and says so ("unsupported").
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "fleet_core/ports.h"
#include "ota_dir.h"

struct evp_md_ctx_st;

namespace host {

class HostSlots : public fleet::FirmwareSlots {
 public:
  // `update_key`: base64 of the fleet public key's DER SubjectPublicKeyInfo ("" none).
  HostSlots(const std::string& state_dir, std::optional<int> running_slot, std::string update_key,
            fleet::Logger& logger);
  ~HostSlots() override;

  std::string runningVersion() const override;
  std::string runningSha256() const override;
  bool canUpdate() const override { return running_.has_value(); }
  bool pendingVerify() const override;
  bool markValid() override;
  bool begin(std::uint32_t size) override;
  bool write(const std::uint8_t* data, std::size_t len) override;
  bool finish(std::string& sha256_hex, std::string& version) override;
  void abort() override;
  fleet::SignatureCheck verify(const std::string& sha256_hex,
                               const std::string& signature) override;
  bool activate() override;
  void reboot() override { reboot_requested_ = true; }
  // Exits unconfirmed: the supervisor sees the trial fail and boots the old slot.
  void rollBack() override { reboot_requested_ = true; }

  // The main loop exits with kRebootExitCode once this is set.
  bool rebootRequested() const { return reboot_requested_; }

 private:
  int other() const { return running_ ? 1 - *running_ : 1; }
  bool unpack(std::string& version);

  OtaDir ota_;
  std::optional<int> running_;
  std::string update_key_;
  fleet::Logger& logger_;
  std::FILE* image_ = nullptr;
  evp_md_ctx_st* sha_ = nullptr;
  bool finished_ = false;
  bool reboot_requested_ = false;
};

// The base64 body of a PEM public key file, or the file's text when it is base64 already.
std::optional<std::string> readPublicKeyFile(const std::string& path);

}  // namespace host
