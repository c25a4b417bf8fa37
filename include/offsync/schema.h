// offsync/schema.h — what the server accepts and how it merges, per collection and field.
//
// The file format is docs/protocol.md's, extended (docs/merge-policies.md):
//   {"min_app_version": "1.2.0",
//    "collections": {"orders": {"required": ["title"],
//                               "on_delete": "delete_wins",
//                               "fields": {"status": {"type": "string", "merge": "escalate"}}}}}
//
// Thread safety: a Schema is immutable once parsed; share it freely.
//
// Ownership: a Schema is a value; ServerOptions keeps its own copy.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "offsync/status.h"

namespace offsync {

enum class FieldType { kAny, kString, kNumber, kBoolean, kObject, kArray };
enum class MergePolicy {
  kLww,       // the later ingest wins (the server's HLC at ingest is always the later)
  kEscalate,  // a write of a field changed on the server since the client's base is a 409 conflict
};
// The named rule for a delete racing an update (docs/merge-policies.md).
enum class DeleteRule {
  kDeleteWins,  // a delete applies whatever changed since its base
  kUpdateWins,  // a delete whose base is older than the record's last change is a 409 conflict
};

struct FieldSpec {
  FieldType type = FieldType::kAny;
  MergePolicy merge = MergePolicy::kLww;
};

struct CollectionSpec {
  std::vector<std::string> required;
  std::map<std::string, FieldSpec> fields;
  DeleteRule on_delete = DeleteRule::kDeleteWins;

  // The field's spec; fields not listed are allowed, untyped and lww.
  const FieldSpec& field(const std::string& name) const;
};

// Why a record does not fit its collection: a snake_case code and a sentence for people.
struct SchemaViolation {
  std::string code;  // "unknown_collection", "missing_required_field", "wrong_field_type"
  std::string message;
};

class Schema {
 public:
  // The schema of a server started without --schema: every collection, every field lww.
  Schema() = default;
  // Parses a schema file's text; kInvalidArgument names the offending entry.
  static Result<Schema> parse(std::string_view json_text);
  static Result<Schema> load(const std::string& path);

  const std::optional<std::string>& min_app_version() const { return min_app_version_; }
  // nullptr for a collection this schema does not allow.
  const CollectionSpec* collection(const std::string& name) const;
  // Checks a record's full field set against its collection.
  std::optional<SchemaViolation> check(const std::string& collection, const nlohmann::json& fields) const;

 private:
  bool permissive_ = true;
  std::optional<std::string> min_app_version_;
  std::map<std::string, CollectionSpec> collections_;
  CollectionSpec any_;
};

// Compares dotted versions numerically, part by part ("1.10.0" > "1.9.3"; missing parts are 0).
// nullopt when either is not a dotted list of numbers.
std::optional<int> compare_versions(std::string_view a, std::string_view b);

}  // namespace offsync
