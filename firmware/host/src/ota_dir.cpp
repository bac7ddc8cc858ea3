#include "ota_dir.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "dir_storage.h"

namespace host {
namespace {

std::optional<int> readSlot(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || (text != "0" && text != "1")) return std::nullopt;
  return text == "1" ? 1 : 0;
}

}  // namespace

std::optional<int> OtaDir::boot() const {
  return readSlot(dir_ + "/boot");
}

std::optional<int> OtaDir::trialFrom() const {
  return readSlot(dir_ + "/trial");
}

bool OtaDir::onTrial() const {
  const std::optional<int> from = trialFrom();
  return from && boot() && *from != *boot();
}

std::string OtaDir::version(int slot) const {
  std::ifstream in(slotDir(slot) + "/version");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool OtaDir::setBoot(int slot) const {
  return writeFileAtomically(dir_ + "/boot", std::to_string(slot) + "\n");
}

bool OtaDir::setTrialFrom(int slot) const {
  return writeFileAtomically(dir_ + "/trial", std::to_string(slot) + "\n");
}

bool OtaDir::endTrial() const {
  return ::unlink((dir_ + "/trial").c_str()) == 0 || errno == ENOENT;
}

std::optional<int> slotFromEnvironment() {
  const char* value = std::getenv(kOtaSlotEnv);
  if (value == nullptr) return std::nullopt;
  const std::string text = value;
  if (text == "0") return 0;
  if (text == "1") return 1;
  return std::nullopt;
}

}  // namespace host
