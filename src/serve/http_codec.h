// serve/http_codec.h — KServe v2 HTTP/REST infer bodies <-> InferRequest/InferResponse, including the
// binary tensor data extension (a JSON header of Inference-Header-Content-Length bytes, then raw tensors).
// No networking here, so it is testable on strings.
//
//   auto parsed = decode_infer_request(body, header_len, "tiny_add", "");   // header_len -1: all JSON
//   if (!parsed) -> 400 with error_json(parsed.status().message())
//   ... core.infer(std::move(parsed->request), ...)
//   EncodedBody out = encode_infer_response(response, parsed->binary);
//   // out.json_length >= 0: send Inference-Header-Content-Length: out.json_length
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "serve/server_core.h"

namespace ferry::serve {

// Which outputs the client wants as raw binary (binary_data / binary_data_output parameters).
struct BinaryOutputs {
  bool all = false;
  std::map<std::string, bool> by_name;
  bool wants(const std::string& name) const {
    auto it = by_name.find(name);
    return it != by_name.end() ? it->second : all;
  }
};

struct DecodedInfer {
  InferRequest request;
  BinaryOutputs binary;
};

// Hard limits against hostile bodies.
inline constexpr int kMaxJsonDepth = 64;
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 28;

// header_length: the Inference-Header-Content-Length value, or -1 when the whole body is JSON.
Expected<DecodedInfer> decode_infer_request(std::string_view body, int64_t header_length, const std::string& model,
                                            const std::string& version);

struct EncodedBody {
  std::string body;
  int64_t json_length = -1;  // >= 0 when binary data follows the JSON header
};
EncodedBody encode_infer_response(const InferResponse& response, const BinaryOutputs& binary);

// {"error":"..."}
std::string error_json(std::string_view message);

// True when the JSON text nests arrays/objects deeper than `max_depth` (checked before parsing).
bool json_too_deep(std::string_view text, int max_depth);

}  // namespace ferry::serve
