# The Debian package, made by CPack from the install rules in packaging.cmake:
#   cpack --config build/CPackConfig.cmake -B OUT   ->  OUT/mailready_VERSION-1_ARCH.deb
# ci/package.sh builds it, checks it with lintian, installs it and runs it.

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mailready)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)  # install with DESTDIR, so that /etc stays /etc
set(CPACK_INSTALL_PREFIX /usr)  # the install rules see /usr (with DESTDIR, CPack uses this one)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT ${MAILREADY_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${MAILREADY_DEB_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_RELEASE ${MAILREADY_DEB_RELEASE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # mailready_0.1.0-1_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from dpkg-shlibdeps on the binary
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus, bash-completion")
# CPack indents the lines after the summary by one space itself (and an empty line
# becomes " .").
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "checks IMAP/SMTP deployments for iPhones and other mail clients
Checks, from the outside and in seconds, that iPhones (and every other
standards-based mail client) will work against an IMAP/SMTP deployment: IMAP
over TLS on 993, submission on 587 with the phone's fallback to 465 and 25,
certificates by Apple's rules, login mechanisms, relaying, and a round trip.
When they will not, it says which hop of the path breaks and what to change.

Reports as text, JSON, JUnit XML, Nagios plugin output or Prometheus metrics,
and runs as a Prometheus exporter (a hardened systemd unit is included).")
include(CPack)
