# The writer's test parses the bytes back with the ONNX protobuf messages.
target_link_libraries(test_export PRIVATE onnx_proto protobuf::libprotobuf)
