#include "dir_storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "fleet_core/storage_keys.h"

namespace host {
namespace {

bool writeAll(int fd, const std::string& content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool syncDirectoryOf(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool writeFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool written = writeAll(fd, content) && ::fsync(fd) == 0;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return syncDirectoryOf(path);
}

DirStorage::DirStorage(std::string dir) : dir_(std::move(dir)) {}

bool DirStorage::open() {
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  return !error && std::filesystem::is_directory(dir_);
}

std::string DirStorage::pathOf(const std::string& key) const {
  return dir_ + "/" + key;
}

bool DirStorage::syncDir() const {
  return syncDirectoryOf(pathOf("x"));
}

bool DirStorage::get(const std::string& key, std::string& value) {
  if (!fleet::keys::isValidKey(key)) return false;
  std::ifstream in(pathOf(key), std::ios::binary);
  if (!in) return false;
  value.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

bool DirStorage::put(const std::string& key, const std::string& value) {
  if (!fleet::keys::isValidKey(key)) return false;
  return writeFileAtomically(pathOf(key), value);
}

bool DirStorage::remove(const std::string& key) {
  if (!fleet::keys::isValidKey(key)) return false;
  if (::unlink(pathOf(key).c_str()) != 0) return errno == ENOENT;
  return syncDir();
}

}  // namespace host
