#include "io/json_fields.hpp"

#include <cmath>

#include "core/check.hpp"

namespace tessera {
using json = nlohmann::json;

JsonFields::JsonFields(const json& object, std::string source, std::string prefix)
    : obj_(object), source_(std::move(source)), prefix_(std::move(prefix)) {
  if (!obj_.is_object()) TESSERA_RAISE("{}: {} is not a JSON object", source_, prefix_.empty() ? "the file" : prefix_);
}

bool JsonFields::has(const std::string& key) const {
  const auto it = obj_.find(key);
  return it != obj_.end() && !it->is_null();
}

const json& JsonFields::get(const std::string& key) const {
  const auto it = obj_.find(key);
  if (it == obj_.end()) TESSERA_RAISE("{}: field {} is missing", source_, where(key));
  return *it;
}

int64_t JsonFields::integer(const std::string& key, int64_t lo, int64_t hi) const {
  const json& v = get(key);
  if (!v.is_number_integer()) TESSERA_RAISE("{}: field {} is not an integer", source_, where(key));
  const int64_t x =
      v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  if (x < lo || x > hi) TESSERA_RAISE("{}: field {} = {} is outside [{}, {}]", source_, where(key), x, lo, hi);
  return x;
}

int64_t JsonFields::integer_or(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) const {
  return has(key) ? integer(key, lo, hi) : fallback;
}

uint64_t JsonFields::unsigned_integer(const std::string& key) const {
  const json& v = get(key);
  if (!v.is_number_unsigned()) TESSERA_RAISE("{}: field {} is not a non-negative integer", source_, where(key));
  return v.get<uint64_t>();
}

double JsonFields::number_or(const std::string& key, double fallback, double lo, double hi) const {
  if (!has(key)) return fallback;
  const json& v = get(key);
  if (!v.is_number()) TESSERA_RAISE("{}: field {} is not a number", source_, where(key));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x <= lo || x > hi)
    TESSERA_RAISE("{}: field {} = {} is outside ({}, {}]", source_, where(key), x, lo, hi);
  return x;
}

bool JsonFields::boolean(const std::string& key) const {
  const json& v = get(key);
  if (!v.is_boolean()) TESSERA_RAISE("{}: field {} is not true or false", source_, where(key));
  return v.get<bool>();
}

bool JsonFields::boolean_or(const std::string& key, bool fallback) const {
  return has(key) ? boolean(key) : fallback;
}

std::string JsonFields::string(const std::string& key) const {
  const json& v = get(key);
  if (!v.is_string()) TESSERA_RAISE("{}: field {} is not a string", source_, where(key));
  return v.get<std::string>();
}

std::string JsonFields::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}

const json& JsonFields::array(const std::string& key, size_t max_size) const {
  const json& v = get(key);
  if (!v.is_array()) TESSERA_RAISE("{}: field {} is not an array", source_, where(key));
  if (v.size() > max_size)
    TESSERA_RAISE("{}: field {} has {} entries (at most {})", source_, where(key), v.size(), max_size);
  return v;
}

JsonFields JsonFields::object(const std::string& key) const {
  return {get(key), source_, where(key)};
}

std::string JsonFields::where(const std::string& key) const {
  return prefix_.empty() ? key : prefix_ + "." + key;
}

}  // namespace tessera
