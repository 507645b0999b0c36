// onnx_tensor.cc — TensorProto decoding/encoding, external data, tensor files.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "ir/onnx_convert.h"
#include "ir/onnx_import.h"

namespace ferry {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 36;  // 64 Gi elements: anything larger is malformed for us

Status bad(const std::string& what, const std::string& msg) { return invalid_argument(what + ": " + msg); }

// Unpacks `n` sub-byte values (bits = 4 or 2) from packed bytes, low bits first; sign-extends when `is_signed`.
void unpack_bits(const uint8_t* src, int64_t n, int bits, bool is_signed, uint8_t* dst) {
  int per_byte = 8 / bits;
  uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  for (int64_t i = 0; i < n; ++i) {
    uint8_t v = static_cast<uint8_t>((src[i / per_byte] >> ((i % per_byte) * bits)) & mask);
    if (is_signed && (v & (1u << (bits - 1)))) v = static_cast<uint8_t>(v | ~mask);
    dst[i] = v;
  }
}

std::string pack_bits(const uint8_t* src, int64_t n, int bits) {
  int per_byte = 8 / bits;
  std::string out(static_cast<size_t>((n + per_byte - 1) / per_byte), '\0');
  uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  for (int64_t i = 0; i < n; ++i)
    out[static_cast<size_t>(i / per_byte)] |= static_cast<char>((src[i] & mask) << ((i % per_byte) * bits));
  return out;
}

bool is_sub_byte(DType t) { return dtype_bits(t) < 8; }

int64_t stored_bytes(DType t, int64_t n) {
  int bits = dtype_bits(t);
  if (bits < 8) return (n * bits + 7) / 8;
  return n * static_cast<int64_t>(dtype_size(t));
}

// Fills `t` from little-endian file bytes of the ONNX layout.
Status fill_from_bytes(Tensor& t, const char* bytes, size_t size, const std::string& what) {
  int64_t n = t.numel();
  int64_t need = stored_bytes(t.dtype(), n);
  if (static_cast<int64_t>(size) != need)
    return bad(what, "holds " + std::to_string(size) + " bytes of data, expected " + std::to_string(need) + " for " +
                         std::to_string(n) + " " + dtype_name(t.dtype()) + " elements");
  if (is_sub_byte(t.dtype())) {
    unpack_bits(reinterpret_cast<const uint8_t*>(bytes), n, dtype_bits(t.dtype()), dtype_is_signed(t.dtype()) &&
                t.dtype() != DType::kFloat4E2M1, t.data<uint8_t>());
  } else if (t.dtype() == DType::kBool) {
    for (int64_t i = 0; i < n; ++i) t.data<bool>()[i] = bytes[i] != 0;
  } else if (need > 0) {
    std::memcpy(t.raw_data(), bytes, static_cast<size_t>(need));
  }
  return Status::ok();
}

Expected<std::string> read_external(const onnx::TensorProto& p, const std::string& base_dir, const std::string& what,
                                    int64_t need) {
  if (base_dir.empty()) return bad(what, "external data is not allowed here");
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (...) {
      return bad(what, "external data field '" + kv.key() + "' is not a number: '" + kv.value() + "'");
    }
  }
  if (location.empty()) return bad(what, "external data has no location");
  fs::path rel(location);
  if (rel.is_absolute()) return bad(what, "external data path '" + location + "' is absolute; only relative paths are allowed");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
  fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) return bad(what, "external data path '" + location + "' cannot be resolved");
  auto [b_end, f_it] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b_end != base.end()) return bad(what, "external data path '" + location + "' escapes the model's folder");
  if (offset < 0) return bad(what, "external data offset is negative");
  std::ifstream f(full, std::ios::binary);
  if (!f) return bad(what, "cannot open external data file '" + location + "'");
  f.seekg(0, std::ios::end);
  int64_t file_size = f.tellg();
  if (length < 0) length = file_size - offset;
  if (length != need) return bad(what, "external data length " + std::to_string(length) + " bytes, expected " + std::to_string(need));
  if (offset + length > file_size)
    return bad(what, "external data range [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                         ") exceeds file '" + location + "' of " + std::to_string(file_size) + " bytes");
  std::string buf(static_cast<size_t>(length), '\0');
  f.seekg(offset);
  f.read(buf.data(), length);
  if (!f) return bad(what, "failed reading external data file '" + location + "'");
  return buf;
}

template <typename Field, typename Store>
Status fill_typed(Tensor& t, const Field& field, int64_t per_value, const std::string& what, Store store) {
  int64_t n = t.numel();
  if (static_cast<int64_t>(field.size()) * per_value != n && !(per_value > 1 && static_cast<int64_t>(field.size()) ==
                                                                                     (n + per_value - 1) / per_value))
    return bad(what, "has " + std::to_string(field.size()) + " values for " + std::to_string(n) + " elements");
  for (int i = 0; i < field.size(); ++i) store(i, field.Get(i));
  return Status::ok();
}

}  // namespace

