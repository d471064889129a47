// Fields of a JSON object that may come from a stranger (a checkpoint manifest, a Hugging Face config.json): each
// read checks the type and range and names the file and the field in its error, so parsing runs no surprises.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tessera {

class JsonFields {
 public:
  // Throws tessera::Error naming source (and prefix, the path of a nested object) unless `object` is an object.
  JsonFields(const nlohmann::json& object, std::string source, std::string prefix = "");

  // Present and not null.
  bool has(const std::string& key) const;
  // The value; an error if missing.
  const nlohmann::json& get(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t lo, int64_t hi) const;
  int64_t integer_or(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) const;
  uint64_t unsigned_integer(const std::string& key) const;
  // A finite number in (lo, hi], or fallback if absent.
  double number_or(const std::string& key, double fallback, double lo, double hi) const;
  bool boolean(const std::string& key) const;
  bool boolean_or(const std::string& key, bool fallback) const;
  std::string string(const std::string& key) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  // An array of at most max_size entries.
  const nlohmann::json& array(const std::string& key, size_t max_size) const;
  JsonFields object(const std::string& key) const;

  // "a.b.key", for messages.
  std::string where(const std::string& key) const;
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& obj_;
  std::string source_, prefix_;
};

}  // namespace tessera
