# Install rules and the Debian package, included from the top-level CMakeLists.txt.
#
#   cmake --install build --prefix /usr/local        (DESTDIR=/stage works too)
#   cpack --config build/CPackConfig.cmake -B OUT    mailready_VERSION-1_ARCH.deb
#
# The package is built by CPack from these same install rules (why CPack and not a
# debian/ directory: README, "Install"); ci/package.sh builds it, installs it and checks
# it with lintian.

include(GNUInstallDirs)
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(packaging_dir ${CMAKE_SOURCE_DIR}/packaging)
set(packaging_out ${CMAKE_BINARY_DIR}/packaging)

# The man page: scdoc source, roff and gzip at build time. Required unless turned off, so
# that no package is ever made without it (ci/install-deps.sh installs scdoc).
option(MAILREADY_MAN "Build and install the man page (needs scdoc)" ON)
if(MAILREADY_MAN)
  find_program(SCDOC scdoc)
  if(NOT SCDOC)
    message(FATAL_ERROR "scdoc not found: it builds the man page (apt-get install scdoc, or "
                        "./ci/install-deps.sh), or configure with -DMAILREADY_MAN=OFF")
  endif()
  configure_file(${packaging_dir}/mailready.1.scd ${packaging_out}/mailready.1.scd @ONLY)
  add_custom_command(
    OUTPUT ${packaging_out}/mailready.1 ${packaging_out}/mailready.1.gz
    COMMAND sh -c "'${SCDOC}' < mailready.1.scd > mailready.1 && gzip -9nc mailready.1 > mailready.1.gz"
    DEPENDS ${packaging_out}/mailready.1.scd
    WORKING_DIRECTORY ${packaging_out}
    COMMENT "Generating the man page mailready(1)"
    VERBATIM)
  add_custom_target(man ALL DEPENDS ${packaging_out}/mailready.1.gz)
  install(FILES ${packaging_out}/mailready.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

# Debian's changelog for the package, versioned from the project (compressed, as policy
# wants it).
set(MAILREADY_DEB_RELEASE 1 CACHE STRING "The Debian revision of the package")
set(MAILREADY_DEB_MAINTAINER "mailready maintainers <maintainers@users.noreply.r-seed-466ddb42.example>"
    CACHE STRING "The Maintainer field of the Debian package")
set(deb_version ${PROJECT_VERSION}-${MAILREADY_DEB_RELEASE})
configure_file(${packaging_dir}/changelog.Debian.in ${packaging_out}/changelog.Debian @ONLY)
add_custom_command(
  OUTPUT ${packaging_out}/changelog.Debian.gz
  COMMAND gzip -9nc changelog.Debian > changelog.Debian.gz
  DEPENDS ${packaging_out}/changelog.Debian
  WORKING_DIRECTORY ${packaging_out}
  VERBATIM)
add_custom_target(debian_changelog ALL DEPENDS ${packaging_out}/changelog.Debian.gz)

install(TARGETS mailready RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${packaging_dir}/mailready.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME mailready)
install(FILES ${CMAKE_SOURCE_DIR}/reports/schema/report.schema.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mailready/schema)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/ci/examples/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mailready/examples)
install(FILES ${packaging_dir}/copyright ${packaging_out}/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${packaging_dir}/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME mailready)

# The systemd unit names the binary by its installed path, so it is written at install
# time, from the prefix given then (cmake --install --prefix, or CPack's /usr). systemd
# reads units from PREFIX/lib/systemd/system for /usr and /usr/local alike. The unit
# loads every file in /etc/mailready/credentials as a credential; for a system install
# (prefix /usr, as the package has it) that directory is made, empty.
install(CODE "
  set(BIN_DIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(SHARE_DIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/mailready\")
  configure_file(${packaging_dir}/mailready.service.in ${packaging_out}/mailready.service @ONLY)
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(credentials \"\$ENV{DESTDIR}/etc/mailready/credentials\")
    file(MAKE_DIRECTORY \${credentials})
    file(CHMOD \${credentials} DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  endif()")
install(FILES ${packaging_out}/mailready.service DESTINATION lib/systemd/system)

# The Debian package (CPack DEB).
include(${packaging_dir}/deb.cmake)
