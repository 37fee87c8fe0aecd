# Installation to standard paths (`cmake --install BUILD [--prefix /usr]`) and the Debian package
# (`make deb`, CPack's DEB generator). Included from the top-level CMakeLists.txt after the targets;
# the binaries install from their own directories (bin/, lib/, include/).
#
#   PREFIX/bin/spectrad, PREFIX/bin/spectra, PREFIX/lib/libspectra.so.0, PREFIX/include/spectra.h
#   PREFIX/lib/systemd/system/spectrad.service
#   SYSCONFDIR/spectrad/spectrad.conf   (/etc when PREFIX is /usr, else PREFIX/etc)
#   PREFIX/share/man/man8/spectrad.8, PREFIX/share/man/man1/spectra.1
#   PREFIX/share/doc/spectrad/{README.md,operations.md,protocol.md,algorithms.md}
#   PREFIX/SPX_PYTHON_DIR/spectra/  (the pure-Python client)

set(SPX_PYTHON_DIR "lib/python3/dist-packages" CACHE STRING
    "Where the Python client package installs, relative to the prefix (Debian's layout)")

install(FILES ${PROJECT_SOURCE_DIR}/deploy/spectrad.service DESTINATION lib/systemd/system)
# Decided at install time, not configure time: the same build tree installs to /usr/local (config in
# /usr/local/etc) and, for the package, to /usr (config in /etc).
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(spx_etc \"/etc\")
  else()
    set(spx_etc \"\${CMAKE_INSTALL_PREFIX}/etc\")
  endif()
  file(INSTALL DESTINATION \"\${spx_etc}/spectrad\" TYPE FILE
       FILES \"${PROJECT_SOURCE_DIR}/deploy/spectrad.conf\")
")
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/spectrad.8 DESTINATION share/man/man8)
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/spectra.1 DESTINATION share/man/man1)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/protocol.md ${PROJECT_SOURCE_DIR}/docs/algorithms.md
        DESTINATION share/doc/spectrad)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/clients/python/spectra DESTINATION ${SPX_PYTHON_DIR}
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)

# ---- Debian package -------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME spectrad)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "spectrad maintainers <spectrad@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "streaming estimator daemon over ZeroMQ")
set(CPACK_PACKAGE_DESCRIPTION "spectrad ingests matrix rows, multichannel time series and matrix\
 blocks over ZeroMQ, runs online estimators on them and publishes live results. The package holds\
 the daemon, its systemd unit and default configuration, the spectra command-line client, the\
 libspectra C client library and the pure-Python client.")
# Installed as DESTDIR + /usr, so that the config file can go to /etc (see install(CODE) above).
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES OFF)   # keep symbols: backtraces from the field are worth the size
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # spectrad_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)    # Depends: from the binaries' libraries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)   # libspectra.so.0: shlibs + ldconfig trigger
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-zmq, python3-msgpack, python3-numpy")
# The config file is the administrator's: upgrades keep their edits (dpkg asks).
file(WRITE ${CMAKE_BINARY_DIR}/deb/conffiles "/etc/spectrad/spectrad.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_BINARY_DIR}/deb/conffiles)
include(CPack)
