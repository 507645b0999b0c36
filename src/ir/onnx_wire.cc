// onnx_wire.cc — lifts the top-level graph's initializer bytes out of ModelProto bytes before protobuf parses
// the rest, and copies them once into one weight arena (see onnx_convert.h, docs/decisions.md "Load path").
//
// Protobuf would copy every raw_data field into a std::string of its own (fresh pages, one fault per 4 KiB);
// then the tensor would copy again. Here a walk over the wire format (tags and lengths only, no decoding)
// rebuilds the model bytes without those fields and records where each one lies in the original buffer.
#include <sys/mman.h>

#include <cstring>

#include "ir/onnx_convert.h"

namespace ferry {

namespace {

struct Field {
  uint64_t number = 0;
  int wire = 0;
  const uint8_t* start = nullptr;    // first byte of the tag
  const uint8_t* payload = nullptr;  // wire type 2: first byte after the length
  uint64_t length = 0;               // wire type 2: payload bytes
  const uint8_t* end = nullptr;      // one past the field
};

bool read_varint(const uint8_t*& p, const uint8_t* end, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint8_t b = *p++;
    r |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

void write_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads the field at `p`; false on malformed input or group wire types (the caller falls back to protobuf).
bool next_field(const uint8_t*& p, const uint8_t* end, Field* f) {
  f->start = p;
  uint64_t tag = 0;
  if (!read_varint(p, end, &tag)) return false;
  f->number = tag >> 3;
  f->wire = static_cast<int>(tag & 7);
  uint64_t skip = 0;
  switch (f->wire) {
    case 0: {
      uint64_t v;
      if (!read_varint(p, end, &v)) return false;
      break;
    }
    case 1: skip = 8; break;
    case 5: skip = 4; break;
    case 2:
      if (!read_varint(p, end, &f->length) || f->length > static_cast<uint64_t>(end - p)) return false;
      f->payload = p;
      skip = f->length;
      break;
    default: return false;
  }
  if (skip > static_cast<uint64_t>(end - p)) return false;
  p += skip;
  f->end = p;
  return true;
}

void append_len_field(std::string& out, uint64_t number, const std::string& payload) {
  write_varint(out, (number << 3) | 2);
  write_varint(out, payload.size());
  out += payload;
}

// TensorProto without its raw_data (field 9); `span` receives where the last raw_data field lies.
bool strip_tensor(const uint8_t* p, const uint8_t* end, const uint8_t* base, RawSpan* span, std::string* out) {
  Field f;
  while (p < end) {
    if (!next_field(p, end, &f)) return false;
    if (f.number == 9 && f.wire == 2) {
      span->offset = f.payload - base;
      span->size = static_cast<int64_t>(f.length);
    } else {
      out->append(reinterpret_cast<const char*>(f.start), static_cast<size_t>(f.end - f.start));
    }
  }
  return true;
}

// GraphProto with every initializer (field 5) stripped.
bool strip_graph(const uint8_t* p, const uint8_t* end, const uint8_t* base, ModelSkeleton* s, std::string* out) {
  Field f;
  std::string tensor;
  while (p < end) {
    if (!next_field(p, end, &f)) return false;
    if (f.number == 5 && f.wire == 2) {
      RawSpan span;
      tensor.clear();
      if (!strip_tensor(f.payload, f.payload + f.length, base, &span, &tensor)) return false;
      s->initializer_raw.push_back(span);
      append_len_field(*out, 5, tensor);
    } else {
      out->append(reinterpret_cast<const char*>(f.start), static_cast<size_t>(f.end - f.start));
    }
  }
  return true;
}

}  // namespace

std::optional<ModelSkeleton> strip_initializer_data(const void* data, size_t size) {
  const uint8_t* base = static_cast<const uint8_t*>(data);
  const uint8_t* p = base;
  const uint8_t* end = base + size;
  ModelSkeleton s;
  s.bytes.reserve(size < (size_t{1} << 20) ? size : size_t{1} << 20);
  bool seen_graph = false;
  Field f;
  while (p < end) {
    if (!next_field(p, end, &f)) return std::nullopt;
    if (f.number == 7 && f.wire == 2) {
      if (seen_graph) return std::nullopt;  // repeated graph fields merge in protobuf: leave that to it
      seen_graph = true;
      std::string graph;
      if (!strip_graph(f.payload, f.payload + f.length, base, &s, &graph)) return std::nullopt;
      append_len_field(s.bytes, 7, graph);
    } else {
      s.bytes.append(reinterpret_cast<const char*>(f.start), static_cast<size_t>(f.end - f.start));
    }
  }
  return s;
}

std::shared_ptr<void> allocate_weight_arena(size_t bytes) {
  if (bytes == 0) return nullptr;
  // MAP_POPULATE: the kernel provides every page in one call instead of one fault per 4 KiB during the copy
  // (measured on vit_b_16, 346 MB: about 25% less time). MADV_HUGEPAGE was tried and is much slower where
  // THP defrag is "madvise" (direct compaction on every fault).
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return std::shared_ptr<void>(p, [bytes](void* q) { munmap(q, bytes); });
}

}  // namespace ferry
