#include "io/hdf5_file.hpp"

#include <filesystem>
#include <type_traits>

#include "core/check.hpp"

namespace tessera::h5 {
namespace {

template <typename T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  if constexpr (std::is_same_v<T, uint16_t>) return H5T_NATIVE_UINT16;
  if constexpr (std::is_same_v<T, uint32_t>) return H5T_NATIVE_UINT32;
  if constexpr (std::is_same_v<T, int32_t>) return H5T_NATIVE_INT32;
  if constexpr (std::is_same_v<T, uint64_t>) return H5T_NATIVE_UINT64;
  if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
}

}  // namespace

// Before the first HDF5 call: no error-stack printing (failures become one tessera::Error), and no atexit handler.
// HDF5's handler closes whatever is still open at exit; after a flush failed on a full disk it crashes
// (H5F__close_cb, a SIGSEGV after the error line). Every handle here is closed by RAII, so it has nothing to do.
void silence_errors() {
  static const bool once = [] {
    H5dont_atexit();
    return true;
  }();
  (void)once;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

bool is_hdf5(const std::string& path) {
  silence_errors();
  return std::filesystem::is_regular_file(path) && H5Fis_hdf5(path.c_str()) > 0;
}

Id& Id::operator=(Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Id::reset() {
  if (id_ >= 0 && close_ != nullptr) close_(id_);
  id_ = H5I_INVALID_HID;
}

File::File(const std::string& path, Mode mode) : path_(path) {
  silence_errors();
  if (mode == Mode::kRead) {
    if (!std::filesystem::exists(path)) TESSERA_RAISE("{}: no such file", path);
    if (H5Fis_hdf5(path.c_str()) <= 0) TESSERA_RAISE("{}: not an HDF5 file (or truncated)", path);
    file_ = Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  } else {
    // no modification times in objects: the same content gives the same bytes (cmp-equal datasets from any ranks)
    Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_obj_track_times(fcpl.get(), false);
    file_ = Id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT), H5Fclose);
  }
  if (!file_) TESSERA_RAISE("{}: cannot {} HDF5 file", path, mode == Mode::kRead ? "open" : "create");
}

