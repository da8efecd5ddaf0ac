# One test carries deltas through the real wire codec; the compress layer
# itself does not depend on wire.
target_link_libraries(test_compress PRIVATE starling_wire)
