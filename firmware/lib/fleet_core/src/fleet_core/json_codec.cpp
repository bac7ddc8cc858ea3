#include "fleet_core/json_codec.h"

#include <cJSON.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "fleet_core/identifiers.h"
#include "fleet_core/limits.h"

namespace fleet {
namespace json {
namespace {

constexpr int kMaxNesting = 16;

bool isNumberChar(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// One pass over the raw text: nesting depth and, for each number literal in document order,
// whether it is written as an integer.
struct TextScan {
  int max_depth = 0;
  bool raw_control = false;  // JSON (RFC 8259) allows only escaped control characters, cJSON any
  std::vector<bool> integer_literals;
};

TextScan scanText(const std::string& text) {
  TextScan scan;
  int depth = 0;
  bool in_string = false;
  bool in_key = false;                // the string being read is an object's key
  std::vector<bool> in_object{false};  // per open container: object (true) or array
  bool expect_key = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool control = static_cast<unsigned char>(c) < 0x20;
    if (in_string) {
      if (control) scan.raw_control = true;
      if (c == '\\') {
        // cJSON would end a value at an escaped NUL and decode another value than was sent
        // (in a key it only renames an unknown field, which is ignored anyway)
        if (!in_key && text.compare(i + 1, 5, "u0000") == 0) scan.raw_control = true;
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (control && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      scan.raw_control = true;
    } else if (c == '"') {
      in_string = true;
      in_key = in_object.back() && expect_key;
    } else if (c == '{' || c == '[') {
      scan.max_depth = std::max(scan.max_depth, ++depth);
      in_object.push_back(c == '{');
      expect_key = c == '{';
    } else if (c == '}' || c == ']') {
      --depth;
      if (in_object.size() > 1) in_object.pop_back();
      expect_key = false;
    } else if (c == ':') {
      expect_key = false;
    } else if (c == ',') {
      expect_key = in_object.back();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      bool integral = true;
      std::size_t j = i;
      for (; j < text.size() && isNumberChar(text[j]); ++j) {
        if (text[j] == '.' || text[j] == 'e' || text[j] == 'E') integral = false;
      }
      scan.integer_literals.push_back(integral);
      i = j - 1;
    }
  }
  return scan;
}

// cJSON keeps the first of duplicate keys, Python the last: such a text means two things, so refuse it.
bool hasDuplicateKeys(const cJSON* node) {
  for (; node != nullptr; node = node->next) {
    if (cJSON_IsObject(node)) {
      for (const cJSON* a = node->child; a != nullptr; a = a->next) {
        for (const cJSON* b = a->next; b != nullptr; b = b->next) {
          if (a->string != nullptr && b->string != nullptr && std::strcmp(a->string, b->string) == 0) return true;
        }
      }
    }
    if (node->child != nullptr && hasDuplicateKeys(node->child)) return true;
  }
  return false;
}

void collectNumbers(const cJSON* node, std::vector<const cJSON*>& out) {
  for (; node != nullptr; node = node->next) {
    if (cJSON_IsNumber(node)) out.push_back(node);
    if (node->child != nullptr) collectNumbers(node->child, out);
  }
}

}  // namespace

void CJsonDeleter::operator()(cJSON* node) const {
  cJSON_Delete(node);
}

Document::Document(Node root, std::vector<const cJSON*> non_integer_literals)
    : root_(std::move(root)), non_integer_literals_(std::move(non_integer_literals)) {}

bool Document::isIntegerLiteral(const cJSON* number) const {
  return std::find(non_integer_literals_.begin(), non_integer_literals_.end(), number) ==
         non_integer_literals_.end();
}

Decoded<Document> parseObject(const std::uint8_t* data, std::size_t len, std::size_t max_bytes) {
  if (len > max_bytes) {
    return reject(RejectReason::kTooLarge, std::to_string(len) + " bytes");
  }
  const std::string text(reinterpret_cast<const char*>(data), len);
  if (text.find('\0') != std::string::npos || !utf8Length(text)) {
    return reject(RejectReason::kBadJson, "not UTF-8 text");
  }
  const TextScan scan = scanText(text);
  if (scan.raw_control) {
    return reject(RejectReason::kBadJson, "raw control character");
  }
  if (scan.max_depth > kMaxNesting) {
    return reject(RejectReason::kBadJson, "nested too deeply");
  }
  const char* end = nullptr;
  Node root(cJSON_ParseWithOpts(text.c_str(), &end, 1));
  if (!root) {
    return reject(RejectReason::kBadJson, "not JSON");
  }
  if (hasDuplicateKeys(root.get())) {
    return reject(RejectReason::kBadJson, "duplicate keys");
  }
  if (!cJSON_IsObject(root.get())) {
    return reject(RejectReason::kNotObject, "top level is not an object");
  }
  std::vector<const cJSON*> numbers;
  collectNumbers(root.get(), numbers);
  if (numbers.size() != scan.integer_literals.size()) {
    return reject(RejectReason::kBadJson, "unreadable numbers");
  }
  std::vector<const cJSON*> non_integer;
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (!scan.integer_literals[i]) non_integer.push_back(numbers[i]);
  }
  Document doc(std::move(root), std::move(non_integer));
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(doc.root(), "v");
  if (v == nullptr) {
    return reject(RejectReason::kSchema, "v is missing");
  }
  if (!cJSON_IsNumber(v) || !doc.isIntegerLiteral(v) || v->valuedouble != kContractVersion) {
    return reject(RejectReason::kBadVersion, "v must be the integer 1");
  }
  return Decoded<Document>(std::move(doc));
}

bool isObject(const cJSON* node) {
  return cJSON_IsObject(node);
}

Reader::Reader(const Document& doc, const cJSON* object) : doc_(doc), object_(object) {}

const cJSON* Reader::field(const char* name) const {
  return cJSON_GetObjectItemCaseSensitive(object_, name);
}

bool Reader::has(const char* name) const {
  return field(name) != nullptr;
}

bool Reader::fail(RejectReason reason, std::string detail) {
  if (ok()) error_ = DecodeError{reason, std::move(detail)};
  return false;
}

bool Reader::schemaError(const char* name, const std::string& what) {
  return fail(RejectReason::kSchema, std::string(name) + " " + what);
}

bool Reader::counter(const char* name, std::uint32_t& out, std::uint32_t min) {
  if (!ok()) return false;
  const cJSON* node = field(name);
  if (node == nullptr) return schemaError(name, "is missing");
  const double value = cJSON_IsNumber(node) ? node->valuedouble : -1.0;
  if (!cJSON_IsNumber(node) || !doc_.isIntegerLiteral(node) || value < min ||
      value > static_cast<double>(kCounterMax) || std::floor(value) != value) {
    return schemaError(name, "must be an integer in " + std::to_string(min) + "..4294967295");
  }
  out = static_cast<std::uint32_t>(value);
  return true;
}

bool Reader::optionalCounter(const char* name, std::optional<std::uint32_t>& out) {
  if (!ok()) return false;
  if (!has(name)) return true;
  std::uint32_t value = 0;
  if (!counter(name, value)) return false;
  out = value;
  return true;
}

bool Reader::optionalInteger(const char* name, int min, int max, std::optional<int>& out) {
  if (!ok()) return false;
  const cJSON* node = field(name);
  if (node == nullptr) return true;
  const double value = cJSON_IsNumber(node) ? node->valuedouble : min - 1.0;
  if (!cJSON_IsNumber(node) || !doc_.isIntegerLiteral(node) || value < min || value > max ||
      std::floor(value) != value) {
    return schemaError(name,
                       "must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
  }
  out = static_cast<int>(value);
  return true;
}

bool Reader::boolean(const char* name, bool& out) {
  if (!ok()) return false;
  const cJSON* node = field(name);
  if (node == nullptr) return schemaError(name, "is missing");
  if (!cJSON_IsBool(node)) return schemaError(name, "must be true or false");
  out = cJSON_IsTrue(node);
  return true;
}

bool Reader::string(const char* name, std::size_t min_chars, std::size_t max_chars,
                    std::string& out) {
  if (!ok()) return false;
  const cJSON* node = field(name);
  if (node == nullptr) return schemaError(name, "is missing");
  if (!cJSON_IsString(node) || node->valuestring == nullptr) {
    return schemaError(name, "must be a string");
  }
  std::string value(node->valuestring);
  const std::optional<std::size_t> chars = utf8Length(value);
  if (!chars || *chars < min_chars || *chars > max_chars) {
    return schemaError(name, "must be " + std::to_string(min_chars) + ".." +
                                 std::to_string(max_chars) + " characters");
  }
  out = std::move(value);
  return true;
}

bool Reader::optionalString(const char* name, std::size_t max_chars,
                            std::optional<std::string>& out) {
  if (!ok()) return false;
  if (!has(name)) return true;
  std::string value;
  if (!string(name, 0, max_chars, value)) return false;
  out = std::move(value);
  return true;
}

bool Reader::senderId(const std::string* expected_id) {
  std::optional<std::string> id;
  if (!optionalString("id", kMaxDeviceIdLen, id)) return false;
  if (!id) return true;
  if (!isValidDeviceId(*id)) return fail(RejectReason::kSchema, "id is not a valid device id");
  if (expected_id != nullptr && *id != *expected_id) {
    return fail(RejectReason::kIdMismatch, "payload id " + *id + " on topic of " + *expected_id);
  }
  return true;
}

bool Reader::array(const char* name, std::size_t min_items, std::size_t max_items,
                   std::vector<const cJSON*>& items) {
  if (!ok()) return false;
  const cJSON* node = field(name);
  if (node == nullptr) return schemaError(name, "is missing");
  const std::size_t size =
      cJSON_IsArray(node) ? static_cast<std::size_t>(cJSON_GetArraySize(node)) : 0;
  if (!cJSON_IsArray(node) || size < min_items || size > max_items) {
    return schemaError(name, "must be a list of " + std::to_string(min_items) + ".." +
                                 std::to_string(max_items) + " items");
  }
  items.clear();
  for (const cJSON* item = node->child; item != nullptr; item = item->next) items.push_back(item);
  return true;
}

Writer::Writer() : root_(cJSON_CreateObject()) {
  failed_ = !root_;
}

Writer& Writer::counter(const char* name, std::uint32_t value) {
  if (!failed_ &&
      cJSON_AddNumberToObject(root_.get(), name, static_cast<double>(value)) == nullptr) {
    failed_ = true;
  }
  return *this;
}

Writer& Writer::integer(const char* name, int value) {
  if (!failed_ &&
      cJSON_AddNumberToObject(root_.get(), name, static_cast<double>(value)) == nullptr) {
    failed_ = true;
  }
  return *this;
}

Writer& Writer::boolean(const char* name, bool value) {
  if (!failed_ && cJSON_AddBoolToObject(root_.get(), name, value ? 1 : 0) == nullptr) {
    failed_ = true;
  }
  return *this;
}

Writer& Writer::string(const char* name, const std::string& value) {
  if (!failed_ && cJSON_AddStringToObject(root_.get(), name, value.c_str()) == nullptr) {
    failed_ = true;
  }
  return *this;
}

Writer& Writer::append(const char* name, Writer&& item) {
  if (failed_ || item.failed_) {
    failed_ = true;
    return *this;
  }
  cJSON* array = cJSON_GetObjectItemCaseSensitive(root_.get(), name);
  if (array == nullptr) array = cJSON_AddArrayToObject(root_.get(), name);
  if (array == nullptr || !cJSON_IsArray(array)) {
    failed_ = true;
    return *this;
  }
  cJSON_AddItemToArray(array, item.root_.release());
  return *this;
}

void Writer::popBack(const char* name) {
  cJSON* array = cJSON_GetObjectItemCaseSensitive(root_.get(), name);
  if (array == nullptr || !cJSON_IsArray(array)) return;
  const int size = cJSON_GetArraySize(array);
  if (size > 0) cJSON_DeleteItemFromArray(array, size - 1);
}

std::string Writer::print() const {
  if (failed_) return std::string();
  char* text = cJSON_PrintUnformatted(root_.get());
  if (text == nullptr) return std::string();
  std::string out(text);
  cJSON_free(text);
  return out;
}

}  // namespace json
}  // namespace fleet
