#include "offsync/schema.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace offsync {
namespace {

const FieldSpec kDefaultField;

Result<FieldType> parse_type(const std::string& where, const nlohmann::json& j) {
  static const std::map<std::string, FieldType> kTypes = {{"string", FieldType::kString},
                                                          {"number", FieldType::kNumber},
                                                          {"boolean", FieldType::kBoolean},
                                                          {"object", FieldType::kObject},
                                                          {"array", FieldType::kArray}};
  if (j.is_string()) {
    if (auto it = kTypes.find(j.get<std::string>()); it != kTypes.end()) return it->second;
  }
  return Status::invalid_argument(where + ".type must be one of string, number, boolean, object, array (got " +
                                  j.dump() + ")");
}

Result<MergePolicy> parse_merge(const std::string& where, const nlohmann::json& j) {
  if (j == "lww") return MergePolicy::kLww;
  if (j == "escalate") return MergePolicy::kEscalate;
  return Status::invalid_argument(where + ".merge must be \"lww\" or \"escalate\" (got " + j.dump() + ")");
}

bool has_type(const nlohmann::json& v, FieldType t) {
  switch (t) {
    case FieldType::kAny: return true;
    case FieldType::kString: return v.is_string();
    case FieldType::kNumber: return v.is_number();
    case FieldType::kBoolean: return v.is_boolean();
    case FieldType::kObject: return v.is_object();
    case FieldType::kArray: return v.is_array();
  }
  return false;
}

const char* type_name(FieldType t) {
  switch (t) {
    case FieldType::kAny: return "any";
    case FieldType::kString: return "string";
    case FieldType::kNumber: return "number";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kObject: return "object";
    case FieldType::kArray: return "array";
  }
  return "?";
}

Result<CollectionSpec> parse_collection(const std::string& name, const nlohmann::json& j) {
  std::string where = "collections." + name;
  if (!j.is_object()) return Status::invalid_argument(where + " must be an object");
  CollectionSpec spec;
  for (const auto& [key, value] : j.items()) {
    if (key == "required") {
      if (!value.is_array()) return Status::invalid_argument(where + ".required must be an array of field names");
      for (const auto& f : value) {
        if (!f.is_string()) return Status::invalid_argument(where + ".required must be an array of field names");
        spec.required.push_back(f.get<std::string>());
      }
    } else if (key == "fields") {
      if (!value.is_object()) return Status::invalid_argument(where + ".fields must be an object");
      for (const auto& [field, fj] : value.items()) {
        std::string fwhere = where + ".fields." + field;
        if (!fj.is_object()) return Status::invalid_argument(fwhere + " must be an object");
        FieldSpec fs;
        for (const auto& [fk, fv] : fj.items()) {
          if (fk == "type") {
            auto t = parse_type(fwhere, fv);
            if (!t) return t.status();
            fs.type = *t;
          } else if (fk == "merge") {
            auto m = parse_merge(fwhere, fv);
            if (!m) return m.status();
            fs.merge = *m;
          } else {
            return Status::invalid_argument(fwhere + ": unknown key \"" + fk + "\" (type, merge)");
          }
        }
        spec.fields[field] = fs;
      }
    } else if (key == "on_delete") {
      if (value == "delete_wins") {
        spec.on_delete = DeleteRule::kDeleteWins;
      } else if (value == "update_wins") {
        spec.on_delete = DeleteRule::kUpdateWins;
      } else {
        return Status::invalid_argument(where + ".on_delete must be \"delete_wins\" or \"update_wins\"");
      }
    } else {
      return Status::invalid_argument(where + ": unknown key \"" + key + "\" (required, fields, on_delete)");
    }
  }
  return spec;
}

}  // namespace

const FieldSpec& CollectionSpec::field(const std::string& name) const {
  auto it = fields.find(name);
  return it == fields.end() ? kDefaultField : it->second;
}

Result<Schema> Schema::parse(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return Status::invalid_argument(std::string("schema is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return Status::invalid_argument("schema must be a JSON object");
  Schema schema;
  schema.permissive_ = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "min_app_version") {
      if (!value.is_string() || !compare_versions(value.get<std::string>(), "0")) {
        return Status::invalid_argument("min_app_version must be a dotted version string like \"1.2.0\"");
      }
      schema.min_app_version_ = value.get<std::string>();
    } else if (key == "collections") {
      if (!value.is_object()) return Status::invalid_argument("collections must be an object");
      for (const auto& [name, spec] : value.items()) {
        auto parsed = parse_collection(name, spec);
        if (!parsed) return parsed.status();
        schema.collections_[name] = std::move(*parsed);
      }
    } else {
      return Status::invalid_argument("schema: unknown key \"" + key + "\" (min_app_version, collections)");
    }
  }
  return schema;
}

Result<Schema> Schema::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::invalid_argument("cannot read schema file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto schema = parse(text.str());
  if (!schema) return Status::invalid_argument(path + ": " + schema.status().message());
  return schema;
}

const CollectionSpec* Schema::collection(const std::string& name) const {
  if (permissive_) return &any_;
  auto it = collections_.find(name);
  return it == collections_.end() ? nullptr : &it->second;
}

std::optional<SchemaViolation> Schema::check(const std::string& collection, const nlohmann::json& fields) const {
  const CollectionSpec* spec = this->collection(collection);
  if (!spec) return SchemaViolation{"unknown_collection", "the schema has no collection \"" + collection + "\""};
  for (const std::string& name : spec->required) {
    if (!fields.contains(name)) {
      return SchemaViolation{"missing_required_field", collection + "." + name + " is required"};
    }
  }
  for (const auto& [name, fs] : spec->fields) {
    auto it = fields.find(name);
    if (it != fields.end() && !has_type(*it, fs.type)) {
      return SchemaViolation{"wrong_field_type", collection + "." + name + " must be a " + type_name(fs.type) +
                                                     " (got " + it->type_name() + ")"};
    }
  }
  return std::nullopt;
}

std::optional<int> compare_versions(std::string_view a, std::string_view b) {
  auto parts = [](std::string_view v) -> std::optional<std::vector<uint64_t>> {
    std::vector<uint64_t> out;
    if (v.empty()) return std::nullopt;
    while (true) {
      size_t dot = v.find('.');
      std::string_view part = v.substr(0, dot);
      uint64_t n = 0;
      auto r = std::from_chars(part.data(), part.data() + part.size(), n);
      if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size()) return std::nullopt;
      out.push_back(n);
      if (dot == std::string_view::npos) return out;
      v = v.substr(dot + 1);
    }
  };
  auto pa = parts(a), pb = parts(b);
  if (!pa || !pb) return std::nullopt;
  size_t n = std::max(pa->size(), pb->size());
  pa->resize(n, 0);
  pb->resize(n, 0);
  if (*pa < *pb) return -1;
  if (*pa > *pb) return 1;
  return 0;
}

}  // namespace offsync
