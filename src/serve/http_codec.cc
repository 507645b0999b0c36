// http_codec.cc — KServe v2 JSON tensors and the binary tensor data extension.
#include "serve/http_codec.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/float_convert.h"

namespace ferry::serve {

using nlohmann::json;

std::string error_json(std::string_view message) { return json{{"error", std::string(message)}}.dump(-1, ' ', false, json::error_handler_t::replace); }

bool json_too_deep(std::string_view t, int max_depth) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (char c : t) {
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') --depth;
  }
  return false;
}

namespace {

// Flattens nested JSON arrays into `out` (row-major), bounded by `limit` elements.
Status flatten(const json& j, std::vector<const json*>& out, int64_t limit, const std::string& name) {
  if (j.is_array()) {
    for (const json& e : j) FERRY_RETURN_IF_ERROR(flatten(e, out, limit, name));
    return Status::ok();
  }
  if (static_cast<int64_t>(out.size()) >= limit)
    return invalid_argument("input '" + name + "': more data elements than its shape holds");
  out.push_back(&j);
  return Status::ok();
}

template <typename T>
Status fill_numbers(const std::vector<const json*>& v, Tensor& t, const std::string& name) {
  T* p = t.data<T>();
  for (size_t i = 0; i < v.size(); ++i) {
    const json& e = *v[i];
    if (!e.is_number()) return invalid_argument("input '" + name + "': element " + std::to_string(i) + " is not a number");
    if constexpr (std::is_floating_point_v<T>) {
      p[i] = e.get<T>();
    } else {
      if (e.is_number_float()) return invalid_argument("input '" + name + "': element " + std::to_string(i) + " is not an integer");
      if constexpr (std::is_signed_v<T>) {
        if (e.is_number_unsigned() && e.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max()))
          return invalid_argument("input '" + name + "': element " + std::to_string(i) + " out of range");
        int64_t x = e.get<int64_t>();
        if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max())
          return invalid_argument("input '" + name + "': element " + std::to_string(i) + " out of range");
        p[i] = static_cast<T>(x);
      } else {
        if (!e.is_number_unsigned() || e.get<uint64_t>() > std::numeric_limits<T>::max())
          return invalid_argument("input '" + name + "': element " + std::to_string(i) + " out of range");
        p[i] = static_cast<T>(e.get<uint64_t>());
      }
    }
  }
  return Status::ok();
}

Status fill_from_json(const json& data, Tensor& t, const std::string& name) {
  std::vector<const json*> v;
  v.reserve(static_cast<size_t>(t.numel()));
  FERRY_RETURN_IF_ERROR(flatten(data, v, t.numel(), name));
  if (static_cast<int64_t>(v.size()) != t.numel())
    return invalid_argument("input '" + name + "': " + std::to_string(v.size()) + " data elements, shape " +
                            shape_to_string(t.shape()) + " needs " + std::to_string(t.numel()));
  switch (t.dtype()) {
    case DType::kFloat: return fill_numbers<float>(v, t, name);
    case DType::kDouble: return fill_numbers<double>(v, t, name);
    case DType::kInt8: return fill_numbers<int8_t>(v, t, name);
    case DType::kInt16: return fill_numbers<int16_t>(v, t, name);
    case DType::kInt32: return fill_numbers<int32_t>(v, t, name);
    case DType::kInt64: return fill_numbers<int64_t>(v, t, name);
    case DType::kUInt8: return fill_numbers<uint8_t>(v, t, name);
    case DType::kUInt16: return fill_numbers<uint16_t>(v, t, name);
    case DType::kUInt32: return fill_numbers<uint32_t>(v, t, name);
    case DType::kUInt64: return fill_numbers<uint64_t>(v, t, name);
    case DType::kFloat16: case DType::kBFloat16: {
      uint16_t* p = static_cast<uint16_t*>(t.raw_data());
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i]->is_number()) return invalid_argument("input '" + name + "': element " + std::to_string(i) + " is not a number");
        float f = v[i]->get<float>();
        p[i] = t.dtype() == DType::kFloat16 ? float_to_half(f) : float_to_bf16(f);
      }
      return Status::ok();
    }
    case DType::kBool: {
      bool* p = t.data<bool>();
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i]->is_boolean()) return invalid_argument("input '" + name + "': element " + std::to_string(i) + " is not a boolean");
        p[i] = v[i]->get<bool>();
      }
      return Status::ok();
    }
    case DType::kString: {
      std::string* p = t.data<std::string>();
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i]->is_string()) return invalid_argument("input '" + name + "': element " + std::to_string(i) + " is not a string");
        p[i] = v[i]->get<std::string>();
      }
      return Status::ok();
    }
    default: return unsupported("input '" + name + "': datatype not supported in JSON");
  }
}

