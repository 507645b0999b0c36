// image.cc — op semantics of the image family: ImageDecoder (opset 20).
#include "ops/op_registry.h"

namespace ferry {

namespace {

Status infer_image_decoder(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && t != DType::kUInt8) return c.error("encoded_stream must be uint8");
  const SymShape& s = c.input_shape(0);
  if (s.rank_known && s.rank() != 1) return c.error("encoded_stream must be 1-D, got " + s.to_string());
  std::string fmt = c.node().attr_string("pixel_format", "RGB");
  if (fmt != "RGB" && fmt != "BGR" && fmt != "Grayscale")
    return c.error("pixel_format must be RGB, BGR or Grayscale, got '" + fmt + "'");
  // Height and width are known only after decoding.
  c.set_output(0, DType::kUInt8, SymShape::from_dims({Dim(), Dim(), Dim(fmt == "Grayscale" ? 1 : 3)}));
  return Status::ok();
}

}  // namespace

void register_image(OpRegistry& r) { r.add({"", "ImageDecoder", 1, 1, 1, 1, infer_image_decoder}); }

}  // namespace ferry
