add_dependencies(test_apps starling)  # log_json_test starts the binary
