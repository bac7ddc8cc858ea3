#include "fleet_core/update_msg.h"

#include <utility>

#include "fleet_core/json_codec.h"
#include "fleet_core/limits.h"
#include "fleet_core/semver.h"

namespace fleet {
namespace {

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Padded base64 as the schema's firmware_signature pattern: groups of four, '=' only at the end.
bool isPaddedBase64(const std::string& text) {
  if (text.size() % 4 != 0) return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=') {
      if (i + 2 < text.size() || ++pad > 2) return false;
    } else if (pad > 0 || !isBase64Char(text[i])) {
      return false;
    }
  }
  return true;
}

bool isLowerHex(const std::string& text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool isImageUrl(const std::string& url) {
  const bool scheme = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
  const std::size_t host = url.find("://") + 3;
  if (!scheme || url.size() <= host) return false;
  for (char c : url) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

}  // namespace

const char* updatePhaseName(UpdatePhase phase) {
  switch (phase) {
    case UpdatePhase::kDownloading: return "downloading";
    case UpdatePhase::kVerifying: return "verifying";
    case UpdatePhase::kRebooting: return "rebooting";
    case UpdatePhase::kConfirmed: return "confirmed";
    case UpdatePhase::kFailed: return "failed";
    case UpdatePhase::kRolledBack: return "rolled_back";
  }
  return "failed";
}

Decoded<UpdateCommand> decodeUpdate(const std::uint8_t* data, std::size_t len) {
  Decoded<json::Document> doc = json::parseObject(data, len, kMaxPayloadBytes);
  if (!doc.ok()) return doc.error();
  json::Reader reader(doc.value(), doc.value().root());
  UpdateCommand cmd;
  reader.string("version", kMinFwVersionLen, kMaxFwVersionLen, cmd.version);
  reader.string("url", kMinUpdateUrlLen, kMaxUpdateUrlLen, cmd.url);
  reader.counter("size", cmd.size, 1);
  reader.string("sha256", kSha256HexLen, kSha256HexLen, cmd.sha256);
  reader.string("signature", kMinSignatureChars, kMaxSignatureChars, cmd.signature);
  if (reader.has("allow_downgrade")) reader.boolean("allow_downgrade", cmd.allow_downgrade);
  if (!reader.ok()) return reader.error();
  if (!parseSemver(cmd.version)) return reject(RejectReason::kSchema, "version must be semver");
  if (!isImageUrl(cmd.url)) {
    return reject(RejectReason::kSchema, "url must be http(s):// printable ASCII, no spaces");
  }
  if (cmd.size > kMaxImageBytes) {
    return reject(RejectReason::kSchema, "size must be 1..16777216");
  }
  if (!isLowerHex(cmd.sha256)) return reject(RejectReason::kSchema, "sha256 must be lowercase hex");
  if (!isPaddedBase64(cmd.signature)) {
    return reject(RejectReason::kSchema, "signature must be padded base64");
  }
  return cmd;
}

std::string encodeUpdateState(const std::string& device_id, const UpdateStateMsg& msg) {
  json::Writer writer;
  writer.counter("v", kContractVersion).string("id", device_id);
  writer.string("version", msg.version).string("state", updatePhaseName(msg.phase));
  if (msg.percent) writer.counter("percent", *msg.percent > 100 ? 100 : *msg.percent);
  if (msg.reason) writer.string("reason", *msg.reason);
  if (msg.running) writer.string("running", *msg.running);
  std::string text = writer.print();
  return text.size() <= kMaxPayloadBytes ? text : std::string();
}

}  // namespace fleet
