// ferry/ferry.h — umbrella header of ferry's public C++ API.
//
// ferry carries a trained ONNX model into production: import, verify, run (CPU today, more backends behind the
// same interface). Start with Session (session.h); tensors and element types are in tensor.h; every fallible
// call returns Status/Expected (status.h).
#pragma once

#include "ferry/session.h"
#include "ferry/status.h"
#include "ferry/tensor.h"
