# Runtime tests run loops on helper threads (TSan checks post() and stop()).
target_link_libraries(test_runtime PRIVATE Threads::Threads)
