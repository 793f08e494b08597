# `cmake --build BUILD --target uninstall` (make uninstall): removes every
# file the last install wrote, as listed in install_manifest.txt (with the
# DESTDIR it was installed with), then the directories of the project's own
# that are left empty.
set(manifest "${CMAKE_CURRENT_BINARY_DIR}/install_manifest.txt")
if(NOT EXISTS "${manifest}")
  message(FATAL_ERROR "nothing to uninstall: no ${manifest} (run make install first)")
endif()
file(STRINGS "${manifest}" files)
set(dirs "")
foreach(f IN LISTS files)
  if(EXISTS "${f}" OR IS_SYMLINK "${f}")
    message(STATUS "Uninstalling: ${f}")
    file(REMOVE "${f}")
  endif()
  get_filename_component(d "${f}" DIRECTORY)
  list(APPEND dirs "${d}")
endforeach()
# Directories that only this project creates, deepest first.
list(REMOVE_DUPLICATES dirs)
list(SORT dirs ORDER DESCENDING)
foreach(d IN LISTS dirs)
  if(d MATCHES "/(ksmpart|cmake/ksmpart|ksmpart/uapi/linux|ksmpart/uapi)$")
    file(GLOB left "${d}/*")
    if(NOT left)
      file(REMOVE_RECURSE "${d}")
    endif()
  endif()
endforeach()
