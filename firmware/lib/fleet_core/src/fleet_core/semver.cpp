#include "fleet_core/semver.h"

#include <cstddef>

#include "fleet_core/limits.h"

namespace fleet {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isIdentChar(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

bool allDigits(const std::string& s) {
  for (char c : s) {
    if (!isDigit(c)) return false;
  }
  return !s.empty();
}

// 0 or [1-9][0-9]{0,8}, as the schema's pattern.
bool number(const std::string& s, std::uint32_t& out) {
  if (!allDigits(s) || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return false;
  out = 0;
  for (char c : s) out = out * 10 + static_cast<std::uint32_t>(c - '0');
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

bool identifiers(const std::string& s, bool pre, std::vector<std::string>& out) {
  out = split(s, '.');
  for (const std::string& id : out) {
    if (id.empty()) return false;
    for (char c : id) {
      if (!isIdentChar(c)) return false;
    }
    // A numeric pre-release identifier has no leading zero.
    if (pre && allDigits(id) && id.size() > 1 && id[0] == '0') return false;
  }
  return true;
}

int compareIdentifier(const std::string& a, const std::string& b) {
  const bool na = allDigits(a);
  const bool nb = allDigits(b);
  if (na && nb) {
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
  }
  if (na != nb) return na ? -1 : 1;
  const int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

std::optional<Semver> parseSemver(const std::string& text) {
  if (text.size() < kMinFwVersionLen || text.size() > kMaxFwVersionLen) return std::nullopt;
  std::string rest = text;
  const std::size_t plus = rest.find('+');
  if (plus != std::string::npos) {
    std::vector<std::string> build;
    if (!identifiers(rest.substr(plus + 1), false, build)) return std::nullopt;
    rest.resize(plus);
  }
  Semver v;
  const std::size_t dash = rest.find('-');
  if (dash != std::string::npos) {
    if (!identifiers(rest.substr(dash + 1), true, v.pre)) return std::nullopt;
    rest.resize(dash);
  }
  const std::vector<std::string> core = split(rest, '.');
  if (core.size() != 3 || !number(core[0], v.major) || !number(core[1], v.minor) ||
      !number(core[2], v.patch)) {
    return std::nullopt;
  }
  return v;
}

int compareSemver(const Semver& a, const Semver& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  if (a.pre.empty() || b.pre.empty()) {
    if (a.pre.empty() == b.pre.empty()) return 0;
    return a.pre.empty() ? 1 : -1;
  }
  for (std::size_t i = 0; i < a.pre.size() && i < b.pre.size(); ++i) {
    const int c = compareIdentifier(a.pre[i], b.pre[i]);
    if (c != 0) return c;
  }
  if (a.pre.size() == b.pre.size()) return 0;
  return a.pre.size() < b.pre.size() ? -1 : 1;
}

}  // namespace fleet
