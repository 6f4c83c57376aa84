// The "avx512" table of cpu_kernels.h (compile flags in src/CMakeLists.txt).
#define FORGE_KERNEL_NS avx512
#define FORGE_KERNEL_ISA "avx512"
#include "backend/cpu/cpu_kernels_impl.inc"
