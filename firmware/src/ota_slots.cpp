#include "ota_slots.h"

#include <esp_app_format.h>
#include <esp_partition.h>
#include <mbedtls/base64.h>
#include <mbedtls/pk.h>

#include <cstring>
#include <vector>

#include <fleet_core/identifiers.h>

namespace glue {
namespace {

constexpr std::size_t kSha256Bytes = 32;

bool fromBase64(const std::string& text, std::vector<unsigned char>& out) {
  std::size_t len = 0;
  out.assign(text.size() / 4 * 3 + 3, 0);
  const int rc = mbedtls_base64_decode(out.data(), out.size(), &len,
                                       reinterpret_cast<const unsigned char*>(text.data()),
                                       text.size());
  out.resize(len);
  return rc == 0 && len > 0;
}

bool fromHex(const std::string& hex, unsigned char (&out)[kSha256Bytes]) {
  if (hex.size() != 2 * kSha256Bytes) return false;
  for (std::size_t i = 0; i < kSha256Bytes; ++i) {
    unsigned value = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = hex[2 * i + k];
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return false;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    out[i] = static_cast<unsigned char>(value);
  }
  return true;
}

}  // namespace

OtaSlots::OtaSlots(std::string update_key, std::function<void()> restart, fleet::Logger& logger)
    : update_key_(std::move(update_key)), restart_(std::move(restart)), logger_(logger) {
  mbedtls_sha256_init(&sha_);
}

OtaSlots::~OtaSlots() {
  abort();
  mbedtls_sha256_free(&sha_);
}

std::string OtaSlots::runningVersion() const {
  const esp_app_desc_t* desc = esp_ota_get_app_description();
  return std::string(desc->version, strnlen(desc->version, sizeof(desc->version)));
}

std::string OtaSlots::runningSha256() const {
  std::uint8_t digest[kSha256Bytes];
  if (esp_partition_get_sha256(esp_ota_get_running_partition(), digest) != ESP_OK) return "";
  return fleet::toHex(digest, sizeof(digest));
}

bool OtaSlots::canUpdate() const {
  return esp_ota_get_next_update_partition(nullptr) != nullptr;
}

bool OtaSlots::pendingVerify() const {
  esp_ota_img_states_t state = ESP_OTA_IMG_UNDEFINED;
  return esp_ota_get_state_partition(esp_ota_get_running_partition(), &state) == ESP_OK &&
         state == ESP_OTA_IMG_PENDING_VERIFY;
}

bool OtaSlots::markValid() {
  return esp_ota_mark_app_valid_cancel_rollback() == ESP_OK;
}

void OtaSlots::rollBack() {
  // Marks the running app invalid and restarts into the previous one; returns only on failure.
  const esp_err_t err = esp_ota_mark_app_invalid_rollback_and_reboot();
  logger_.log(fleet::LogLevel::kError, std::string("rollback failed: ") + esp_err_to_name(err));
}

bool OtaSlots::begin(std::uint32_t size) {
  abort();
  target_ = esp_ota_get_next_update_partition(nullptr);
  if (target_ == nullptr || size > target_->size) return false;
  // Erased a sector at a time as the writes arrive: no long erase of the whole slot in loop().
  if (esp_ota_begin(target_, OTA_WITH_SEQUENTIAL_WRITES, &handle_) != ESP_OK) return false;
  open_ = true;
  finished_ = false;
  mbedtls_sha256_free(&sha_);
  mbedtls_sha256_init(&sha_);
  return mbedtls_sha256_starts_ret(&sha_, 0) == 0;
}

bool OtaSlots::write(const std::uint8_t* data, std::size_t len) {
  if (!open_) return false;
  return esp_ota_write(handle_, data, len) == ESP_OK &&
         mbedtls_sha256_update_ret(&sha_, data, len) == 0;
}

bool OtaSlots::finish(std::string& sha256_hex, std::string& version) {
  if (!open_) return false;
  open_ = false;
  unsigned char digest[kSha256Bytes];
  const bool hashed = mbedtls_sha256_finish_ret(&sha_, digest) == 0;
  const esp_err_t ended = esp_ota_end(handle_);  // checks the image (ESP_ERR_OTA_VALIDATE_FAILED)
  if (!hashed || ended != ESP_OK) {
    logger_.log(fleet::LogLevel::kWarn, std::string("image check: ") + esp_err_to_name(ended));
    return false;
  }
  esp_app_desc_t desc;
  if (esp_ota_get_partition_description(target_, &desc) != ESP_OK) return false;
  sha256_hex = fleet::toHex(digest, sizeof(digest));
  version.assign(desc.version, strnlen(desc.version, sizeof(desc.version)));
  finished_ = true;
  return true;
}

void OtaSlots::abort() {
  if (open_) esp_ota_abort(handle_);
  open_ = false;
}

fleet::SignatureCheck OtaSlots::verify(const std::string& sha256_hex,
                                       const std::string& signature) {
  std::vector<unsigned char> der;
  if (update_key_.empty() || !fromBase64(update_key_, der)) return fleet::SignatureCheck::kNoKey;
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  if (mbedtls_pk_parse_public_key(&key, der.data(), der.size()) != 0 ||
      !mbedtls_pk_can_do(&key, MBEDTLS_PK_ECKEY)) {
    mbedtls_pk_free(&key);
    logger_.log(fleet::LogLevel::kError, "update_key is not an EC public key");
    return fleet::SignatureCheck::kNoKey;
  }
  unsigned char digest[kSha256Bytes];
  std::vector<unsigned char> sig;
  const bool valid = fromHex(sha256_hex, digest) && fromBase64(signature, sig) &&
                     mbedtls_pk_verify(&key, MBEDTLS_MD_SHA256, digest, sizeof(digest), sig.data(),
                                       sig.size()) == 0;
  mbedtls_pk_free(&key);
  return valid ? fleet::SignatureCheck::kValid : fleet::SignatureCheck::kInvalid;
}

bool OtaSlots::activate() {
  return finished_ && target_ != nullptr && esp_ota_set_boot_partition(target_) == ESP_OK;
}

}  // namespace glue
