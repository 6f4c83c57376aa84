// The "avx2" table of cpu_kernels.h (compile flags in src/CMakeLists.txt).
#define FORGE_KERNEL_NS avx2
#define FORGE_KERNEL_ISA "avx2"
#include "backend/cpu/cpu_kernels_impl.inc"
