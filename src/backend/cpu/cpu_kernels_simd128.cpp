// The "simd128" table of cpu_kernels.h: WebAssembly builds with -msimd128. (The generic table,
// built with the same flag, keeps the scalar loops for the compiler to vectorise.)
#define FORGE_KERNEL_SIMD128 1
#define FORGE_KERNEL_NS simd128
#define FORGE_KERNEL_ISA "simd128"
#include "backend/cpu/cpu_kernels_impl.inc"
