# The CPU backend's GEMM (proteus_linear, native/src/cpu/layer_ops.cpp): the system BLAS's cblas_sgemm
# when one is found, else the backend's own blocked multithreaded GEMM. FindBLAS looks for the vendor
# PROTEUS_CPU_BLAS_VENDOR (its BLA_VENDOR), OpenBLAS by default: the generic reference libblas is about
# twenty times slower than the blocked GEMM, so it is taken only when asked for (All, or Generic).
# PROTEUS_CPU_BLAS=OFF builds the blocked GEMM only. Included from the top level, so that BLAS::BLAS is
# visible to the library and to the native tests.
option(PROTEUS_CPU_BLAS "CPU GEMMs through the system BLAS (cblas_sgemm) when one is found" ON)
set(PROTEUS_CPU_BLAS_VENDOR "OpenBLAS" CACHE STRING "FindBLAS's BLA_VENDOR for the CPU GEMM (OpenBLAS, FlexiBLAS, Intel10_64lp, All, …)")

set(PROTEUS_CPU_GEMM "blocked C++ GEMM")
if(PROTEUS_CPU_BLAS)
  set(BLA_VENDOR "${PROTEUS_CPU_BLAS_VENDOR}")
  find_package(BLAS QUIET)
  unset(BLA_VENDOR)
  if(BLAS_FOUND)
    # Debian's libopenblas-dev provides <cblas.h> (an alternative under the multiarch include directory);
    # other layouts keep it in an openblas/ folder.
    find_path(PROTEUS_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
    if(PROTEUS_CBLAS_INCLUDE_DIR)
      include(CheckSymbolExists)
      set(CMAKE_REQUIRED_LIBRARIES ${BLAS_LIBRARIES})
      set(CMAKE_REQUIRED_INCLUDES ${PROTEUS_CBLAS_INCLUDE_DIR})
      set(CMAKE_REQUIRED_QUIET ON)
      check_symbol_exists(cblas_sgemm cblas.h PROTEUS_HAVE_CBLAS_SGEMM)
      unset(CMAKE_REQUIRED_LIBRARIES)
      unset(CMAKE_REQUIRED_INCLUDES)
      unset(CMAKE_REQUIRED_QUIET)
      if(PROTEUS_HAVE_CBLAS_SGEMM)
        set(PROTEUS_CPU_GEMM "cblas_sgemm (${BLAS_LIBRARIES})")
      endif()
    endif()
  endif()
endif()
message(STATUS "CPU GEMM: ${PROTEUS_CPU_GEMM}; fewer than four rows: row by row")

# Compiles `target`'s copy of layer_ops.cpp against the system BLAS when the build found one.
function(proteus_use_cpu_gemm target)
  if(PROTEUS_CPU_BLAS AND PROTEUS_HAVE_CBLAS_SGEMM)
    target_compile_definitions(${target} PRIVATE PROTEUS_HAVE_CBLAS)
    target_include_directories(${target} PRIVATE ${PROTEUS_CBLAS_INCLUDE_DIR})
    target_link_libraries(${target} PRIVATE BLAS::BLAS)
  endif()
endfunction()
