# The Debian package of venuegw (issue 8), built by CPack's DEB generator.
# Included at the end of the top-level CMakeLists.txt.
#
#   packaging/deb/build-deb.sh [BUILD_DIR] [CMAKE ARGS...]
#
# configures a build with CMAKE_INSTALL_PREFIX=/usr and Debian's hardening
# flags (dpkg-buildflags), builds it and runs `cpack -G DEB`.  The package
# holds:
#   /usr/bin/venuegw, /usr/lib/venuegw/venuegw_capture.so (off the linker path)
#   /etc/venuegw/{venuegw.conf,venuegw-broker.conf,acl} (conffiles), broker.d/
#   /lib/systemd/system/{venuegw-broker,venuegw}.service
#   /usr/lib/sysusers.d/venuegw.conf, /usr/lib/tmpfiles.d/venuegw.conf
#   /usr/share/venuegw/plan.json (the default tracking plan: [contracts] plan)
#   /usr/share/man/man{5,8}/ (whatever packaging/man holds, gzip -9n)
#   /usr/share/doc/venuegw/{copyright,changelog.Debian.gz,README.Debian,...}
# Maintainer scripts, conffiles list, copyright and changelog live beside this
# file; tests/package/run.sh builds, lints, installs, runs and purges it.

include(GNUInstallDirs)

set(VG_DEB_SRC ${CMAKE_CURRENT_LIST_DIR})
set(VG_PKG_SRC ${PROJECT_SOURCE_DIR}/packaging)
set(VG_DEB_OUT ${PROJECT_BINARY_DIR}/deb)
set(VG_DEB_RELEASE 1)
set(VG_DEB_MAINTAINER "venuegw maintainers <venuegw@example.com>")

# Installed locations.  With CMAKE_INSTALL_PREFIX=/usr (the package) they
# are Debian's: /etc/venuegw, /lib/systemd/system, /usr/lib/venuegw (the
# lib/venuegw of the plugin's install() rule).
set(VG_ETC ${CMAKE_INSTALL_FULL_SYSCONFDIR}/venuegw)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(VG_UNITDIR /lib/systemd/system)
else()
  set(VG_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()

# /etc/venuegw/venuegw-broker.conf from packaging/broker/venuegw-broker.conf.in,
# its @VAR@ placeholders filled with the installed paths.  Re-made whenever
# the template changes (it is a configure dependency).  A placeholder not in
# this table stays as it is and is reported: mosquitto then refuses the file,
# which tests/package/run.sh catches.
set(VG_BROKER_TEMPLATE ${VG_PKG_SRC}/broker/venuegw-broker.conf.in)
set(VG_BROKER_VARS
  PASSWD   ${VG_ETC}/passwd
  ACL      ${VG_ETC}/acl
  PLUGIN   ${CMAKE_INSTALL_PREFIX}/lib/venuegw/venuegw_capture.so
  CONFIG   ${VG_ETC}/venuegw.conf
  PORT     1884
  PIDFILE  /run/venuegw/broker.pid
  CONFDIR  ${VG_ETC}/broker.d
  # Started as root by hand, mosquitto drops to this user (not to
  # "mosquitto", which could not read the password file nor write buffer.db);
  # under systemd it already runs as venuegw and the line changes nothing.
  EXTRA    "user venuegw")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${VG_BROKER_TEMPLATE})
file(READ ${VG_BROKER_TEMPLATE} vg_broker_text)
# The template's comment block about its placeholders does not belong in the
# installed file.
string(REGEX REPLACE "#[^\n]*@VAR@[^\n]*\n(#[^\n]*\n)*"
       "# Made from packaging/broker/venuegw-broker.conf.in for the Debian package.\n# A conffile: local changes are kept on upgrades.\n"
       vg_broker_text "${vg_broker_text}")
list(LENGTH VG_BROKER_VARS vg_n)
math(EXPR vg_last "${vg_n} - 1")
foreach(i RANGE 0 ${vg_last} 2)
  math(EXPR j "${i} + 1")
  list(GET VG_BROKER_VARS ${i} vg_name)
  list(GET VG_BROKER_VARS ${j} vg_value)
  string(REPLACE "@${vg_name}@" "${vg_value}" vg_broker_text "${vg_broker_text}")
endforeach()
# Left-over placeholders outside comment lines.
string(REGEX MATCHALL "(^|\n)[^#\n]*@[A-Za-z_]+@" vg_left "${vg_broker_text}")
if(vg_left)
  message(WARNING "packaging/deb/package.cmake: ${VG_BROKER_TEMPLATE} has placeholders "
                  "this file does not fill (add them to VG_BROKER_VARS): ${vg_left}")
endif()
file(WRITE ${VG_DEB_OUT}/venuegw-broker.conf.tmp "${vg_broker_text}")
configure_file(${VG_DEB_OUT}/venuegw-broker.conf.tmp ${VG_DEB_OUT}/venuegw-broker.conf COPYONLY)

# Compressed files (gzip -9n: best compression, no name or time stamp, so the
# package is reproducible): man pages, the Debian changelog, long docs.
set(vg_gz_outputs)
function(vg_gzip src dst)
  add_custom_command(OUTPUT ${dst}
    COMMAND sh -c "mkdir -p \"$(dirname \"$2\")\" && gzip -9n -c \"$1\" > \"$2\"" sh ${src} ${dst}
    DEPENDS ${src} VERBATIM)
  set(vg_gz_outputs ${vg_gz_outputs} ${dst} PARENT_SCOPE)
endfunction()

