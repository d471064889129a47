// Thin RAII wrappers over the HDF5 C API: every id is closed by its owner, every return code is checked, and a
// failure becomes a tessera::Error that names the file and the object (HDF5's own error stack printing is off).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::h5 {

// An owned hid_t, closed with the function that matches its kind.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Id(Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Id& operator=(Id&& o) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() { reset(); }
  void reset();
  // Gives up ownership: the caller closes the id.
  hid_t release() {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

enum class Mode { kRead, kCreate };  // kCreate truncates: callers write under a temporary name and rename

class File {
 public:
  File(const std::string& path, Mode mode);
  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }

  bool has(const std::string& name) const;
  // Objects directly inside a group (datasets and groups).
  int64_t count_links(const std::string& group) const;
  void create_group(const std::string& name);

  // 1-D or N-D datasets of a native type; chunk > 0 makes a chunked, resizable-free dataset with that chunk length
  // along the first dimension.
  template <typename T>
  void write(const std::string& name, const T* data, const std::vector<uint64_t>& dims, uint64_t chunk = 0);
  template <typename T>
  std::vector<T> read(const std::string& name) const;
  // The whole dataset into out, which holds n elements: an error unless the dataset has exactly n.
  template <typename T>
  void read_into(const std::string& name, T* out, uint64_t n) const;
  // Elements [start, start + count) of a 1-D dataset, converted to T.
  template <typename T>
  void read_range(const std::string& name, uint64_t start, uint64_t count, T* out) const;
  std::vector<uint64_t> dims(const std::string& name) const;
  // H5T_NATIVE_* class of the stored elements: size in bytes and whether it is an integer / unsigned
  size_t element_size(const std::string& name) const;
  // Whether a dataset's elements are unsigned integers (not floats, not signed).
  bool is_unsigned_integer(const std::string& name) const;
  // Whether a dataset's elements are IEEE floats of `bytes` bytes.
  bool is_float(const std::string& name, size_t bytes) const;
  // Names of the links directly inside a group, in name order.
  std::vector<std::string> list(const std::string& group) const;

  // Attributes on an object ("/" for the file).
  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, int64_t value);
  void set_attr(const std::string& object, const std::string& name, const std::vector<int64_t>& value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  int64_t attr_int(const std::string& object, const std::string& name) const;
  std::vector<int64_t> attr_ints(const std::string& object, const std::string& name) const;

  void flush();
  // Flushes and closes the file (an error if the data cannot be written); the object is unusable after.
  void close();

 private:
  std::string path_;
  Id file_;
};

// Turns off HDF5's printing of its error stack (we report our own one-line errors). Idempotent.
void silence_errors();
// True if the file exists and has the HDF5 signature.
bool is_hdf5(const std::string& path);

}  // namespace tessera::h5