Expected<Tensor> tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir, const std::string& what) {
  if (!p.has_data_type() || !dtype_is_valid(p.data_type()))
    return bad(what, "unknown element type " + std::to_string(p.data_type()));
  DType dt = static_cast<DType>(p.data_type());
  if (dt == DType::kComplex64 || dt == DType::kComplex128) return unsupported(what + ": complex tensors are not supported");
  Shape shape;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0) return bad(what, "has negative dimension " + std::to_string(d));
    if (d > 0 && n > kMaxElements / d) return bad(what, "is too large (more than 2^36 elements)");
    n *= d;
    shape.push_back(d);
  }
  if (p.has_segment()) return unsupported(what + ": segmented tensors are not supported");
  // Check the amount of data before allocating, so a hostile header cannot make us allocate terabytes.
  bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  std::string ext;
  if (external) {
    auto r = read_external(p, base_dir, what, stored_bytes(dt, n));
    if (!r) return r.status();
    ext = std::move(r).value();
  } else if (p.has_raw_data()) {
    if (static_cast<int64_t>(p.raw_data().size()) != stored_bytes(dt, n))
      return bad(what, "raw_data holds " + std::to_string(p.raw_data().size()) + " bytes, expected " +
                           std::to_string(stored_bytes(dt, n)));
  } else {
    int64_t provided = p.float_data_size() + p.int32_data_size() + p.string_data_size() + p.int64_data_size() +
                       p.double_data_size() + p.uint64_data_size();
    int64_t per = is_sub_byte(dt) ? 8 / dtype_bits(dt) : 1;
    if (provided * per < n) return bad(what, "has " + std::to_string(provided) + " values for " + std::to_string(n) + " elements");
  }
  // Raw and external data overwrite every byte; typed fields may be short for packed types, so zero those.
  bool full_overwrite = external || p.has_raw_data() || dt == DType::kString;
  Tensor t = full_overwrite ? Tensor::empty(dt, shape) : Tensor::zeros(dt, shape);
  if (dt == DType::kString) {
    if (external || p.has_raw_data()) return bad(what, "string tensors must use string_data");
    return fill_typed(t, p.string_data(), 1, what, [&](int i, const std::string& s) { t.data<std::string>()[i] = s; })
                   .is_ok()
               ? Expected<Tensor>(t)
               : Expected<Tensor>(bad(what, "string count does not match its shape"));
  }
  if (external) {
    FERRY_RETURN_IF_ERROR(fill_from_bytes(t, ext.data(), ext.size(), what));
    return t;
  }
  if (p.has_raw_data()) {
    FERRY_RETURN_IF_ERROR(fill_from_bytes(t, p.raw_data().data(), p.raw_data().size(), what));
    return t;
  }
  Status s;
  switch (dt) {
    case DType::kFloat:
      s = fill_typed(t, p.float_data(), 1, what, [&](int i, float v) { t.data<float>()[i] = v; });
      break;
    case DType::kDouble:
      s = fill_typed(t, p.double_data(), 1, what, [&](int i, double v) { t.data<double>()[i] = v; });
      break;
    case DType::kInt64:
      s = fill_typed(t, p.int64_data(), 1, what, [&](int i, int64_t v) { t.data<int64_t>()[i] = v; });
      break;
    case DType::kUInt32:
      s = fill_typed(t, p.uint64_data(), 1, what, [&](int i, uint64_t v) { t.data<uint32_t>()[i] = static_cast<uint32_t>(v); });
      break;
    case DType::kUInt64:
      s = fill_typed(t, p.uint64_data(), 1, what, [&](int i, uint64_t v) { t.data<uint64_t>()[i] = v; });
      break;
    case DType::kInt32:
      s = fill_typed(t, p.int32_data(), 1, what, [&](int i, int32_t v) { t.data<int32_t>()[i] = v; });
      break;
    case DType::kInt16:
      s = fill_typed(t, p.int32_data(), 1, what, [&](int i, int32_t v) { t.data<int16_t>()[i] = static_cast<int16_t>(v); });
      break;
    case DType::kUInt16: case DType::kFloat16: case DType::kBFloat16:
      s = fill_typed(t, p.int32_data(), 1, what, [&](int i, int32_t v) { t.data<uint16_t>()[i] = static_cast<uint16_t>(v); });
      break;
    case DType::kBool:
      s = fill_typed(t, p.int32_data(), 1, what, [&](int i, int32_t v) { t.data<bool>()[i] = v != 0; });
      break;
    default:
      if (is_sub_byte(dt)) {  // int32_data holds packed bytes
        std::string packed;
        for (int32_t v : p.int32_data()) packed.push_back(static_cast<char>(v));
        if (static_cast<int64_t>(packed.size()) < stored_bytes(dt, n))
          return bad(what, "has too few packed values for its shape");
        packed.resize(static_cast<size_t>(stored_bytes(dt, n)));
        s = fill_from_bytes(t, packed.data(), packed.size(), what);
      } else {  // int8, uint8, float8 variants: one value per int32
        s = fill_typed(t, p.int32_data(), 1, what, [&](int i, int32_t v) { t.data<uint8_t>()[i] = static_cast<uint8_t>(v); });
      }
  }
  FERRY_RETURN_IF_ERROR(s);
  return t;
}

