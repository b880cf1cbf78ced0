# Runs `rolloutctl validate` over crd-schemas/examples and compares with the goldens in
# tests/schemas/golden byte for byte; also checks the documented exit codes.
# -DROLLOUTCTL=<binary> -DROOT=<repo> [-DUPDATE=1 rewrites the goldens]
set(golden_dir "${CMAKE_CURRENT_LIST_DIR}/golden")

function(run_validate expected_rc golden)
  execute_process(COMMAND "${ROLLOUTCTL}" validate ${ARGN}
                  WORKING_DIRECTORY "${ROOT}"
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc STREQUAL "${expected_rc}")
    message(FATAL_ERROR "rolloutctl validate ${ARGN}: exit ${rc}, want ${expected_rc}\n${out}${err}")
  endif()
  if(golden STREQUAL "")
    return()
  endif()
  if(UPDATE)
    file(WRITE "${golden_dir}/${golden}" "${out}")
    message(STATUS "updated ${golden}")
    return()
  endif()
  file(READ "${golden_dir}/${golden}" want)
  if(NOT out STREQUAL want)
    file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/${golden}.actual" "${out}")
    message(FATAL_ERROR "rolloutctl validate ${ARGN}: output differs from ${golden}; see "
                        "${CMAKE_CURRENT_BINARY_DIR}/${golden}.actual (diff it against the golden)")
  endif()
endfunction()

run_validate(1 validate_invalid.txt crd-schemas/examples/invalid)
run_validate(1 validate_invalid.json --output json crd-schemas/examples/invalid)
run_validate(0 validate_valid.txt crd-schemas/examples/valid)
run_validate(2 validate_missing.txt crd-schemas/examples/valid/hello.json no-such-file.json)
run_validate(2 "" --output yaml crd-schemas/examples/valid)
run_validate(2 "" --no-such-flag crd-schemas/examples/valid)
run_validate(2 "")
