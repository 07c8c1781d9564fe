# venuegw — the rooms of DESIGN.md §10 and which way their arrows may point.
#
# Every #include "x.h" in a room's sources must name a header of the room
# itself or of a room below it:
#
#   cli/      may use daemon/ (its `run` entry only: daemon.h), store/, core/, drivers/
#   daemon/   may use store/, core/, drivers/
#   capture/  may use store/, core/
#   store/    may use core/
#   drivers/  may use core/
#   core/     nothing of ours
#
# An include of a header that lives in a room above (or beside) is an arrow
# pointing up: configuring fails and names each one.  Includes by path
# ("../daemon/x.h") are refused too, so the check cannot be walked around.
# Headers that are not ours (<stdio.h>, "cjson/cJSON.h") are not looked at.
#
# Included by the top-level CMakeLists.txt (the real tree), and run as a
# script by the test layout.upward_include_fails over tests/layout/upward/:
#   cmake -DVG_LAYOUT_ROOT=DIR -P firmware/layout.cmake

set(VG_ROOMS core drivers store capture daemon cli)
set(VG_ROOM_DIR_core firmware/core)
set(VG_ROOM_DIR_drivers drivers)
set(VG_ROOM_DIR_store firmware/store)
set(VG_ROOM_DIR_capture firmware/capture)
set(VG_ROOM_DIR_daemon firmware/daemon)
set(VG_ROOM_DIR_cli firmware/cli)
set(VG_ROOM_USES_core "")
set(VG_ROOM_USES_drivers core)
set(VG_ROOM_USES_store core)
set(VG_ROOM_USES_capture store core)
set(VG_ROOM_USES_daemon store core drivers)
set(VG_ROOM_USES_cli daemon store core drivers)
# What cli/ may include of daemon/: the entry of `venuegw run`.
set(VG_ROOM_ONLY_cli_daemon daemon.h)

function(vg_check_layout root)
  # Which room owns each header name.
  foreach(room ${VG_ROOMS})
    file(GLOB hdrs ${root}/${VG_ROOM_DIR_${room}}/*.h)
    set(names "")
    foreach(h ${hdrs})
      get_filename_component(n ${h} NAME)
      list(APPEND names ${n})
    endforeach()
    set(headers_${room} ${names})
  endforeach()

  set(problems "")
  set(nfiles 0)
  foreach(room ${VG_ROOMS})
    file(GLOB srcs ${root}/${VG_ROOM_DIR_${room}}/*.c ${root}/${VG_ROOM_DIR_${room}}/*.h)
    foreach(src ${srcs})
      math(EXPR nfiles "${nfiles} + 1")
      file(STRINGS ${src} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
      file(RELATIVE_PATH rel ${root} ${src})
      foreach(line ${lines})
        string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" inc "${line}")
        if(inc MATCHES "^\\.\\./|^firmware/|^drivers/")
          list(APPEND problems "${rel}: #include \"${inc}\": include by name, not by path")
          continue()
        endif()
        list(FIND headers_${room} ${inc} own)
        if(NOT own EQUAL -1)
          continue()
        endif()
        set(ok FALSE)
        foreach(below ${VG_ROOM_USES_${room}})
          list(FIND headers_${below} ${inc} found)
          if(NOT found EQUAL -1)
            if(DEFINED VG_ROOM_ONLY_${room}_${below})
              list(FIND VG_ROOM_ONLY_${room}_${below} ${inc} allowed)
              if(allowed EQUAL -1)
                continue()
              endif()
            endif()
            set(ok TRUE)
            break()
          endif()
        endforeach()
        if(ok)
          continue()
        endif()
        foreach(other ${VG_ROOMS})
          list(FIND headers_${other} ${inc} found)
          if(NOT found EQUAL -1)
            list(APPEND problems
                 "${rel}: #include \"${inc}\" of ${VG_ROOM_DIR_${other}}/: ${room}/ may use only its own headers and those of: ${VG_ROOM_USES_${room}}")
            break()
          endif()
        endforeach()
      endforeach()
    endforeach()
  endforeach()
  if(problems)
    list(JOIN problems "\n  " text)
    message(FATAL_ERROR "Layout (DESIGN.md §10): arrows pointing up:\n  ${text}")
  endif()
  message(STATUS "Layout (DESIGN.md §10): ${nfiles} files, every include points down")
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  if(NOT VG_LAYOUT_ROOT)
    message(FATAL_ERROR "usage: cmake -DVG_LAYOUT_ROOT=DIR -P firmware/layout.cmake")
  endif()
  vg_check_layout(${VG_LAYOUT_ROOT})
endif()