Status fill_from_binary(std::string_view bytes, Tensor& t, const std::string& name) {
  if (t.dtype() == DType::kString) {
    size_t pos = 0;
    std::string* p = t.data<std::string>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (bytes.size() - pos < 4) return invalid_argument("input '" + name + "': BYTES data truncated at element " + std::to_string(i));
      uint32_t n = 0;
      std::memcpy(&n, bytes.data() + pos, 4);  // little-endian hosts only (x86-64, aarch64)
      pos += 4;
      if (bytes.size() - pos < n) return invalid_argument("input '" + name + "': BYTES data truncated at element " + std::to_string(i));
      p[i].assign(bytes.data() + pos, n);
      pos += n;
    }
    if (pos != bytes.size()) return invalid_argument("input '" + name + "': binary_data_size larger than its BYTES elements");
    return Status::ok();
  }
  if (bytes.size() != t.nbytes())
    return invalid_argument("input '" + name + "': binary_data_size " + std::to_string(bytes.size()) + ", shape " +
                            shape_to_string(t.shape()) + " of " + std::string(kserve_datatype(t.dtype())) + " needs " +
                            std::to_string(t.nbytes()) + " bytes");
  if (t.dtype() == DType::kBool) {
    for (char c : bytes)
      if (c != 0 && c != 1) return invalid_argument("input '" + name + "': BOOL bytes must be 0 or 1");
  }
  std::memcpy(t.raw_data(), bytes.data(), bytes.size());
  return Status::ok();
}

Expected<DecodedInfer> decode_impl(std::string_view body, int64_t header_length, const std::string& model,
                                   const std::string& version) {
  if (header_length > static_cast<int64_t>(body.size()))
    return invalid_argument("Inference-Header-Content-Length " + std::to_string(header_length) + " exceeds the body (" +
                            std::to_string(body.size()) + " bytes)");
  std::string_view head = header_length >= 0 ? body.substr(0, static_cast<size_t>(header_length)) : body;
  std::string_view rest = header_length >= 0 ? body.substr(static_cast<size_t>(header_length)) : std::string_view();
  if (json_too_deep(head, kMaxJsonDepth)) return invalid_argument("request JSON nests deeper than 64 levels");
  json j = json::parse(head.begin(), head.end(), nullptr, false);
  if (j.is_discarded()) return invalid_argument("malformed JSON in the request body");
  if (!j.is_object()) return invalid_argument("request body must be a JSON object");
  DecodedInfer d;
  d.request.model_name = model;
  d.request.model_version = version;
  if (j.contains("id")) {
    if (!j["id"].is_string()) return invalid_argument("'id' must be a string");
    d.request.id = j["id"].get<std::string>();
  }
  if (j.contains("parameters")) {
    const json& p = j["parameters"];
    if (!p.is_object()) return invalid_argument("'parameters' must be an object");
    if (p.contains("binary_data_output")) d.binary.all = p["binary_data_output"].is_boolean() && p["binary_data_output"].get<bool>();
    if (p.contains("timeout") && p["timeout"].is_number_unsigned()) d.request.timeout_us = p["timeout"].get<int64_t>();
  }
  if (!j.contains("inputs") || !j["inputs"].is_array()) return invalid_argument("'inputs' must be an array");
  size_t pos = 0;
  for (const json& in : j["inputs"]) {
    if (!in.is_object()) return invalid_argument("each input must be an object");
    if (!in.contains("name") || !in["name"].is_string()) return invalid_argument("an input has no 'name'");
    std::string name = in["name"].get<std::string>();
    if (!in.contains("datatype") || !in["datatype"].is_string()) return invalid_argument("input '" + name + "': no 'datatype'");
    DType dt = dtype_from_kserve(in["datatype"].get<std::string>());
    if (dt == DType::kUndefined) return invalid_argument("input '" + name + "': unknown datatype '" + in["datatype"].get<std::string>() + "'");
    if (!in.contains("shape") || !in["shape"].is_array()) return invalid_argument("input '" + name + "': no 'shape'");
    Shape shape;
    int64_t numel = 1;
    for (const json& s : in["shape"]) {
      if (!s.is_number_integer() || s.get<int64_t>() < 0) return invalid_argument("input '" + name + "': shape dims must be integers >= 0");
      int64_t v = s.get<int64_t>();
      if (shape.size() >= 16 || (v > 0 && numel > kMaxTensorElements / v)) return invalid_argument("input '" + name + "': shape too large");
      numel *= v;
      shape.push_back(v);
    }
    int64_t bin_size = -1;
    if (in.contains("parameters") && in["parameters"].is_object() && in["parameters"].contains("binary_data_size")) {
      const json& b = in["parameters"]["binary_data_size"];
      if (!b.is_number_unsigned()) return invalid_argument("input '" + name + "': binary_data_size must be an unsigned integer");
      bin_size = b.get<int64_t>();
    }
    if (bin_size < 0 && dt != DType::kString && numel * static_cast<int64_t>(dtype_size(dt)) > static_cast<int64_t>(body.size()) * 8)
      return invalid_argument("input '" + name + "': shape larger than the request could describe");
    if (bin_size >= 0 && dt != DType::kString && numel * static_cast<int64_t>(dtype_size(dt)) != bin_size)
      return invalid_argument("input '" + name + "': binary_data_size " + std::to_string(bin_size) + " does not match shape " +
                              shape_to_string(shape) + " of " + std::string(kserve_datatype(dt)));
    Tensor t = Tensor::empty(dt, shape);
    if (bin_size >= 0) {
      if (header_length < 0) return invalid_argument("input '" + name + "': binary_data_size without Inference-Header-Content-Length");
      if (static_cast<uint64_t>(bin_size) > rest.size() - pos) return invalid_argument("input '" + name + "': binary data past the end of the body");
      FERRY_RETURN_IF_ERROR(fill_from_binary(rest.substr(pos, static_cast<size_t>(bin_size)), t, name));
      pos += static_cast<size_t>(bin_size);
    } else {
      if (!in.contains("data")) return invalid_argument("input '" + name + "': no 'data' and no binary_data_size");
      FERRY_RETURN_IF_ERROR(fill_from_json(in["data"], t, name));
    }
    d.request.inputs.push_back({std::move(name), std::move(t)});
  }
  if (pos != rest.size()) return invalid_argument("binary data after the JSON header is longer than the inputs declare");
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) return invalid_argument("'outputs' must be an array");
    for (const json& o : j["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) return invalid_argument("each output needs a 'name'");
      std::string name = o["name"].get<std::string>();
      if (o.contains("parameters") && o["parameters"].is_object() && o["parameters"].contains("binary_data")) {
        const json& b = o["parameters"]["binary_data"];
        d.binary.by_name[name] = b.is_boolean() && b.get<bool>();
      }
      if (o.contains("parameters") && o["parameters"].is_object() && o["parameters"].contains("classification"))
        return unsupported("output '" + name + "': the classification extension is not supported");
      d.request.outputs.push_back(std::move(name));
    }
  }
  return d;
}

