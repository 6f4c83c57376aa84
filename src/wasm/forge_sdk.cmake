# forgellm's runtime for the browser, which forge compile --target wasm copies next to the
# sources it generates (built by src/wasm/CMakeLists.txt): lib/libforge_wasm.a, include/ (forge's
# headers and the header-only libraries it uses) and web/ (the page and the worker script that
# forge.js ends with). Configure with emscripten's toolchain (emcmake cmake).
set(FORGE_SDK_DIR ${CMAKE_CURRENT_LIST_DIR})
set(FORGE_SDK_LIBS ${FORGE_SDK_DIR}/lib/libforge_wasm.a)
set(FORGE_SDK_COMPILE_OPTIONS -msimd128 -fexceptions)
# A Web Worker runs the module (the page stays responsive while it computes); memory grows as the
# weights need, up to WebAssembly's 4 GiB; the tokenizer file goes into the in-memory file system.
set(FORGE_SDK_LINK_OPTIONS -msimd128 -fexceptions -sENVIRONMENT=worker -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB
  -sFORCE_FILESYSTEM=1 -sEXPORTED_FUNCTIONS=_main,_malloc,_free -sEXPORTED_RUNTIME_METHODS=ccall,FS
  --post-js ${FORGE_SDK_DIR}/web/forge_web.js)
