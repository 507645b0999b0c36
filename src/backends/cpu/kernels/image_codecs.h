// image_codecs.h — decoders behind ImageDecoder: BMP, PNM, uncompressed TIFF (built in); PNG (zlib), JPEG
// (libjpeg), JPEG 2000 (OpenJPEG) and WebP (libwebp) through system libraries loaded with dlopen when present, so
// ferry links no codec library and reports Unsupported where one is missing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/status.h"

namespace ferry {

struct DecodedImage {
  int64_t height = 0, width = 0;
  int channels = 0;           // 1 (gray) or 3 (RGB)
  std::vector<uint8_t> pixels;  // row-major [height, width, channels]
};

// JPEG 2000 (image_jpeg2k.cc).
Expected<DecodedImage> decode_jpeg2000(const uint8_t* data, size_t size);

// Decodes an encoded image; InvalidArgument for corrupt data, Unsupported for formats/variants not handled.
Expected<DecodedImage> decode_image(const uint8_t* data, size_t size);

}  // namespace ferry
