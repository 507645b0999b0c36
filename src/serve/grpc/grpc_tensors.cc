// serve/grpc/grpc_tensors.cc — tensor (de)serialization for ModelInfer; see grpc_tensors.h.
#include "serve/grpc/grpc_tensors.h"

#include <chrono>
#include <cstring>

namespace ferry::serve {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 32;  // a bound far above any sane request; keeps numel from overflowing

Status shape_from_proto(const std::string& what, const google::protobuf::RepeatedField<int64_t>& dims, Shape* out) {
  out->clear();
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return invalid_argument(what + ": negative dimension " + std::to_string(d));
    if (d > 0 && n > kMaxElements / d) return invalid_argument(what + ": shape has more than 2^32 elements");
    n *= d;
    out->push_back(d);
  }
  return Status::ok();
}

// Length-prefixed BYTES elements -> string tensor.
Status bytes_from_raw(const std::string& what, const std::string& raw, Tensor* t) {
  std::string* dst = t->data<std::string>();
  size_t off = 0;
  for (int64_t i = 0; i < t->numel(); ++i) {
    uint32_t len = 0;
    if (raw.size() - off < 4) return invalid_argument(what + ": raw BYTES contents end inside element " + std::to_string(i));
    std::memcpy(&len, raw.data() + off, 4);
    off += 4;
    if (raw.size() - off < len) return invalid_argument(what + ": raw BYTES element " + std::to_string(i) + " overruns");
    dst[i].assign(raw.data() + off, len);
    off += len;
  }
  if (off != raw.size()) return invalid_argument(what + ": raw BYTES contents have trailing bytes");
  return Status::ok();
}

template <typename Dst, typename Src>
Status copy_typed(const std::string& what, const google::protobuf::RepeatedField<Src>& src, Tensor* t) {
  if (src.size() != t->numel())
    return invalid_argument(what + ": " + std::to_string(src.size()) + " typed elements for a shape of " +
                            std::to_string(t->numel()));
  Dst* dst = t->data<Dst>();
  for (int64_t i = 0; i < t->numel(); ++i) dst[i] = static_cast<Dst>(src.Get(static_cast<int>(i)));
  return Status::ok();
}

Status tensor_from_typed(const std::string& what, const inference::InferTensorContents& c, Tensor* t) {
  switch (t->dtype()) {
    case DType::kBool: return copy_typed<bool>(what, c.bool_contents(), t);
    case DType::kInt8: return copy_typed<int8_t>(what, c.int_contents(), t);
    case DType::kInt16: return copy_typed<int16_t>(what, c.int_contents(), t);
    case DType::kInt32: return copy_typed<int32_t>(what, c.int_contents(), t);
    case DType::kInt64: return copy_typed<int64_t>(what, c.int64_contents(), t);
    case DType::kUInt8: return copy_typed<uint8_t>(what, c.uint_contents(), t);
    case DType::kUInt16: return copy_typed<uint16_t>(what, c.uint_contents(), t);
    case DType::kUInt32: return copy_typed<uint32_t>(what, c.uint_contents(), t);
    case DType::kUInt64: return copy_typed<uint64_t>(what, c.uint64_contents(), t);
    case DType::kFloat: return copy_typed<float>(what, c.fp32_contents(), t);
    case DType::kDouble: return copy_typed<double>(what, c.fp64_contents(), t);
    case DType::kString: {
      if (c.bytes_contents_size() != t->numel())
        return invalid_argument(what + ": " + std::to_string(c.bytes_contents_size()) +
                                " bytes_contents elements for a shape of " + std::to_string(t->numel()));
      for (int64_t i = 0; i < t->numel(); ++i) t->data<std::string>()[i] = c.bytes_contents(static_cast<int>(i));
      return Status::ok();
    }
    default:
      return invalid_argument(what + ": datatype " + std::string(kserve_datatype(t->dtype())) +
                              " has no typed contents; send raw_input_contents");
  }
}

// Elements the typed contents hold for `dt` (-1: no typed field carries that datatype).
int64_t typed_count(const inference::InferTensorContents& c, DType dt) {
  switch (dt) {
    case DType::kBool: return c.bool_contents_size();
    case DType::kInt8: case DType::kInt16: case DType::kInt32: return c.int_contents_size();
    case DType::kInt64: return c.int64_contents_size();
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: return c.uint_contents_size();
    case DType::kUInt64: return c.uint64_contents_size();
    case DType::kFloat: return c.fp32_contents_size();
    case DType::kDouble: return c.fp64_contents_size();
    case DType::kString: return c.bytes_contents_size();
    default: return -1;
  }
}

}  // namespace

