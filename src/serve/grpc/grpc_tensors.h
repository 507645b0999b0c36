// serve/grpc/grpc_tensors.h — ModelInferRequest/Response <-> ServerCore InferRequest/InferResponse.
//
// Every check a hostile client could trip is a Status naming the input: unknown datatype, negative or huge
// shapes, raw contents whose byte size does not match the shape, raw and typed contents mixed, typed contents of
// the wrong kind or count, malformed BYTES length prefixes.
#pragma once

#include <grpcpp/grpcpp.h>

#include "grpc_service.pb.h"
#include "serve/server_core.h"

namespace ferry::serve {

// Fills `out` (model, version, id, inputs, requested outputs, timeout parameter) from `in`. Raw contents of
// fixed-size datatypes are moved out of `in` (the input tensors are views of those bytes, no copy), so `in` must
// not be read afterwards.
Status infer_request_from_proto(inference::ModelInferRequest& in, InferRequest* out);
// Writes the outputs as raw_output_contents (BYTES: 4-byte little-endian length + bytes per element).
Status infer_response_to_proto(const InferResponse& in, inference::ModelInferResponse* out);
// ferry Status (+ the core's unavailable flag) -> gRPC status.
grpc::Status to_grpc_status(const Status& s, bool unavailable = false);

}  // namespace ferry::serve
