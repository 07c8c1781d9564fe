# The layout check (firmware/layout.cmake) must refuse tests/layout/upward/,
# a tree with one arrow pointing up of each kind, and name each one; and
# pass what is allowed there (own headers, headers below, cli's daemon.h).
#   cmake -DSRC=<project source dir> -P tests/layout/run.cmake
execute_process(COMMAND ${CMAKE_COMMAND} -DVG_LAYOUT_ROOT=${SRC}/tests/layout/upward
                        -P ${SRC}/firmware/layout.cmake
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(text "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the layout check passed a tree with arrows pointing up:\n${text}")
endif()
foreach(expect
    "firmware/core/pure.c: #include \"forward.h\" of firmware/daemon/"
    "firmware/store/store.c: #include \"cli.h\" of firmware/cli/"
    "drivers/ecr.c: #include \"../firmware/daemon/forward.h\": include by name, not by path"
    "firmware/cli/main.c: #include \"loop.h\" of firmware/daemon/")
  string(FIND "${text}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the layout check did not name: ${expect}\nIt said:\n${text}")
  endif()
endforeach()
foreach(allowed "\"err.h\"" "\"daemon.h\"" "\"cli.h\" of firmware/cli/: cli")
  string(FIND "${text}" "${allowed}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "the layout check refused what is allowed (${allowed}):\n${text}")
  endif()
endforeach()
message(STATUS "layout check: 4 arrows pointing up named, the allowed includes passed")