Status infer_request_from_proto(inference::ModelInferRequest& in, InferRequest* out) {
  out->received_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  out->model_name = in.model_name();
  out->model_version = in.model_version();
  out->id = in.id();
  if (out->model_name.empty()) return invalid_argument("ModelInfer: model_name is empty");
  bool raw = in.raw_input_contents_size() > 0;
  if (raw && in.raw_input_contents_size() != in.inputs_size())
    return invalid_argument("ModelInfer '" + in.model_name() + "': " + std::to_string(in.raw_input_contents_size()) +
                            " raw_input_contents for " + std::to_string(in.inputs_size()) + " inputs");
  for (int i = 0; i < in.inputs_size(); ++i) {
    const auto& t = in.inputs(i);
    std::string what = "input '" + t.name() + "'";
    DType dt = dtype_from_kserve(t.datatype());
    if (dt == DType::kUndefined) return invalid_argument(what + ": unknown datatype '" + t.datatype() + "'");
    Shape shape;
    FERRY_RETURN_IF_ERROR(shape_from_proto(what, t.shape(), &shape));
    if (raw && t.has_contents()) return invalid_argument(what + ": both contents and raw_input_contents given");
    // Sizes are checked before anything is allocated, so a tiny message cannot claim a huge tensor.
    int64_t numel = shape_numel(shape);
    if (raw) {
      const std::string& bytes = in.raw_input_contents(i);
      uint64_t need = static_cast<uint64_t>(numel) * dtype_size(dt);
      if (dt == DType::kString ? static_cast<uint64_t>(numel) > bytes.size() / 4 : bytes.size() != need)
        return invalid_argument(what + ": raw contents hold " + std::to_string(bytes.size()) + " bytes, shape " +
                                shape_to_string(shape) + " " + t.datatype() +
                                (dt == DType::kString ? " needs at least 4 per element" : " needs " + std::to_string(need)));
    } else {
      int64_t have = typed_count(t.contents(), dt);
      if (have < 0)
        return invalid_argument(what + ": datatype " + t.datatype() + " has no typed contents; send raw_input_contents");
      if (have != numel)
        return invalid_argument(what + ": " + std::to_string(have) + " typed elements for shape " + shape_to_string(shape));
    }
    if (raw && dt != DType::kString && numel > 0) {
      // Zero-copy: the tensor shares the message's bytes, moved into a reference-counted string (the scheduler
      // copies them into the batch, or runs on them directly when they happen to be 64-byte aligned).
      auto owner = std::make_shared<std::string>(std::move(*in.mutable_raw_input_contents(i)));
      out->inputs.push_back({t.name(), Tensor::view(dt, std::move(shape), owner, owner->data())});
      continue;
    }
    Tensor x = Tensor::empty(dt, shape);
    if (raw) {
      const std::string& bytes = in.raw_input_contents(i);
      if (dt == DType::kString) {
        FERRY_RETURN_IF_ERROR(bytes_from_raw(what, bytes, &x));
      } else {
        if (!bytes.empty()) std::memcpy(x.raw_data(), bytes.data(), bytes.size());
      }
    } else {
      FERRY_RETURN_IF_ERROR(tensor_from_typed(what, t.contents(), &x));
    }
    out->inputs.push_back({t.name(), std::move(x)});
  }
  for (const auto& o : in.outputs()) out->outputs.push_back(o.name());
  auto timeout = in.parameters().find("timeout");
  if (timeout != in.parameters().end() && timeout->second.has_int64_param())
    out->timeout_us = timeout->second.int64_param();
  return Status::ok();
}

Status infer_response_to_proto(const InferResponse& in, inference::ModelInferResponse* out) {
  out->set_model_name(in.model_name);
  out->set_model_version(in.model_version);
  out->set_id(in.id);
  for (const NamedTensor& nt : in.outputs) {
    const Tensor& t = nt.tensor;
    auto* o = out->add_outputs();
    o->set_name(nt.name);
    std::string_view dt = kserve_datatype(t.dtype());
    if (dt.empty()) return unsupported("output '" + nt.name + "': dtype " + dtype_name(t.dtype()) + " has no KServe datatype");
    o->set_datatype(std::string(dt));
    for (int64_t d : t.shape()) o->add_shape(d);
    std::string* raw = out->add_raw_output_contents();
    if (t.dtype() == DType::kString) {
      for (int64_t i = 0; i < t.numel(); ++i) {
        const std::string& s = t.data<std::string>()[i];
        uint32_t len = static_cast<uint32_t>(s.size());
        raw->append(reinterpret_cast<const char*>(&len), 4);
        raw->append(s);
      }
    } else {
      raw->assign(static_cast<const char*>(t.raw_data()), t.nbytes());
    }
  }
  return Status::ok();
}

grpc::Status to_grpc_status(const Status& s, bool unavailable) {
  if (s.is_ok() && !unavailable) return grpc::Status::OK;
  if (unavailable) return grpc::Status(grpc::StatusCode::UNAVAILABLE, s.message());
  switch (s.code()) {
    case StatusCode::kNotFound: return grpc::Status(grpc::StatusCode::NOT_FOUND, s.message());
    case StatusCode::kInvalidArgument: return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.message());
    case StatusCode::kUnsupported: return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, s.message());
    case StatusCode::kOutOfMemory: return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, s.message());
    default: return grpc::Status(grpc::StatusCode::INTERNAL, s.message());
  }
}

}  // namespace ferry::serve
