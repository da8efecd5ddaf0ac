target_compile_definitions(test_${layer} PRIVATE STARLING_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
