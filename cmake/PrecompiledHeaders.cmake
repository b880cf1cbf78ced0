# Precompiled headers. nlohmann/json, GoogleTest/GoogleMock and the standard library are
# most of what each translation unit parses; compiled once into a header image, every
# target reuses it instead of parsing them again in each of its files. Two images: one for
# the project's code and one for tests (the first plus gtest/gmock), since a target can
# reuse one image only. Targets with link options of their own (the static task shim) keep
# compiling without one. Off: -DROLLOUTS_PCH=OFF (a PCH that does not fit a target is
# ignored by GCC, which then reads the headers as usual, so it never changes what compiles).
option(ROLLOUTS_PCH "Precompile the standard library, nlohmann_json and GoogleTest headers" OFF)

set(rollouts_pch_headers
    <algorithm> <atomic> <chrono> <condition_variable> <cstdint> <filesystem> <fstream>
    <functional> <map> <memory> <mutex> <optional> <set> <sstream> <stdexcept> <string>
    <string_view> <thread> <variant> <vector> <nlohmann/json.hpp>)

# rollouts_collect_targets(OUT DIR): the C++ targets defined in DIR and below.
function(rollouts_collect_targets out dir)
  get_property(found DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(subdir ${subdirs})
    rollouts_collect_targets(below ${subdir})
    list(APPEND found ${below})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

function(rollouts_use_precompiled_headers)
  if(NOT ROLLOUTS_PCH)
    return()
  endif()
  add_library(rollouts_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
  target_link_libraries(rollouts_pch PRIVATE nlohmann_json::nlohmann_json)
  target_precompile_headers(rollouts_pch PRIVATE ${rollouts_pch_headers})
  add_library(rollouts_test_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
  target_link_libraries(rollouts_test_pch PRIVATE nlohmann_json::nlohmann_json GTest::gmock)
  target_precompile_headers(rollouts_test_pch PRIVATE ${rollouts_pch_headers}
                            <gtest/gtest.h> <gmock/gmock.h>)

  rollouts_collect_targets(targets ${PROJECT_SOURCE_DIR})
  foreach(target ${targets})
    get_target_property(type ${target} TYPE)
    get_target_property(link_options ${target} LINK_OPTIONS)
    if(target MATCHES "^rollouts_(test_)?pch$" OR link_options OR
       NOT type MATCHES "^(STATIC_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$")
      continue()
    endif()
    get_target_property(libraries ${target} LINK_LIBRARIES)
    if(libraries MATCHES "GTest::")
      target_precompile_headers(${target} REUSE_FROM rollouts_test_pch)
    else()
      target_precompile_headers(${target} REUSE_FROM rollouts_pch)
    endif()
  endforeach()
endfunction()
