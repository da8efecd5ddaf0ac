# Packaging tests (docs/deploy.md): the systemd unit, the Debian package, the
# Kubernetes and compose manifests, and (slow) the package in a fresh Debian
# system and a podman container. Included by cmake/packaging.cmake.
set(pkg_dir ${PROJECT_SOURCE_DIR}/tests/package)
add_test(NAME "package: systemd unit"
         COMMAND bash ${pkg_dir}/systemd_unit.sh ${PROJECT_SOURCE_DIR}/packaging/starling.service $<TARGET_FILE:starling>)
add_test(NAME "package: deb"
         COMMAND bash ${pkg_dir}/deb.sh ${PROJECT_BINARY_DIR} $<TARGET_FILE:starling>)
add_test(NAME "package: manifests"
         COMMAND /usr/bin/python3 ${pkg_dir}/manifests.py ${PROJECT_SOURCE_DIR}/packaging ${PROJECT_VERSION})
set_tests_properties("package: systemd unit" "package: deb" "package: manifests"
                     PROPERTIES LABELS "package" TIMEOUT 300)
# cpack writes into the build folder: one test at a time may do it.
set_tests_properties("package: deb" PROPERTIES RESOURCE_LOCK cpack)
add_test(NAME "package (slow): deb in a fresh Debian and a container"
         COMMAND bash ${pkg_dir}/container.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/packaging)
set_tests_properties("package (slow): deb in a fresh Debian and a container"
                     PROPERTIES LABELS "package;slow" TIMEOUT 1800 RESOURCE_LOCK cpack)
set_tests_properties("package: systemd unit" "package: deb" "package (slow): deb in a fresh Debian and a container"
                     PROPERTIES SKIP_RETURN_CODE 77)
