# ---- gRPC frontend of `ferry serve` (KServe v2 inference.GRPCInferenceService) and the gRPC client of `ferry perf`.
# Included from the top-level CMakeLists.txt after the serve block (needs ferry_serve and ferry_serve_proto, whose
# model_config.proto grpc_service.proto imports).
find_package(gRPC CONFIG REQUIRED)
set(FERRY_GRPC_PROTO ${CMAKE_SOURCE_DIR}/proto/grpc_service.proto)
set(_grpc_gen ${FERRY_PROTO_OUT}/grpc_service.pb.cc ${FERRY_PROTO_OUT}/grpc_service.pb.h
              ${FERRY_PROTO_OUT}/grpc_service.grpc.pb.cc ${FERRY_PROTO_OUT}/grpc_service.grpc.pb.h)
add_custom_command(
  OUTPUT ${_grpc_gen}
  COMMAND protobuf::protoc --cpp_out=${FERRY_PROTO_OUT} --grpc_out=${FERRY_PROTO_OUT}
          --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin> -I${CMAKE_SOURCE_DIR}/proto ${FERRY_GRPC_PROTO}
  DEPENDS ${FERRY_GRPC_PROTO} ${CMAKE_SOURCE_DIR}/proto/model_config.proto)
add_library(ferry_grpc_proto STATIC ${FERRY_PROTO_OUT}/grpc_service.pb.cc ${FERRY_PROTO_OUT}/grpc_service.grpc.pb.cc)
target_link_libraries(ferry_grpc_proto PUBLIC ferry_serve_proto gRPC::grpc++)
target_compile_options(ferry_grpc_proto PRIVATE -w)

file(GLOB _grpc_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/serve/grpc/*.cc)
add_library(ferry_grpc STATIC ${_grpc_srcs})
target_include_directories(ferry_grpc PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(ferry_grpc PUBLIC ferry_serve ferry_grpc_proto)
target_link_libraries(ferry PRIVATE ferry_grpc)  # serve --grpc-port, perf -i grpc

if(FERRY_TESTS)
  add_test(NAME serve_grpc COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/grpc_e2e_test.py
           $<TARGET_FILE:ferry> ${CMAKE_SOURCE_DIR}/tests/fixtures ${CMAKE_SOURCE_DIR}/proto)
  set_tests_properties(serve_grpc PROPERTIES LABELS "serve" TIMEOUT 600)
  add_test(NAME perf_cli COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/serve/perf_cli_test.py
           $<TARGET_FILE:ferry> ${CMAKE_SOURCE_DIR}/tests/fixtures)
  set_tests_properties(perf_cli PROPERTIES LABELS "serve" TIMEOUT 600)
  # A short soak (scripts/soak.sh): ~20 s of saturation on the tiny demo model over gRPC; zero failed requests
  # in the server's statistics, client-side (transport) errors at most 0.5% of requests — one CI run saw 155 of
  # 167,030 that never reached the server and do not reproduce here; the log then shows perf's first error —
  # the server exits 0 on SIGTERM, RSS after the warm-up grows by at most 10% (the 10-minute run asserts 2%).
  add_test(NAME serve_soak COMMAND ${CMAKE_SOURCE_DIR}/scripts/soak.sh --ferry $<TARGET_FILE:ferry>
           --model ${CMAKE_SOURCE_DIR}/examples/model_repository/demo_cnn/1/model.onnx --duration 15 --warmup 5
           --sample-every 1 --threads 1 --max-queue-delay-us 200 --max-growth-pct 10 --max-failed 0
           --max-client-errors-pct 0.5)
  set_tests_properties(serve_soak PROPERTIES LABELS "serve" TIMEOUT 300)
endif()
