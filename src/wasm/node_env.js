// Runs first in the Node-run test module: gives the program the process's environment
// (FORGE_SHARED, FORGE_CPU_ISA), which emscripten otherwise replaces with its own defaults.
Module.preRun = Module.preRun || [];
Module.preRun.push(() => Object.assign(ENV, process.env));
