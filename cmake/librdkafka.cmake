# librdkafka for every target, as the imported target tally::rdkafka.
#
# The one linked is the release deploy/librdkafka.sh builds from source into
# the cache (TALLY_LIBRDKAFKA_PREFIX, default
# ${TALLY_CACHE:-~/.cache/tally}/librdkafka-<version>), statically: its
# archive plus what its pkg-config file says it needs (OpenSSL, zstd, zlib),
# so the binaries need no run-time path to the cache, and the sanitizer and
# fuzz builds link the same library. Only when that build is missing (its
# build failed: deploy/setup.sh then installed Debian's librdkafka-dev) is
# the system's shared one linked, with a warning here and at every process's
# start (common/build_info.c).
#
# TALLY_LIBRDKAFKA_LINKED (internal) records which was chosen; a build dir
# configured before the cache had it is configured again by tally_build
# (deploy/local/env.sh) when that changes.

# Both from the environment (deploy/local/env.sh sets them) each time, so
# that a build dir configured before follows a changed TALLY_CACHE.
set(TALLY_LIBRDKAFKA_VERSION "$ENV{TALLY_LIBRDKAFKA_VERSION}")
if(NOT TALLY_LIBRDKAFKA_VERSION)
  set(TALLY_LIBRDKAFKA_VERSION 2.12.1)
endif()
set(TALLY_LIBRDKAFKA_PREFIX "$ENV{TALLY_LIBRDKAFKA_PREFIX}")
if(NOT TALLY_LIBRDKAFKA_PREFIX)
  if(NOT "$ENV{TALLY_CACHE}" STREQUAL "")
    set(_tally_cache "$ENV{TALLY_CACHE}")
  elseif(NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(_tally_cache "$ENV{XDG_CACHE_HOME}/tally")
  else()
    set(_tally_cache "$ENV{HOME}/.cache/tally")
  endif()
  set(TALLY_LIBRDKAFKA_PREFIX "${_tally_cache}/librdkafka-${TALLY_LIBRDKAFKA_VERSION}")
endif()

set(_tally_rdkafka_pc "${TALLY_LIBRDKAFKA_PREFIX}/lib/pkgconfig/rdkafka.pc")
if(EXISTS "${TALLY_LIBRDKAFKA_PREFIX}/.complete" AND EXISTS "${_tally_rdkafka_pc}")
  set(_tally_rdkafka_linked "${TALLY_LIBRDKAFKA_PREFIX}")
else()
  set(_tally_rdkafka_linked system)
endif()
# pkg_check_modules caches its answer: look again when the choice changed.
if(NOT "${TALLY_LIBRDKAFKA_LINKED}" STREQUAL "${_tally_rdkafka_linked}")
  unset(__pkg_config_checked_TALLY_RDKAFKA CACHE)
endif()
set(TALLY_LIBRDKAFKA_LINKED "${_tally_rdkafka_linked}" CACHE INTERNAL
    "the librdkafka linked: its cache prefix, or system")

add_library(tally_rdkafka INTERFACE)
add_library(tally::rdkafka ALIAS tally_rdkafka)
if(NOT TALLY_LIBRDKAFKA_LINKED STREQUAL "system")
  set(_tally_saved_pc_path "$ENV{PKG_CONFIG_PATH}")
  set(ENV{PKG_CONFIG_PATH} "${TALLY_LIBRDKAFKA_PREFIX}/lib/pkgconfig")
  pkg_check_modules(TALLY_RDKAFKA REQUIRED "rdkafka=${TALLY_LIBRDKAFKA_VERSION}")
  set(ENV{PKG_CONFIG_PATH} "${_tally_saved_pc_path}")
  if(NOT TALLY_RDKAFKA_PREFIX STREQUAL TALLY_LIBRDKAFKA_PREFIX)
    message(FATAL_ERROR "librdkafka: pkg-config found ${TALLY_RDKAFKA_PREFIX}, not ${TALLY_LIBRDKAFKA_PREFIX}")
  endif()
  # The archive by its path (never a shared library that might sit beside
  # it), then its dependencies as the static link needs them.
  set(_tally_rdkafka_libs)
  foreach(lib ${TALLY_RDKAFKA_STATIC_LIBRARIES})
    if(lib STREQUAL "rdkafka")
      list(APPEND _tally_rdkafka_libs "${TALLY_LIBRDKAFKA_PREFIX}/lib/librdkafka.a")
    else()
      list(APPEND _tally_rdkafka_libs ${lib})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES _tally_rdkafka_libs)
  # SYSTEM: its header has warnings of its own (2.12.1: a const int return
  # type, -Wignored-qualifiers) that -Werror must not turn on us.
  target_include_directories(tally_rdkafka SYSTEM INTERFACE ${TALLY_RDKAFKA_INCLUDE_DIRS})
  target_link_libraries(tally_rdkafka INTERFACE ${_tally_rdkafka_libs} Threads::Threads)
  # A rebuilt cache (another configure of librdkafka) configures again.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_tally_rdkafka_pc}")
  message(STATUS "librdkafka ${TALLY_RDKAFKA_VERSION}: static, from ${TALLY_LIBRDKAFKA_PREFIX}")
else()
  pkg_check_modules(TALLY_RDKAFKA REQUIRED rdkafka)
  target_include_directories(tally_rdkafka SYSTEM INTERFACE ${TALLY_RDKAFKA_INCLUDE_DIRS})
  target_link_directories(tally_rdkafka INTERFACE ${TALLY_RDKAFKA_LIBRARY_DIRS})
  target_link_libraries(tally_rdkafka INTERFACE ${TALLY_RDKAFKA_LIBRARIES})
  message(WARNING "librdkafka: ${TALLY_LIBRDKAFKA_PREFIX} has no build of librdkafka "
                  "${TALLY_LIBRDKAFKA_VERSION} (run deploy/librdkafka.sh); linking the system's "
                  "${TALLY_RDKAFKA_VERSION} instead, which lacks fixes Tally relies on")
endif()
