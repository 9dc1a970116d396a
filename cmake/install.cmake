# What `make install` puts where (docs/install.md): the libraries, headers,
# pkg-config files, tools, the systemd unit, the example configuration,
# the docs and the man pages; and an `uninstall` target that removes what
# install_manifest.txt lists. Included from CMakeLists.txt.

# --- pkg-config files, relocatable: the prefix is found from the .pc file's
# own place (${pcfiledir}), so an installed tree can be moved or unpacked
# under a DESTDIR and still be found with PKG_CONFIG_PATH.
file(RELATIVE_PATH CXLFLASH_PC_UP "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig"
  "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" CXLFLASH_PC_UP "${CXLFLASH_PC_UP}")
set(CXLFLASH_PC_PREFIX "\${pcfiledir}/${CXLFLASH_PC_UP}")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(CXLFLASH_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(CXLFLASH_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
foreach(pc cxlflash cflsh_block arkdb)
  configure_file(contrib/${pc}.pc.in ${CMAKE_BINARY_DIR}/${pc}.pc @ONLY)
endforeach()

# --- the systemd unit, from a template with this prefix's paths.
# Empty means PREFIX/lib/systemd/system, worked out at every configure so
# that a new prefix (make install PREFIX=...) moves the unit too.
set(CXLFLASH_SYSTEMD_UNITDIR "" CACHE PATH
  "Where cxlflashd.service is installed (empty: PREFIX/lib/systemd/system)")
set(CXLFLASH_UNITDIR "${CXLFLASH_SYSTEMD_UNITDIR}")
if(NOT CXLFLASH_UNITDIR)
  set(CXLFLASH_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
configure_file(contrib/cxlflashd.service.in ${CMAKE_BINARY_DIR}/cxlflashd.service @ONLY)

# --- libraries, headers, pkg-config files.
install(TARGETS cxlflash cxlflash_static cflsh_block cflsh_block_static arkdb arkdb_static
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/cxlflash DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES include/cxlflash/capiblock.h include/cxlflash/arkdb.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/cxlflash.pc ${CMAKE_BINARY_DIR}/cflsh_block.pc
  ${CMAKE_BINARY_DIR}/arkdb.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# --- the daemon and the tools (superpipe-demo stays in the build tree).
install(TARGETS cxlflashd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS cxlflash_tool blockio blocklistio run_kv_sync run_kv_async arkdb-check
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_BINARY_DIR}/cxlflashd.service DESTINATION ${CXLFLASH_UNITDIR})

# --- the example configuration: in the docs always; as the live
# configuration only when there is none yet (an admin's edits survive a
# reinstall; a file installed here is in install_manifest.txt, and
# file(INSTALL) adds DESTDIR itself).
install(FILES contrib/cxlflashd.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(CODE "
  set(conf \"\$ENV{DESTDIR}${CMAKE_INSTALL_FULL_SYSCONFDIR}/cxlflash/cxlflashd.conf\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Kept: \${conf} (already there)\")
  else()
    file(INSTALL DESTINATION \"${CMAKE_INSTALL_FULL_SYSCONFDIR}/cxlflash\"
      TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
      FILES \"${CMAKE_SOURCE_DIR}/contrib/cxlflashd.conf\")
  endif()")

# --- docs: the README and the guides (docs/STATUS.md is for developers).
file(GLOB CXLFLASH_DOCS docs/*.md)
list(FILTER CXLFLASH_DOCS EXCLUDE REGEX "/STATUS\\.md$")
install(FILES README.md ${CXLFLASH_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES examples/superpipe_hello.c examples/cblk_example.c
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# --- man pages: man/NAME.SECTION.scd, one source per page, turned into
# roff by scdoc (docs/install.md says why scdoc). A page that documents
# several calls names them all on its NAME line ("cblk_read, cblk_write -
# ..."); each other name gets a one-line page that sources the first, as
# liburing and the Linux man-pages do.
find_program(SCDOC scdoc)
file(GLOB CXLFLASH_MAN_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.scd)
if(SCDOC)
  set(man_outputs "")
  foreach(src ${CXLFLASH_MAN_SOURCES})
    get_filename_component(page ${src} NAME)
    string(REGEX REPLACE "\\.scd$" "" page ${page})            # cblk_read.3
    string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
    string(REGEX REPLACE "\\.[0-9]$" "" name ${page})
    set(out ${CMAKE_BINARY_DIR}/man/${page})
    add_custom_command(OUTPUT ${out} COMMAND ${CMAKE_COMMAND} -E make_directory
      ${CMAKE_BINARY_DIR}/man COMMAND ${SCDOC} < ${src} > ${out} DEPENDS ${src}
      COMMENT "scdoc ${page}" VERBATIM)
    list(APPEND man_outputs ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
    # The other names on the NAME line.
    file(STRINGS ${src} lines)
    list(FIND lines "# NAME" at)
    math(EXPR at "${at} + 2")
    list(GET lines ${at} name_line)
    string(REGEX REPLACE " - .*$" "" names "${name_line}")
    string(REPLACE "\\_" "_" names "${names}")
    string(REPLACE "," ";" names "${names}")
    foreach(alias ${names})
      string(STRIP "${alias}" alias)
      if(alias STREQUAL name OR alias STREQUAL "")
        continue()
      endif()
      file(WRITE ${CMAKE_BINARY_DIR}/man/alias/${alias}.${section}
        ".so man${section}/${page}\n")
      install(FILES ${CMAKE_BINARY_DIR}/man/alias/${alias}.${section}
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
    endforeach()
  endforeach()
  add_custom_target(man ALL DEPENDS ${man_outputs})
else()
  message(STATUS "man pages: not built (scdoc not found; scripts/install-deps.sh "
    "installs it)")
endif()

# --- make uninstall: remove every file install_manifest.txt lists.
add_custom_target(uninstall COMMAND ${CMAKE_COMMAND}
  -DMANIFEST=${CMAKE_BINARY_DIR}/install_manifest.txt
  -DCONF_EXAMPLE=${CMAKE_SOURCE_DIR}/contrib/cxlflashd.conf
  -P ${CMAKE_SOURCE_DIR}/cmake/uninstall.cmake)

# --- after a real install (no DESTDIR), refresh the dynamic linker's cache
# so programs find the new libraries in PREFIX/lib at once (quietly
# nothing when not root).
install(CODE "
  if(\"\$ENV{DESTDIR}\" STREQUAL \"\")
    find_program(CXLFLASH_LDCONFIG ldconfig PATHS /sbin /usr/sbin)
    if(CXLFLASH_LDCONFIG)
      execute_process(COMMAND \${CXLFLASH_LDCONFIG} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    endif()
  endif()")