template <typename T>
void to_json_array(const Tensor& t, json& out) {
  const T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(p[i]);
}

json tensor_data_json(const Tensor& t) {
  json a = json::array();
  switch (t.dtype()) {
    case DType::kFloat: to_json_array<float>(t, a); break;
    case DType::kDouble: to_json_array<double>(t, a); break;
    case DType::kInt8: to_json_array<int8_t>(t, a); break;
    case DType::kInt16: to_json_array<int16_t>(t, a); break;
    case DType::kInt32: to_json_array<int32_t>(t, a); break;
    case DType::kInt64: to_json_array<int64_t>(t, a); break;
    case DType::kUInt8: to_json_array<uint8_t>(t, a); break;
    case DType::kUInt16: to_json_array<uint16_t>(t, a); break;
    case DType::kUInt32: to_json_array<uint32_t>(t, a); break;
    case DType::kUInt64: to_json_array<uint64_t>(t, a); break;
    case DType::kBool: to_json_array<bool>(t, a); break;
    case DType::kString: to_json_array<std::string>(t, a); break;
    case DType::kFloat16: {
      const uint16_t* p = static_cast<const uint16_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i) a.push_back(half_to_float(p[i]));
      break;
    }
    case DType::kBFloat16: {
      const uint16_t* p = static_cast<const uint16_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i) a.push_back(bf16_to_float(p[i]));
      break;
    }
    default: break;
  }
  return a;
}

void append_binary(const Tensor& t, std::string& out) {
  if (t.dtype() == DType::kString) {
    const std::string* p = t.data<std::string>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      uint32_t n = static_cast<uint32_t>(p[i].size());
      out.append(reinterpret_cast<const char*>(&n), 4);
      out += p[i];
    }
  } else {
    out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  }
}

}  // namespace

Expected<DecodedInfer> decode_infer_request(std::string_view body, int64_t header_length, const std::string& model,
                                            const std::string& version) {
  try {
    return decode_impl(body, header_length, model, version);
  } catch (const json::exception& e) {  // type errors on hostile JSON: never escape as exceptions
    return invalid_argument(std::string("bad request JSON: ") + e.what());
  } catch (const std::bad_alloc&) {
    return invalid_argument("request too large to decode");
  }
}

EncodedBody encode_infer_response(const InferResponse& r, const BinaryOutputs& binary) {
  EncodedBody e;
  json j;
  j["model_name"] = r.model_name;
  j["model_version"] = r.model_version;
  if (!r.id.empty()) j["id"] = r.id;
  json outs = json::array();
  std::string blob;
  for (const NamedTensor& o : r.outputs) {
    const Tensor& t = o.tensor;
    json jo = {{"name", o.name}, {"datatype", std::string(kserve_datatype(t.dtype()))}, {"shape", t.shape()}};
    if (binary.wants(o.name)) {
      size_t before = blob.size();
      append_binary(t, blob);
      jo["parameters"] = {{"binary_data_size", blob.size() - before}};
    } else {
      jo["data"] = tensor_data_json(t);
    }
    outs.push_back(std::move(jo));
  }
  j["outputs"] = std::move(outs);
  e.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!blob.empty()) {
    e.json_length = static_cast<int64_t>(e.body.size());
    e.body += blob;
  }
  return e;
}

}  // namespace ferry::serve
