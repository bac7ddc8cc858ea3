// The one place where cJSON is used: parsing a payload into a checked v1 object, typed field
// readers that report the contract's rejection reasons, and a writer for compact output.
// Internal to fleet_core: message modules convert to and from plain structs here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fleet_core/decode_result.h"

struct cJSON;

namespace fleet {
namespace json {

struct CJsonDeleter {
  void operator()(cJSON* node) const;
};
using Node = std::unique_ptr<cJSON, CJsonDeleter>;

// A parsed payload whose top level is an object with "v": 1.
class Document {
 public:
  Document(Node root, std::vector<const cJSON*> non_integer_literals);
  const cJSON* root() const { return root_.get(); }
  // cJSON keeps numbers as doubles; the contract wants integers without fraction or exponent
  // ("1.0" is not an integer), so the raw text is checked too.
  bool isIntegerLiteral(const cJSON* number) const;

 private:
  Node root_;
  std::vector<const cJSON*> non_integer_literals_;
};

// too_large, bad_json (also invalid UTF-8, nesting deeper than 16), not_object, bad_version
// ("v" other than the integer 1), schema ("v" missing).
Decoded<Document> parseObject(const std::uint8_t* data, std::size_t len, std::size_t max_bytes);

// Reads typed fields of one object. The first failure is kept in error() and every later
// read returns false, so a decoder can read all fields and check once.
class Reader {
 public:
  Reader(const Document& doc, const cJSON* object);

  bool has(const char* name) const;
  bool counter(const char* name, std::uint32_t& out, std::uint32_t min = 0);
  bool optionalCounter(const char* name, std::optional<std::uint32_t>& out);
  bool optionalInteger(const char* name, int min, int max, std::optional<int>& out);
  bool boolean(const char* name, bool& out);
  // Length in characters (code points), like JSON Schema's minLength/maxLength.
  bool string(const char* name, std::size_t min_chars, std::size_t max_chars, std::string& out);
  bool optionalString(const char* name, std::size_t max_chars, std::optional<std::string>& out);
  // "id" of a device message: optional, a valid device id, equal to the topic's id if given.
  bool senderId(const std::string* expected_id);
  // An array field; its items are visited with item().
  bool array(const char* name, std::size_t min_items, std::size_t max_items,
             std::vector<const cJSON*>& items);
  bool fail(RejectReason reason, std::string detail);

  const DecodeError& error() const { return error_; }
  bool ok() const { return error_.reason == RejectReason::kNone; }
  const Document& document() const { return doc_; }

 private:
  const cJSON* field(const char* name) const;
  bool schemaError(const char* name, const std::string& what);

  const Document& doc_;
  const cJSON* object_;
  DecodeError error_;
};

bool isObject(const cJSON* node);

// Builds one JSON object; print() gives compact text ("" if memory ran out).
class Writer {
 public:
  Writer();
  Writer& counter(const char* name, std::uint32_t value);
  Writer& integer(const char* name, int value);
  Writer& boolean(const char* name, bool value);
  Writer& string(const char* name, const std::string& value);
  // Moves `item`'s object to the end of the array field `name` (created on first use).
  Writer& append(const char* name, Writer&& item);
  // Removes the last item of the array field `name`.
  void popBack(const char* name);
  std::string print() const;

 private:
  Node root_;
  bool failed_ = false;
};

}  // namespace json
}  // namespace fleet
