# The GPU backend: which one this build tree compiles, and how its sources join a target.
#
# PROTEUS_CUDA and PROTEUS_HIP (cache, ON / OFF / AUTO) choose; AUTO enables a backend when its
# compiler works here, CUDA first. The result is PROTEUS_GPU_LANGUAGE = CUDA, HIP or "" with that
# language enabled, and proteus_add_gpu_backend(<target>) compiles native/src/gpu/*.cu into <target>.
# The same .cu files serve both backends: gpu/vendor.h maps the CUDA names to HIP.
include_guard(GLOBAL)
include(CheckLanguage)

set(PROTEUS_GPU_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/../native/src/gpu")
cmake_path(NORMAL_PATH PROTEUS_GPU_SOURCE_DIR)

# Reads an ON / OFF / AUTO switch (CMake's other spellings of true and false are accepted).
function(_proteus_gpu_switch name out)
  string(TOUPPER "${${name}}" value)
  if(value MATCHES "^(ON|YES|TRUE|Y|1)$")
    set(value ON)
  elseif(value MATCHES "^(OFF|NO|FALSE|N|0)$")
    set(value OFF)
  elseif(NOT value STREQUAL "AUTO")
    message(FATAL_ERROR "${name} must be ON, OFF or AUTO, not '${${name}}'")
  endif()
  set(${out} ${value} PARENT_SCOPE)
endfunction()

# nvcc before 12 rejects g++ 12 and newer as its host compiler; clang 14 is a host it accepts.
# Only applies when nobody chose a host compiler (CMAKE_CUDA_HOST_COMPILER or CUDAHOSTCXX).
function(_proteus_cuda_host_compiler)
  if(CMAKE_CUDA_HOST_COMPILER OR DEFINED ENV{CUDAHOSTCXX})
    return()
  endif()
  if(CMAKE_CUDA_COMPILER)
    set(nvcc "${CMAKE_CUDA_COMPILER}")
  elseif(DEFINED ENV{CUDACXX})
    set(nvcc "$ENV{CUDACXX}")
  else()
    find_program(PROTEUS_NVCC nvcc HINTS ENV CUDA_PATH ENV CUDA_HOME /usr/local/cuda PATH_SUFFIXES bin)
    if(NOT PROTEUS_NVCC)
      return()
    endif()
    set(nvcc "${PROTEUS_NVCC}")
    # Lets check_language(CUDA) below find it even when it is not on PATH.
    set(ENV{CUDACXX} "${nvcc}")
  endif()
  execute_process(COMMAND "${nvcc}" --version OUTPUT_VARIABLE version_text RESULT_VARIABLE result ERROR_QUIET)
  if(NOT result EQUAL 0 OR NOT version_text MATCHES "release ([0-9]+)\\.([0-9]+)")
    return()
  endif()
  set(cuda_version "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
  if(cuda_version VERSION_LESS 12 AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
     AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    find_program(PROTEUS_CUDA_CLANG_HOST NAMES clang++-14)
    if(PROTEUS_CUDA_CLANG_HOST)
      message(STATUS "CUDA ${cuda_version} does not accept g++ ${CMAKE_CXX_COMPILER_VERSION}; "
                     "nvcc host compiler: ${PROTEUS_CUDA_CLANG_HOST}")
      set(CMAKE_CUDA_HOST_COMPILER "${PROTEUS_CUDA_CLANG_HOST}" CACHE FILEPATH "Host compiler of nvcc")
      set(ENV{CUDAHOSTCXX} "${PROTEUS_CUDA_CLANG_HOST}")  # seen by check_language's test project
    endif()
  endif()
endfunction()

# Finds the HIP (ROCm) clang. hipcc knows which clang and which install paths belong to this ROCm, so
# one probe compile through hipcc (HIPCC_VERBOSE prints the command it runs) both proves that HIP
# works here and names the compiler and the path flags that CMake's HIP language must pass it too.
# Distribution packages (Debian's HIP 5.2 uses clang++-15 and /usr) need those flags; ROCm's own
# clang finds its install without them.
function(_proteus_find_hip_compiler found)
  set(${found} FALSE PARENT_SCOPE)
  if("$ENV{HIP_PLATFORM}" STREQUAL "")
    set(ENV{HIP_PLATFORM} amd)  # hipcc would pick the NVIDIA platform wherever nvcc is installed
  endif()
  if(CMAKE_HIP_COMPILER)
    set(${found} TRUE PARENT_SCOPE)  # chosen by the user; CMake checks it
    return()
  endif()
  find_program(PROTEUS_HIPCC hipcc HINTS ENV ROCM_PATH ENV HIP_PATH /opt/rocm PATH_SUFFIXES bin)
  if(NOT PROTEUS_HIPCC)
    return()
  endif()
  set(probe_dir "${CMAKE_BINARY_DIR}/CMakeFiles/ProteusHipProbe")
  file(WRITE "${probe_dir}/probe.hip"
    "#include <hip/hip_runtime.h>\n__global__ void probe(int* x) { *x = warpSize; }\n")
  list(GET PROTEUS_HIP_ARCHITECTURES 0 arch)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env HIPCC_VERBOSE=1
            "${PROTEUS_HIPCC}" --offload-arch=${arch} -c probe.hip -o probe.o
    WORKING_DIRECTORY "${probe_dir}"
    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0 OR NOT output MATCHES "hipcc-cmd: *([^\n]*)")
    file(APPEND "${CMAKE_BINARY_DIR}/CMakeFiles/CMakeError.log" "HIP probe through ${PROTEUS_HIPCC} failed:\n${output}\n")
    return()
  endif()
  separate_arguments(command UNIX_COMMAND "${CMAKE_MATCH_1}")
  list(GET command 0 compiler)
  if(NOT compiler MATCHES "clang")
    return()  # hipcc drives nvcc (HIP_PLATFORM=nvidia): that is the CUDA backend's business
  endif()
  set(path_flags "")
  foreach(argument IN LISTS command)
    if(argument MATCHES "^--(rocm-path|hip-version|hip-device-lib-path)=")
      list(APPEND path_flags "${argument}")
    endif()
  endforeach()
  list(JOIN path_flags " " path_flags)
  set(CMAKE_HIP_COMPILER "${compiler}" CACHE FILEPATH "HIP compiler (the ROCm clang)")
  set(CMAKE_HIP_FLAGS_INIT "${path_flags}" PARENT_SCOPE)
  set(${found} TRUE PARENT_SCOPE)
endfunction()

# CMake 3.25 looks for hip-lang only at <rocm root>/lib/cmake/hip-lang, where distributions with
# multiarch library directories (Debian: /usr/lib/x86_64-linux-gnu/cmake) do not put it. Then a
# forwarding package in the build tree stands in for that root (and mends the package, see below).
function(_proteus_hip_rocm_root)
  if(CMAKE_HIP_COMPILER_ROCM_ROOT)
    return()
  endif()
  if("${CMAKE_HIP_FLAGS_INIT} ${CMAKE_HIP_FLAGS}" MATCHES "--rocm-path=([^ ]+)")
    set(root "${CMAKE_MATCH_1}")
  else()
    execute_process(COMMAND hipconfig --rocmpath OUTPUT_VARIABLE root RESULT_VARIABLE result ERROR_QUIET)
    if(NOT result EQUAL 0)
      return()
    endif()
  endif()
  if(EXISTS "${root}/lib/cmake/hip-lang/hip-lang-config.cmake")
    return()
  endif()
  find_file(PROTEUS_HIP_LANG_CONFIG hip-lang-config.cmake NO_DEFAULT_PATH
    PATHS "${root}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake/hip-lang" "${root}/lib64/cmake/hip-lang")
  if(NOT PROTEUS_HIP_LANG_CONFIG)
    return()
  endif()
  get_filename_component(packages_dir "${PROTEUS_HIP_LANG_CONFIG}" DIRECTORY)
  get_filename_component(packages_dir "${packages_dir}" DIRECTORY)
  set(shim_root "${CMAKE_BINARY_DIR}/CMakeFiles/ProteusRocmRoot")
  string(CONFIGURE [=[
# Written by ProteusGpu.cmake: forwards to the distribution's hip-lang package; its dependencies
# (amd_comgr, ...) sit beside it.
list(APPEND CMAKE_PREFIX_PATH "@packages_dir@")
include("@PROTEUS_HIP_LANG_CONFIG@")
# Installed under /usr, the package names /usr/include as a system include directory. Passed as
# -isystem it goes ahead of libstdc++'s headers and breaks their #include_next <math.h>; the
# compiler searches /usr/include anyway.
foreach(target IN ITEMS hip-lang::device hip-lang::amdhip64)
  foreach(property IN ITEMS INTERFACE_INCLUDE_DIRECTORIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES)
    get_target_property(directories ${target} ${property})
    if(directories)
      while(directories MATCHES "(^|[:;])/usr/include/?(;|>|$)")
        string(REGEX REPLACE "(^|[:;])/usr/include/?(;|>|$)" "\\1\\2" directories "${directories}")
      endwhile()
      set_target_properties(${target} PROPERTIES ${property} "${directories}")
    endif()
  endforeach()
endforeach()
]=] shim @ONLY)
  file(WRITE "${shim_root}/lib/cmake/hip-lang/hip-lang-config.cmake" "${shim}")
  set(CMAKE_HIP_COMPILER_ROCM_ROOT "${shim_root}" PARENT_SCOPE)
endfunction()

_proteus_gpu_switch(PROTEUS_CUDA _proteus_cuda)
_proteus_gpu_switch(PROTEUS_HIP _proteus_hip)
if(_proteus_cuda STREQUAL "ON" AND _proteus_hip STREQUAL "ON")
  message(FATAL_ERROR "PROTEUS_CUDA and PROTEUS_HIP are both ON: a build tree holds one GPU backend")
endif()

set(PROTEUS_GPU_LANGUAGE "")

# CUDA: when ON, or AUTO unless HIP is ON.
if(_proteus_cuda STREQUAL "ON" OR (_proteus_cuda STREQUAL "AUTO" AND NOT _proteus_hip STREQUAL "ON"))
  _proteus_cuda_host_compiler()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(PROTEUS_GPU_LANGUAGE CUDA)
  elseif(_proteus_cuda STREQUAL "ON")
    message(FATAL_ERROR "PROTEUS_CUDA=ON but no working CUDA compiler was found "
                        "(set CMAKE_CUDA_COMPILER, and CMAKE_CUDA_HOST_COMPILER if nvcc rejects the default one; "
                        "details in CMakeFiles/CMakeError.log)")
  endif()
endif()

# HIP: when ON, or AUTO when CUDA was not taken.
if(NOT PROTEUS_GPU_LANGUAGE AND (_proteus_hip STREQUAL "ON" OR _proteus_hip STREQUAL "AUTO"))
  _proteus_find_hip_compiler(_proteus_hip_found)
  if(_proteus_hip_found)
    set(PROTEUS_GPU_LANGUAGE HIP)
  elseif(_proteus_hip STREQUAL "ON")
    message(FATAL_ERROR "PROTEUS_HIP=ON but no working HIP compiler was found "
                        "(hipcc with the ROCm clang, or set CMAKE_HIP_COMPILER; details in CMakeFiles/CMakeError.log)")
  endif()
endif()

if(PROTEUS_GPU_LANGUAGE STREQUAL "CUDA")
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES ${PROTEUS_CUDA_ARCHITECTURES})  # also what CMake's compiler check builds
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
elseif(PROTEUS_GPU_LANGUAGE STREQUAL "HIP")
  if(NOT DEFINED CMAKE_HIP_ARCHITECTURES)
    set(CMAKE_HIP_ARCHITECTURES ${PROTEUS_HIP_ARCHITECTURES})  # CMake would ask the GPUs present and fail without one
  endif()
  _proteus_hip_rocm_root()
  enable_language(HIP)
endif()
message(STATUS "Proteus GPU backend: ${PROTEUS_GPU_LANGUAGE}")
if(PROTEUS_GPU_LANGUAGE)
  message(STATUS "Proteus GPU compiler: ${CMAKE_${PROTEUS_GPU_LANGUAGE}_COMPILER}")
endif()

# Compiles the GPU backend (native/src/gpu/*.cu) into `target` as PROTEUS_GPU_LANGUAGE.
function(proteus_add_gpu_backend target)
  if(NOT PROTEUS_GPU_LANGUAGE)
    message(FATAL_ERROR "proteus_add_gpu_backend: no GPU backend is enabled in this build tree")
  endif()
  file(GLOB sources CONFIGURE_DEPENDS "${PROTEUS_GPU_SOURCE_DIR}/*.cu")
  set_source_files_properties(${sources} PROPERTIES LANGUAGE ${PROTEUS_GPU_LANGUAGE})
  target_sources(${target} PRIVATE ${sources})
  target_compile_definitions(${target} PRIVATE PROTEUS_HAVE_GPU=1 PROTEUS_GPU_BACKEND_${PROTEUS_GPU_LANGUAGE}=1)
  # The BLAS of proteus_linear is opened with dlopen when first used (gpu/blas.cu), never linked.
  target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
  set_target_properties(${target} PROPERTIES
    ${PROTEUS_GPU_LANGUAGE}_STANDARD 17
    ${PROTEUS_GPU_LANGUAGE}_STANDARD_REQUIRED ON
    ${PROTEUS_GPU_LANGUAGE}_EXTENSIONS OFF
    ${PROTEUS_GPU_LANGUAGE}_VISIBILITY_PRESET hidden)
  # The Hopper kernel (gpu/hopper/flux_wgmma.cu) is sm_90a code alone: an object library of its own with
  # only that target, so that no other architecture's pass sees wgmma or setmaxnreg (a plain sm_90 pass
  # rejects them). CUDA before 12 has no sm_90a, and HIP none at all: they compile the refusing stand-in.
  set(hopper "${PROTEUS_GPU_SOURCE_DIR}/hopper")
  if(PROTEUS_GPU_LANGUAGE STREQUAL "CUDA" AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0
     AND "90" IN_LIST PROTEUS_CUDA_ARCHITECTURES)
    add_library(${target}_sm90a OBJECT "${hopper}/flux_wgmma.cu")
    set_target_properties(${target}_sm90a PROPERTIES
      CUDA_ARCHITECTURES OFF
      CUDA_STANDARD 17
      CUDA_STANDARD_REQUIRED ON
      CUDA_EXTENSIONS OFF
      CUDA_VISIBILITY_PRESET hidden
      POSITION_INDEPENDENT_CODE ON)
    target_compile_options(${target}_sm90a PRIVATE "-gencode=arch=compute_90a,code=sm_90a")
    target_include_directories(${target}_sm90a PRIVATE $<TARGET_PROPERTY:${target},INCLUDE_DIRECTORIES>)
    target_compile_definitions(${target}_sm90a PRIVATE $<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>)
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${target}_sm90a>)
    message(STATUS "Proteus Hopper kernel: built (sm_90a)")
  else()
    set_source_files_properties("${hopper}/flux_wgmma_unbuilt.cu" PROPERTIES LANGUAGE ${PROTEUS_GPU_LANGUAGE})
    target_sources(${target} PRIVATE "${hopper}/flux_wgmma_unbuilt.cu")
    message(STATUS "Proteus Hopper kernel: not built (needs CUDA 12 or newer with 90 among PROTEUS_CUDA_ARCHITECTURES)")
  endif()
  if(PROTEUS_GPU_LANGUAGE STREQUAL "CUDA")
    # The static runtime lets libproteus load where no NVIDIA driver is installed (then 0 devices).
    set_target_properties(${target} PROPERTIES
      CUDA_ARCHITECTURES "${PROTEUS_CUDA_ARCHITECTURES}"
      CUDA_RUNTIME_LIBRARY Static)
    target_link_libraries(${target} PRIVATE CUDA::cudart_static)
  else()
    # ROCm ships no static HIP runtime; libamdhip64 is linked as a shared library.
    set_target_properties(${target} PROPERTIES HIP_ARCHITECTURES "${PROTEUS_HIP_ARCHITECTURES}")
    target_link_libraries(${target} PRIVATE hip-lang::host)
  endif()
endfunction()