bool raw_is_storage(const onnx::TensorProto& p, size_t raw_size, DType* dtype, Shape* shape) {
  if (p.data_location() == onnx::TensorProto::EXTERNAL || !p.has_data_type() || !dtype_is_valid(p.data_type()) ||
      p.has_segment())
    return false;
  DType dt = static_cast<DType>(p.data_type());
  if (dt == DType::kString || dt == DType::kBool || dt == DType::kComplex64 || dt == DType::kComplex128 ||
      is_sub_byte(dt))
    return false;
  Shape s;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0 || (d > 0 && n > kMaxElements / d)) return false;
    n *= d;
    s.push_back(d);
  }
  if (static_cast<int64_t>(raw_size) != stored_bytes(dt, n)) return false;
  *dtype = dt;
  *shape = std::move(s);
  return true;
}

Expected<Tensor> take_tensor_from_proto(onnx::TensorProto* p, const std::string& base_dir, const std::string& what) {
  constexpr size_t kMinTakeBytes = 4096;  // below this a copy is as cheap and keeps the storage 64-byte aligned
  DType dt;
  Shape shape;
  if (!p->has_raw_data() || p->raw_data().size() < kMinTakeBytes || !raw_is_storage(*p, p->raw_data().size(), &dt, &shape))
    return tensor_from_proto(*p, base_dir, what);  // also reports every error
  // The protobuf already copied the bytes out of the file once; move that string into the tensor (O(1)).
  auto bytes = std::make_shared<std::string>();
  bytes->swap(*p->mutable_raw_data());
  p->clear_raw_data();
  void* data = bytes->data();
  return Tensor::view(dt, std::move(shape), std::shared_ptr<void>(bytes, data), data);
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->Clear();
  if (!name.empty()) p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) p->add_string_data(t.data<std::string>()[i]);
    return;
  }
  if (is_sub_byte(t.dtype())) {
    p->set_raw_data(pack_bits(t.data<uint8_t>(), t.numel(), dtype_bits(t.dtype())));
  } else if (t.dtype() == DType::kBool) {
    std::string raw(static_cast<size_t>(t.numel()), '\0');
    for (int64_t i = 0; i < t.numel(); ++i) raw[static_cast<size_t>(i)] = t.data<bool>()[i] ? 1 : 0;
    p->set_raw_data(raw);
  } else {
    p->set_raw_data(std::string(static_cast<const char*>(t.raw_data()), t.nbytes()));
  }
}

Status read_whole_file(std::ifstream& f, const std::string& path, std::string* out) {
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  if (size < 0) return invalid_argument("cannot determine the size of '" + path + "'");
  f.seekg(0);
  out->resize(static_cast<size_t>(size));
  if (size > 0 && !f.read(out->data(), size)) return invalid_argument("failed reading '" + path + "'");
  return Status::ok();
}

Expected<NamedTensor> parse_tensor(const void* data, size_t size) {
  onnx::TensorProto p;
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()) || !p.ParseFromArray(data, static_cast<int>(size)))
    return invalid_argument("not a valid ONNX TensorProto (" + std::to_string(size) + " bytes)");
  std::string what = "tensor '" + p.name() + "'";
  auto t = tensor_from_proto(p, "", what);
  if (!t) return t.status();
  return NamedTensor{p.name(), std::move(t).value()};
}

Expected<NamedTensor> read_tensor_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open tensor file '" + path + "'");
  std::string bytes;
  FERRY_RETURN_IF_ERROR(read_whole_file(f, path, &bytes));
  auto r = parse_tensor(bytes.data(), bytes.size());
  if (!r) return r.status().with_context(path);
  return r;
}

Status write_tensor_file(const std::string& path, const Tensor& tensor, const std::string& name) {
  onnx::TensorProto p;
  tensor_to_proto(tensor, name, &p);
  std::ofstream f(path, std::ios::binary);
  if (!f) return not_found("cannot write '" + path + "'");
  if (!p.SerializeToOstream(&f)) return internal_error("failed writing '" + path + "'");
  return Status::ok();
}

}  // namespace ferry
