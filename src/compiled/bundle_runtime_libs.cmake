# Copies the shared libraries forge links (and theirs) from the build machine into the SDK, so a
# folder written by forge compile builds and runs without their -dev packages: only the compiler,
# CMake and (cuda) the CUDA toolkit are needed. Those three are left out: the C and C++ runtimes
# come with the compiler, the CUDA libraries with the toolkit, the sanitizers' with GCC.
#   cmake -DEXE=path/to/forge -DSDK=build/<preset>/sdk -P bundle_runtime_libs.cmake
# Writes SDK/lib/<soname> (with the symlink chain to the real file) and SDK/shared_libs.cmake.
string(REPLACE ":" ";" ld_path "$ENV{LD_LIBRARY_PATH}")  # a private prefix, as on the GPU machine
file(GET_RUNTIME_DEPENDENCIES
  EXECUTABLES ${EXE}
  DIRECTORIES ${ld_path}
  RESOLVED_DEPENDENCIES_VAR libs
  UNRESOLVED_DEPENDENCIES_VAR missing
  PRE_EXCLUDE_REGEXES "^ld-linux" "^linux-vdso" "^lib(c|m|dl|rt|pthread|util|resolv|gcc_s|stdc\\+\\+|atomic)\\.so"
                      "^lib(asan|ubsan|lsan|tsan)\\.so" "^lib(cuda|cudart|cublas|cublasLt|nvrtc|nvJitLink)\\.so")
if(missing)
  message(FATAL_ERROR "forge's runtime libraries not found: ${missing}")
endif()
file(MAKE_DIRECTORY ${SDK}/lib)
set(list "# Written by forge's build (bundle_runtime_libs.cmake): the shared libraries in lib/.\nset(FORGE_SDK_SHARED_LIBS")
foreach(lib IN LISTS libs)
  file(COPY ${lib} DESTINATION ${SDK}/lib FOLLOW_SYMLINK_CHAIN)
  get_filename_component(name ${lib} NAME)
  string(APPEND list "\n  \${FORGE_SDK_DIR}/lib/${name}")
endforeach()
file(WRITE ${SDK}/shared_libs.cmake "${list})\n")
