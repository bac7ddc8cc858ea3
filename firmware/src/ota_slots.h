// fleet::FirmwareSlots on the ESP32: the other OTA partition (app0/app1 of partitions.csv),
// written with esp_ota_write as the image arrives and hashed with mbedTLS's SHA-256 on the way;
// esp_ota_end checks the image; the fleet key's ECDSA P-256 signature over that SHA-256 is checked
// with mbedtls_pk_verify before esp_ota_set_boot_partition ever runs. After the reboot the new app
// is ESP_OTA_IMG_PENDING_VERIFY (the Arduino core's prebuilt sdkconfig has
// CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): the core calls markValid()
// (esp_ota_mark_app_valid_cancel_rollback) only once it is back at work, otherwise the next reset
// boots the old app again.
#pragma once

#include <esp_ota_ops.h>
#include <mbedtls/sha256.h>

#include <functional>
#include <string>

#include <fleet_core/ports.h>

namespace glue {

class OtaSlots : public fleet::FirmwareSlots {
 public:
  // `update_key`: base64 of the fleet public key's DER (`set update_key`); `restart`: the clean
  // reboot (offline status, then ESP.restart()).
  OtaSlots(std::string update_key, std::function<void()> restart, fleet::Logger& logger);
  ~OtaSlots() override;

  std::string runningVersion() const override;
  std::string runningSha256() const override;
  bool canUpdate() const override;
  bool pendingVerify() const override;
  bool markValid() override;
  bool begin(std::uint32_t size) override;
  bool write(const std::uint8_t* data, std::size_t len) override;
  bool finish(std::string& sha256_hex, std::string& version) override;
  void abort() override;
  fleet::SignatureCheck verify(const std::string& sha256_hex,
                               const std::string& signature) override;
  bool activate() override;
  void reboot() override { restart_(); }
  void rollBack() override;  // esp_ota_mark_app_invalid_rollback_and_reboot

 private:
  std::string update_key_;
  std::function<void()> restart_;
  fleet::Logger& logger_;
  const esp_partition_t* target_ = nullptr;
  esp_ota_handle_t handle_ = 0;
  bool open_ = false;
  bool finished_ = false;
  mbedtls_sha256_context sha_;
};

}  // namespace glue
