#include "host_slots.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "dir_storage.h"
#include "fleet_core/identifiers.h"
#include "fleet_core/version.h"
#include "host_image.h"

namespace host {
namespace {

std::optional<std::vector<unsigned char>> fromBase64(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::optional<std::vector<unsigned char>> fromHex(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<unsigned char> out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const std::string byte = hex.substr(i, 2);
    if (byte.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
    out.push_back(static_cast<unsigned char>(std::stoi(byte, nullptr, 16)));
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

HostSlots::HostSlots(const std::string& state_dir, std::optional<int> running_slot,
                     std::string update_key, fleet::Logger& logger)
    : ota_(state_dir), running_(running_slot), update_key_(std::move(update_key)), logger_(logger) {}

HostSlots::~HostSlots() {
  abort();
}

std::string HostSlots::runningVersion() const {
  const std::string version = running_ ? ota_.version(*running_) : std::string();
  return version.empty() ? std::string(fleet::kFirmwareVersion) : version;
}

std::string HostSlots::runningSha256() const {
  if (!running_) return "";
  const std::string image = readFile(ota_.slotDir(*running_) + "/image.bin");
  if (image.empty()) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(image.data(), image.size(), digest, &len, EVP_sha256(), nullptr) != 1) return "";
  return fleet::toHex(digest, len);
}

bool HostSlots::pendingVerify() const {
  return running_ && ota_.boot() == running_ && ota_.onTrial();
}

bool HostSlots::markValid() {
  return ota_.endTrial();
}

bool HostSlots::begin(std::uint32_t size) {
  abort();
  if (!running_) return false;
  const std::string dir = ota_.slotDir(other());
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  std::filesystem::create_directories(dir, error);
  const std::filesystem::space_info space = std::filesystem::space(dir, error);
  if (error || space.available < 2ull * size) return false;
  image_ = std::fopen((dir + "/image.part").c_str(), "wb");
  sha_ = EVP_MD_CTX_new();
  finished_ = false;
  return image_ != nullptr && sha_ != nullptr && EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) == 1;
}

bool HostSlots::write(const std::uint8_t* data, std::size_t len) {
  if (image_ == nullptr || sha_ == nullptr) return false;
  return std::fwrite(data, 1, len, image_) == len && EVP_DigestUpdate(sha_, data, len) == 1;
}

bool HostSlots::finish(std::string& sha256_hex, std::string& version) {
  if (image_ == nullptr || sha_ == nullptr) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool hashed = EVP_DigestFinal_ex(sha_, digest, &len) == 1;
  const bool closed = std::fflush(image_) == 0 && ::fsync(fileno(image_)) == 0;
  std::fclose(image_);
  image_ = nullptr;
  EVP_MD_CTX_free(sha_);
  sha_ = nullptr;
  if (!hashed || !closed) return false;
  sha256_hex = fleet::toHex(digest, len);
  finished_ = unpack(version);
  return finished_;
}

// image.part -> image.bin, app (0755) and version in the other slot.
bool HostSlots::unpack(std::string& version) {
  const std::string dir = ota_.slotDir(other());
  const std::string image = readFile(dir + "/image.part");
  std::string error;
  const std::optional<ImageLayout> layout =
      parseImage(image.substr(0, kImageBodyOffset), image.size(), error);
  if (!layout) {
    logger_.log(fleet::LogLevel::kWarn, "not a host image: " + error);
    return false;
  }
  const std::string app = dir + "/app";
  if (!writeFileAtomically(app, image.substr(layout->body_offset, layout->body_size)) ||
      ::chmod(app.c_str(), 0755) != 0 || !writeFileAtomically(dir + "/version", layout->version) ||
      std::rename((dir + "/image.part").c_str(), (dir + "/image.bin").c_str()) != 0) {
    return false;
  }
  version = layout->version;
  return true;
}

void HostSlots::abort() {
  if (image_ != nullptr) std::fclose(image_);
  image_ = nullptr;
  if (sha_ != nullptr) EVP_MD_CTX_free(sha_);
  sha_ = nullptr;
}

fleet::SignatureCheck HostSlots::verify(const std::string& sha256_hex,
                                        const std::string& signature) {
  const std::optional<std::vector<unsigned char>> der = fromBase64(update_key_);
  if (!der) return fleet::SignatureCheck::kNoKey;
  const unsigned char* p = der->data();
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size()));
  if (key == nullptr || !EVP_PKEY_is_a(key, "EC")) {
    EVP_PKEY_free(key);
    logger_.log(fleet::LogLevel::kError, "update_key is not an EC public key");
    return fleet::SignatureCheck::kNoKey;
  }
  const std::optional<std::vector<unsigned char>> digest = fromHex(sha256_hex);
  const std::optional<std::vector<unsigned char>> sig = fromBase64(signature);
  bool valid = false;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  if (ctx != nullptr && digest && sig && digest->size() == 32 &&
      EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1) {
    valid = EVP_PKEY_verify(ctx, sig->data(), sig->size(), digest->data(), digest->size()) == 1;
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(key);
  return valid ? fleet::SignatureCheck::kValid : fleet::SignatureCheck::kInvalid;
}

bool HostSlots::activate() {
  if (!running_ || !finished_) return false;
  return ota_.setTrialFrom(*running_) && ota_.setBoot(other());
}

std::optional<std::string> readPublicKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  std::string body;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.rfind("-----BEGIN", 0) == 0) {
      body.clear();
    } else if (line.rfind("-----END", 0) == 0) {
      break;
    } else {
      body += line;
    }
  }
  if (!fromBase64(body)) return std::nullopt;
  return body;
}

}  // namespace host
