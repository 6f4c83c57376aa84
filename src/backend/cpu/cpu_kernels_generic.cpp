// The "generic" table of cpu_kernels.h (compile flags in src/CMakeLists.txt).
#define FORGE_KERNEL_NS generic
#define FORGE_KERNEL_ISA "generic"
#include "backend/cpu/cpu_kernels_impl.inc"
