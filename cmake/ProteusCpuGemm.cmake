# The CPU backend's GEMM (proteus_linear, native/src/cpu/layer_ops.cpp). With PROTEUS_CPU_BLAS (ON by
# default) the library opens a system BLAS with dlopen on the first GEMM that needs it and calls its
# cblas_sgemm, falling back to the backend's own blocked multithreaded GEMM when none loads; nothing is
# linked, so libproteus.so loads on machines without a BLAS (the runtime package). Which libraries are
# tried, and the PROTEUS_CPU_BLAS environment variable that overrides them, are in layer_ops.cpp.
# PROTEUS_CPU_BLAS=OFF builds the blocked GEMM only. Included from the top level, so that the library
# and the native tests compile layer_ops.cpp the same way.
option(PROTEUS_CPU_BLAS "CPU GEMMs through a system BLAS (cblas_sgemm) opened at run time when one is installed" ON)

if(PROTEUS_CPU_BLAS)
  message(STATUS "CPU GEMM: cblas_sgemm of a BLAS opened at run time, else the blocked C++ GEMM; fewer than four rows: row by row")
else()
  message(STATUS "CPU GEMM: blocked C++ GEMM (PROTEUS_CPU_BLAS=OFF); fewer than four rows: row by row")
endif()

# Compiles `target`'s copy of layer_ops.cpp with the run-time BLAS loading when the build has it.
function(proteus_use_cpu_gemm target)
  if(PROTEUS_CPU_BLAS)
    target_compile_definitions(${target} PRIVATE PROTEUS_CPU_BLAS_LOADER)
    target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
  endif()
endfunction()
