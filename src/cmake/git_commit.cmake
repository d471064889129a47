# Run at every build (cmake -P): writes the source tree's git commit into OUT as TESSERA_GIT_COMMIT, touching OUT
# only when the commit changed, so an unchanged tree rebuilds nothing.  Usage: cmake -DSRC=dir -DOUT=file -P this
execute_process(COMMAND git -C "${SRC}" describe --always --dirty --abbrev=12
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")  # a source tree without git (a tarball)
endif()
file(WRITE "${OUT}.tmp" "#define TESSERA_GIT_COMMIT \"${commit}\"\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
