# Runtime tests run loops on helper threads (TSan checks post() and stop()).
target_link_libraries(test_runtime PRIVATE Threads::Threads)
# The metrics endpoint test speaks HTTP with cpp-httplib's client.
target_link_libraries(test_runtime PRIVATE PkgConfig::HTTPLIB)
