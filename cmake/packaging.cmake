# Install rules and the Debian package (CPack), docs/deploy.md.
#   cmake --build build --target starling && (cd build && cpack -G DEB)
# gives build/starling_VERSION_amd64.deb: /usr/bin/starling, the systemd unit,
# the default config /etc/starling/starling.toml (a conffile: an upgrade keeps
# the operator's edits) and the docs under /usr/share/doc/starling.
# A package for other machines should be built with -DSTARLING_NATIVE=OFF
# (the default tunes for the building CPU).
include(GNUInstallDirs)
if(STARLING_NATIVE)
  message(STATUS "packaging: STARLING_NATIVE is ON, so a .deb from this build runs only on CPUs like this one "
                 "(configure with -DSTARLING_NATIVE=OFF for a portable package)")
endif()
# cpack and `cmake --install` take what is built (build the starling target
# first) instead of building every test and benchmark of the tree.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS starling RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT starling)
# Debian keeps package units in /lib/systemd/system (bookworm: not yet /usr/lib).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/starling.service
        DESTINATION /lib/systemd/system COMPONENT starling)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/starling.toml
        DESTINATION /etc/starling COMPONENT starling)
file(GLOB starling_doc_pages ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${starling_doc_pages}
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT starling)

# The Python module (docs/embedding.md) when it is built: the package
# starling/ (the pybind11 extension _starling.cpython-311-*.so and the pure
# Python files) goes where Debian's /usr/bin/python3 finds it,
# /usr/lib/python3/dist-packages (with `cmake --install --prefix /usr`; the
# .deb's prefix is /usr). Built for one Python minor version: Depends says which.
if(STARLING_PYTHON_BUILT AND TARGET starling_python)
  set(starling_python_dest lib/python3/dist-packages/starling)
  install(TARGETS starling_python LIBRARY DESTINATION ${starling_python_dest} COMPONENT starling)
  install(FILES ${PROJECT_SOURCE_DIR}/python/starling/__init__.py ${PROJECT_SOURCE_DIR}/python/starling/_arguments.py
                ${PROJECT_SOURCE_DIR}/python/starling/torch.py
          DESTINATION ${starling_python_dest} COMPONENT starling)
  string(REPLACE "." ";" starling_python_parts "${STARLING_PYTHON_VERSION}")
  list(GET starling_python_parts 0 starling_python_major)
  list(GET starling_python_parts 1 starling_python_minor)
  math(EXPR starling_python_next "${starling_python_minor} + 1")
  # Debian's form for an extension built for one minor version (dh_python3).
  set(starling_python_depends
      "python3 (>= ${STARLING_PYTHON_VERSION}~), python3 (<< ${starling_python_major}.${starling_python_next})")
  message(STATUS "packaging: the .deb holds the Python module (Depends ${starling_python_depends})")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME starling)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "starling maintainers <starling@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "peer-to-peer decentralized trainer")
# The control file's extended description (cpack indents it under the summary).
set(CPACK_PACKAGE_DESCRIPTION "Every peer keeps a full replica of the model, trains it with asynchronous SGD
on its own data and exchanges compressed model deltas with a few neighbours
over an authenticated gossip protocol. No central server: peers join from any
seed, leave, crash and come back. Includes a hardened systemd unit.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # starling_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/starling/starling")
# Depends from the libraries the binary really links (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The default data set of `starling peer`; a peer with --data FILE or
# --no-train runs without it.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dataset-fashion-mnist")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus")
if(starling_python_depends)
  # `import starling` needs only python3 (buffers through the buffer
  # protocol); numpy arrays are the common buffer (Recommends), PyTorch and
  # starling.torch are for those who train with it (Suggests: it is large,
  # and a `starling peer` server does not need it).
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "${starling_python_depends}")  # merged with the shlibdeps
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "${CPACK_DEBIAN_PACKAGE_RECOMMENDS}, python3-numpy")
  set(CPACK_DEBIAN_PACKAGE_SUGGESTS "${CPACK_DEBIAN_PACKAGE_SUGGESTS}, python3-torch")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)

if(STARLING_TESTS)
  include(${PROJECT_SOURCE_DIR}/tests/package/tests.cmake)
endif()
