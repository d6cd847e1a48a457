# SPDX-License-Identifier: Apache-2.0
# Optional dependencies: zstd, zlib, libunwind, CUPTI. Each is AUTO (use if found), ON (required) or OFF.
include(CheckCSourceCompiles)
set(TSM_FEATURE_DEFINES "")
set(TSM_DEP_LIBS "")
set(TSM_DEP_INCLUDES "")

function(tsm_dep_missing name mode)
  if(mode STREQUAL "ON")
    message(FATAL_ERROR "${name} was required (TSM_WITH_${name}=ON) but not found")
  endif()
endfunction()

# zstd
set(TSM_HAVE_ZSTD OFF)
if(NOT TSM_WITH_ZSTD STREQUAL "OFF")
  find_path(ZSTD_INCLUDE_DIR zstd.h)
  find_library(ZSTD_LIBRARY zstd)
  if(ZSTD_INCLUDE_DIR AND ZSTD_LIBRARY)
    set(TSM_HAVE_ZSTD ON)
    list(APPEND TSM_FEATURE_DEFINES TSM_HAVE_ZSTD=1)
    list(APPEND TSM_DEP_LIBS ${ZSTD_LIBRARY})
    list(APPEND TSM_DEP_INCLUDES ${ZSTD_INCLUDE_DIR})
  else()
    tsm_dep_missing(ZSTD ${TSM_WITH_ZSTD})
  endif()
endif()

# zlib (zlib1g-dev): .gz export output and .gz import input
set(TSM_HAVE_ZLIB OFF)
if(NOT TSM_WITH_ZLIB STREQUAL "OFF")
  find_path(ZLIB_INCLUDE_DIR zlib.h)
  find_library(ZLIB_LIBRARY z)
  if(ZLIB_INCLUDE_DIR AND ZLIB_LIBRARY)
    set(TSM_HAVE_ZLIB ON)
    list(APPEND TSM_FEATURE_DEFINES TSM_HAVE_ZLIB=1)
    list(APPEND TSM_DEP_LIBS ${ZLIB_LIBRARY})
    list(APPEND TSM_DEP_INCLUDES ${ZLIB_INCLUDE_DIR})
  else()
    tsm_dep_missing(ZLIB ${TSM_WITH_ZLIB})
  endif()
endif()

# libunwind (the nongnu one: libunwind-dev)
set(TSM_HAVE_LIBUNWIND OFF)
if(NOT TSM_WITH_LIBUNWIND STREQUAL "OFF")
  find_path(LIBUNWIND_INCLUDE_DIR libunwind.h)
  find_library(LIBUNWIND_LIBRARY unwind)
  if(LIBUNWIND_INCLUDE_DIR AND LIBUNWIND_LIBRARY)
    set(TSM_HAVE_LIBUNWIND ON)
    list(APPEND TSM_FEATURE_DEFINES TSM_HAVE_LIBUNWIND=1)
  else()
    tsm_dep_missing(LIBUNWIND ${TSM_WITH_LIBUNWIND})
  endif()
endif()

# CUPTI (agent only; the library itself never includes CUDA headers)
set(TSM_HAVE_CUPTI OFF)
if(NOT TSM_WITH_CUPTI STREQUAL "OFF")
  find_path(CUPTI_INCLUDE_DIR cupti.h HINTS ${TSM_CUDA_ROOT}/include ${TSM_CUDA_ROOT}/extras/CUPTI/include)
  find_path(CUDA_INCLUDE_DIR cuda.h HINTS ${TSM_CUDA_ROOT}/include)
  find_library(CUPTI_LIBRARY cupti HINTS ${TSM_CUDA_ROOT}/lib64 ${TSM_CUDA_ROOT}/extras/CUPTI/lib64)
  if(CUPTI_INCLUDE_DIR AND CUDA_INCLUDE_DIR AND CUPTI_LIBRARY)
    set(TSM_HAVE_CUPTI ON)
  else()
    tsm_dep_missing(CUPTI ${TSM_WITH_CUPTI})
  endif()
endif()

# C++ demangling of kernel names (tsm_demangle) through libstdc++'s C-ABI __cxa_demangle.
set(CMAKE_REQUIRED_LIBRARIES stdc++)
check_c_source_compiles("#include <stdlib.h>
#include <stddef.h>
char *__cxa_demangle(const char *, char *, size_t *, int *);
int main(void) { int st; char *p = __cxa_demangle(\"_Z1fv\", NULL, NULL, &st); free(p); return st; }"
  TSM_HAVE_CXA_DEMANGLE)
unset(CMAKE_REQUIRED_LIBRARIES)
if(TSM_HAVE_CXA_DEMANGLE)
  list(APPEND TSM_FEATURE_DEFINES TSM_HAVE_CXA_DEMANGLE=1)
  list(APPEND TSM_DEP_LIBS stdc++)
endif()

# libFuzzer: clang only
set(TSM_FUZZ_ENABLED OFF)
if(NOT TSM_BUILD_FUZZ STREQUAL "OFF" AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  check_c_source_compiles("#include <stdint.h>
#include <stddef.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }" TSM_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(TSM_HAVE_LIBFUZZER)
    set(TSM_FUZZ_ENABLED ON)
  endif()
endif()
if(TSM_BUILD_FUZZ STREQUAL "ON" AND NOT TSM_FUZZ_ENABLED)
  message(FATAL_ERROR "TSM_BUILD_FUZZ=ON needs clang with libFuzzer (CC=clang)")
endif()