file(GLOB VG_MAN_PAGES CONFIGURE_DEPENDS ${VG_PKG_SRC}/man/*.[1-8])
foreach(page ${VG_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\.([1-8])$" "\\1" section ${name})
  vg_gzip(${page} ${VG_DEB_OUT}/man/${name}.gz)
  install(FILES ${VG_DEB_OUT}/man/${name}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

set(VG_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/venuegw)
vg_gzip(${VG_DEB_SRC}/changelog ${VG_DEB_OUT}/changelog.Debian.gz)
vg_gzip(${PROJECT_SOURCE_DIR}/README.md ${VG_DEB_OUT}/README.md.gz)
set(vg_docs ${VG_DEB_OUT}/changelog.Debian.gz ${VG_DEB_OUT}/README.md.gz)
foreach(doc cdp-wire-format.md token-spec.md)
  if(EXISTS ${VG_PKG_SRC}/doc/${doc})
    vg_gzip(${VG_PKG_SRC}/doc/${doc} ${VG_DEB_OUT}/${doc}.gz)
    list(APPEND vg_docs ${VG_DEB_OUT}/${doc}.gz)
  endif()
endforeach()
add_custom_target(vg_deb_files ALL DEPENDS ${vg_gz_outputs})

# The changelog's newest entry must name the version being packaged.
file(STRINGS ${VG_DEB_SRC}/changelog vg_cl_head LIMIT_COUNT 1)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${VG_DEB_SRC}/changelog)
if(NOT vg_cl_head MATCHES "^venuegw \\(${PROJECT_VERSION}-${VG_DEB_RELEASE}\\) ")
  message(WARNING "packaging/deb/changelog: the newest entry is not "
                  "${PROJECT_VERSION}-${VG_DEB_RELEASE} (${vg_cl_head}); add one")
endif()

install(FILES ${VG_PKG_SRC}/etc/venuegw.conf ${VG_DEB_OUT}/venuegw-broker.conf
              ${VG_PKG_SRC}/broker/acl
        DESTINATION ${VG_ETC})
# The broker's include_dir must exist; `venuegw provision` writes into it.
install(DIRECTORY DESTINATION ${VG_ETC}/broker.d)
install(FILES ${VG_PKG_SRC}/systemd/venuegw-broker.service ${VG_PKG_SRC}/systemd/venuegw.service
        DESTINATION ${VG_UNITDIR})
install(FILES ${VG_PKG_SRC}/systemd/venuegw.sysusers DESTINATION lib/sysusers.d RENAME venuegw.conf)
install(FILES ${VG_PKG_SRC}/systemd/venuegw.tmpfiles DESTINATION lib/tmpfiles.d RENAME venuegw.conf)
install(FILES ${VG_DEB_SRC}/copyright ${VG_DEB_SRC}/README.Debian ${vg_docs} DESTINATION ${VG_DOCDIR})
# The default tracking plan (not a conffile: a venue copies it to /etc/venuegw
# and points [contracts] plan at the copy, so upgrades never clobber theirs).
install(FILES ${VG_PKG_SRC}/plan/plan.json DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/venuegw)
install(FILES ${VG_DEB_SRC}/venuegw.lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME venuegw)
# CPack strips with a plain `strip`; like dh_strip, also drop the .comment and
# .note sections (lintian: binary-has-unneeded-section).  Runs after the
# targets' own install rules, which come first in the top-level file.
install(CODE "
  if(CMAKE_INSTALL_DO_STRIP)
    foreach(f bin/venuegw lib/venuegw/venuegw_capture.so)
      set(p \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/\${f}\")
      execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment --remove-section=.note
                      \"\${p}\" RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR \"strip --remove-section failed on \${p}\")
      endif()
    endforeach()
  endif()")
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# CPack.
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME venuegw)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "venuegw")
set(CPACK_PACKAGE_CONTACT "${VG_DEB_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${VG_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${VG_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "venue event gateway: durable MQTT and serial capture, forwarding to a CDP
venuegw is the on-premises gateway of a venue (gym, studio, store). POS
terminals, kiosks and check-in scanners publish attendance and transaction
events to its own mosquitto instance over MQTT, or send them over serial and
USB ports. A broker plugin makes each event durable in SQLite before the
device gets its acknowledgement, replaces contact and card data with keyed
tokens on the box, and the venuegw daemon forwards batches to the central
Customer Data Platform with retries and idempotency keys.
The package runs both as hardened systemd services under the venuegw user
once the gateway is provisioned with `venuegw provision`.")
# What the binary and the plugin link (dpkg-shlibdeps: libmosquitto1,
# libsqlite3-0, the mbedTLS libraries, libcurl4, libcjson1, libinih1,
# libmicrohttpd12, libsystemd0, zlib1g, libdeflate0 (the batches' gzip),
# libarchive13 for venuegw diag), plus
# the broker the plugin runs in, and what postinst creates the user with.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# tzdata: [gateway] timezone is read from /usr/share/zoneinfo (required
# priority in Debian 12, but a minimal system may lack it).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "mosquitto (>= 2.0), tzdata, systemd-sysusers | adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${VG_DEB_SRC}/postinst ${VG_DEB_SRC}/prerm ${VG_DEB_SRC}/postrm ${VG_DEB_SRC}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# A cross build (board/*/toolchain.cmake) is labelled with its Debian
# architecture, not the build machine's.
if(CMAKE_CROSSCOMPILING AND NOT CPACK_DEBIAN_PACKAGE_ARCHITECTURE)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
  endif()
endif()
# cpack refuses a build configured for another prefix (its /etc and unit
# paths would be wrong).
set(VG_DEB_CONFIGURED_PREFIX ${CMAKE_INSTALL_PREFIX})
configure_file(${VG_DEB_SRC}/cpack-checks.cmake.in ${VG_DEB_OUT}/cpack-checks.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${VG_DEB_OUT}/cpack-checks.cmake)
include(CPack)