bool File::has(const std::string& name) const {
  // every intermediate link must exist for H5Lexists to answer
  std::string prefix;
  size_t pos = 0;
  while ((pos = name.find('/', pos + 1)) != std::string::npos) {
    prefix = name.substr(0, pos);
    if (!prefix.empty() && H5Lexists(id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(id(), name.c_str(), H5P_DEFAULT) > 0;
}

int64_t File::count_links(const std::string& group) const {
  H5G_info_t info{};
  if (H5Gget_info_by_name(id(), group.c_str(), &info, H5P_DEFAULT) < 0)
    TESSERA_RAISE("{}: cannot read group {}", path_, group);
  return static_cast<int64_t>(info.nlinks);
}

void File::create_group(const std::string& name) {
  Id gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  H5Pset_obj_track_times(gcpl.get(), false);
  Id g(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
  if (!g) TESSERA_RAISE("{}: cannot create group {}", path_, name);
}

template <typename T>
void File::write(const std::string& name, const T* data, const std::vector<uint64_t>& dims, uint64_t chunk) {
  std::vector<hsize_t> hd(dims.begin(), dims.end());
  Id space(H5Screate_simple(static_cast<int>(hd.size()), hd.data(), nullptr), H5Sclose);
  Id plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(plist.get(), false);
  if (chunk > 0 && !hd.empty() && hd[0] > 0) {
    std::vector<hsize_t> cd = hd;
    cd[0] = std::min<hsize_t>(chunk, hd[0]);
    H5Pset_chunk(plist.get(), static_cast<int>(cd.size()), cd.data());
  }
  Id dset(H5Dcreate2(id(), name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
          H5Dclose);
  if (!dset) TESSERA_RAISE("{}: cannot create dataset {}", path_, name);
  // large datasets in slabs of rows: a thread-safe HDF5 holds its lock for one call, and other threads of the
  // process (reading training data while a checkpoint is written in the background) wait at most for one slab
  constexpr uint64_t kSlabBytes = uint64_t{16} << 20;
  uint64_t row = sizeof(T);
  for (size_t d = 1; d < hd.size(); ++d) row *= hd[d];
  const uint64_t rows = hd.empty() ? 1 : hd[0];
  const uint64_t step = std::max<uint64_t>(1, kSlabBytes / std::max<uint64_t>(row, 1));
  if (hd.empty() || rows <= step) {
    if (H5Dwrite(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
      TESSERA_RAISE("{}: cannot write dataset {} (disk full?)", path_, name);
    return;
  }
  for (uint64_t r = 0; r < rows; r += step) {
    std::vector<hsize_t> start(hd.size(), 0), count = hd;
    start[0] = r;
    count[0] = std::min(step, rows - r);
    Id file_space(H5Dget_space(dset.get()), H5Sclose);
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    Id mem(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
    const T* slab = data + r * (row / sizeof(T));
    if (H5Dwrite(dset.get(), native_type<T>(), mem.get(), file_space.get(), H5P_DEFAULT, slab) < 0)
      TESSERA_RAISE("{}: cannot write dataset {} (disk full?)", path_, name);
  }
}

std::vector<uint64_t> File::dims(const std::string& name) const {
  if (!has(name)) TESSERA_RAISE("{}: no dataset {}", path_, name);
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset) TESSERA_RAISE("{}: cannot open dataset {}", path_, name);
  Id space(H5Dget_space(dset.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) TESSERA_RAISE("{}: unreadable dataspace of {}", path_, name);
  std::vector<hsize_t> hd(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), hd.data(), nullptr);
  return {hd.begin(), hd.end()};
}

size_t File::element_size(const std::string& name) const {
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset) TESSERA_RAISE("{}: no dataset {}", path_, name);
  Id type(H5Dget_type(dset.get()), H5Tclose);
  return H5Tget_size(type.get());
}

bool File::is_unsigned_integer(const std::string& name) const {
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset) TESSERA_RAISE("{}: no dataset {}", path_, name);
  Id type(H5Dget_type(dset.get()), H5Tclose);
  return H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE;
}

template <typename T>
std::vector<T> File::read(const std::string& name) const {
  uint64_t n = 1;
  for (uint64_t d : dims(name)) n *= d;
  std::vector<T> out(n);
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (n > 0 && H5Dread(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    TESSERA_RAISE("{}: cannot read dataset {} (corrupt file?)", path_, name);
  return out;
}

template <typename T>
void File::read_into(const std::string& name, T* out, uint64_t n) const {
  uint64_t stored = 1;
  for (uint64_t d : dims(name)) stored *= d;
  if (stored != n) TESSERA_RAISE("{}: dataset {} holds {} elements, expected {}", path_, name, stored, n);
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (n > 0 && H5Dread(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    TESSERA_RAISE("{}: cannot read dataset {} (corrupt or truncated file?)", path_, name);
}

bool File::is_float(const std::string& name, size_t bytes) const {
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset) TESSERA_RAISE("{}: no dataset {}", path_, name);
  Id type(H5Dget_type(dset.get()), H5Tclose);
  return H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == bytes;
}

namespace {
herr_t collect_name(hid_t /*group*/, const char* name, const H5L_info_t* /*info*/, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> File::list(const std::string& group) const {
  std::vector<std::string> names;
  if (H5Literate_by_name(id(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names, H5P_DEFAULT) <
      0)
    TESSERA_RAISE("{}: cannot list group {}", path_, group);
  return names;
}

template <typename T>
void File::read_range(const std::string& name, uint64_t start, uint64_t count, T* out) const {
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset) TESSERA_RAISE("{}: no dataset {}", path_, name);
  Id space(H5Dget_space(dset.get()), H5Sclose);
  const hsize_t hs = start, hc = count;
  if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &hs, nullptr, &hc, nullptr) < 0)
    TESSERA_RAISE("{}: range [{}, {}) outside dataset {}", path_, start, start + count, name);
  Id mem(H5Screate_simple(1, &hc, nullptr), H5Sclose);
  if (H5Dread(dset.get(), native_type<T>(), mem.get(), space.get(), H5P_DEFAULT, out) < 0)
    TESSERA_RAISE("{}: cannot read [{}, {}) of dataset {} (corrupt file?)", path_, start, start + count, name);
}

namespace {
Id open_object(hid_t file, const std::string& object, const std::string& path) {
  Id obj(H5Oopen(file, object.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj) TESSERA_RAISE("{}: no object {}", path, object);
  return obj;
}
}  // namespace

void File::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  Id obj = open_object(id(), object, path_);
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(H5Acreate2(obj.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* data = value.empty() ? "" : value.data();
  if (!attr || H5Awrite(attr.get(), type.get(), data) < 0) TESSERA_RAISE("{}: cannot write attribute {}", path_, name);
}

void File::set_attr(const std::string& object, const std::string& name, int64_t value) {
  set_attr(object, name, std::vector<int64_t>{value});
}

void File::set_attr(const std::string& object, const std::string& name, const std::vector<int64_t>& value) {
  Id obj = open_object(id(), object, path_);
  const hsize_t n = value.size();
  Id space(n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Id attr(H5Acreate2(obj.get(), name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr || H5Awrite(attr.get(), H5T_NATIVE_INT64, value.data()) < 0)
    TESSERA_RAISE("{}: cannot write attribute {}", path_, name);
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  return H5Aexists_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::string File::attr_string(const std::string& object, const std::string& name) const {
  if (!has_attr(object, name)) TESSERA_RAISE("{}: missing attribute {} (not a tessera file?)", path_, name);
  Id attr(H5Aopen_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) TESSERA_RAISE("{}: attribute {} is not a string", path_, name);
  if (H5Tis_variable_str(type.get()) > 0) TESSERA_RAISE("{}: attribute {} is a variable-length string", path_, name);
  const size_t size = H5Tget_size(type.get());
  std::string out(size, '\0');
  Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.get(), size);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  if (H5Aread(attr.get(), mem.get(), out.data()) < 0) TESSERA_RAISE("{}: cannot read attribute {}", path_, name);
  out.resize(out.find('\0') == std::string::npos ? out.size() : out.find('\0'));
  return out;
}

std::vector<int64_t> File::attr_ints(const std::string& object, const std::string& name) const {
  if (!has_attr(object, name)) TESSERA_RAISE("{}: missing attribute {} (not a tessera file?)", path_, name);
  Id attr(H5Aopen_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  Id space(H5Aget_space(attr.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<int64_t> out(static_cast<size_t>(std::max<hssize_t>(n, 0)));
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) TESSERA_RAISE("{}: attribute {} is not an integer", path_, name);
  if (!out.empty() && H5Aread(attr.get(), H5T_NATIVE_INT64, out.data()) < 0)
    TESSERA_RAISE("{}: cannot read attribute {}", path_, name);
  return out;
}

int64_t File::attr_int(const std::string& object, const std::string& name) const {
  const auto v = attr_ints(object, name);
  if (v.size() != 1) TESSERA_RAISE("{}: attribute {} is not a single integer", path_, name);
  return v[0];
}

void File::close() {
  flush();
  if (H5Fclose(file_.release()) < 0) TESSERA_RAISE("{}: cannot close (disk full?)", path_);
}

void File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_GLOBAL) < 0) TESSERA_RAISE("{}: cannot flush (disk full?)", path_);
}

// NOLINTBEGIN(bugprone-macro-parentheses): T is a type name here
#define TESSERA_H5_TYPES(X) X(float) X(double) X(uint16_t) X(uint32_t) X(int32_t) X(uint64_t) X(int64_t) X(uint8_t)
#define TESSERA_H5_INSTANTIATE(T)                                                                     \
  template void File::write<T>(const std::string&, const T*, const std::vector<uint64_t>&, uint64_t); \
  template std::vector<T> File::read<T>(const std::string&) const;                                    \
  template void File::read_into<T>(const std::string&, T*, uint64_t) const;                           \
  template void File::read_range<T>(const std::string&, uint64_t, uint64_t, T*) const;
TESSERA_H5_TYPES(TESSERA_H5_INSTANTIATE)
// NOLINTEND(bugprone-macro-parentheses)

}  // namespace tessera::h5
