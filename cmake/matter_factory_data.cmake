# matter-factory-data: Matter factory data generated and merged at build time.
#
#   include(<repo>/cmake/matter_factory_data.cmake)
#   matter_factory_data_generate(
#       [CONFIG <.config or prj.conf>]        # default: ${DOTCONFIG}, else ${CMAKE_BINARY_DIR}/zephyr/.config
#       [OFFSET <addr> SIZE <bytes>]          # explicit partition; else the Partition Manager's
#                                             # PM_FACTORY_DATA_ADDRESS/_SIZE, else PM_STATIC, else devicetree
#       [PM_STATIC <pm_static.yml>]           # read factory_data's address and size from a static layout
#       [OUTPUT_DIR <dir>]                    # default: ${CMAKE_BINARY_DIR}/zephyr
#       [FIRMWARE_HEX <file> FIRMWARE_TARGET <target>]   # what to merge with (default: Zephyr's zephyr.hex)
#       [MERGE | NO_MERGE]                    # default: CONFIG_MATTER_FACTORY_DATA_MERGE_WITH_FIRMWARE (y)
#       [PYTHON <python>] [EXTRA_ARGS <args>...] [DEPENDS <files>...])
#
# Declares one custom command whose outputs are every generated file and whose dependencies are the
# configuration, the certificate/key files it names, the layout file and the tool itself (a second build
# is a no-op; a changed input regenerates), the ALL target `matter_factory_data`, and either
#   * with the Partition Manager: the GLOBAL properties factory_data_PM_HEX_FILE / factory_data_PM_TARGET,
#     so the Partition Manager merges factory_data.hex into merged.hex, or
#   * without it: matter_factory_data_merged.hex (firmware + factory data, an overlap fails the build),
#     target `matter_factory_data_merged`, and runners_yaml_props_target's hex_file pointing at it; with
#     CONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK also matter_factory_data_merged.bin (from the start of flash,
#     gaps 0xFF) as the runners' bin_file, which Telink's west flash writes.
# With CONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK the partition is the devicetree node label factory_partition
# and the image has Telink's layout.
# All logic beyond collecting inputs lives in the Python tool (`matter-factory-data json --from_config`).

include_guard(GLOBAL)

# Cached so functions called from other directory scopes (the sysbuild hook runs from the sysbuild top
# level, this file is included from a subdirectory) still find the tool.
get_filename_component(mfd_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(MATTER_FACTORY_DATA_ROOT "${mfd_root}" CACHE INTERNAL "matter-factory-data module root")
set(MATTER_FACTORY_DATA_SCRIPTS "${mfd_root}/scripts" CACHE INTERNAL "matter-factory-data scripts")

# ---------------------------------------------------------------- pure helpers (cmake -P)

# Read a Kconfig .config the way Zephyr's import_kconfig does: every PREFIX* line becomes a variable in
# the caller's scope, quotes stripped, "# CONFIG_X is not set" -> n. The names are returned in OUT_KEYS.
function(matter_factory_data_import_config prefix file)
  cmake_parse_arguments(ARG "" "OUT_KEYS" "" ${ARGN})
  file(STRINGS "${file}" lines ENCODING UTF-8)
  set(keys)
  foreach(line IN LISTS lines)
    if(line MATCHES "^(${prefix}[^=]+)=(.*)$")
      set(name "${CMAKE_MATCH_1}")
      set(value "${CMAKE_MATCH_2}")
      if(value MATCHES "^\"(.*)\"$")
        set(value "${CMAKE_MATCH_1}")
        string(REPLACE "\\\"" "\"" value "${value}")
        string(REPLACE "\\\\" "\\" value "${value}")
      endif()
      set(${name} "${value}" PARENT_SCOPE)
      list(APPEND keys "${name}")
    elseif(line MATCHES "^# (${prefix}[^ ]+) is not set$")
      set(${CMAKE_MATCH_1} "n" PARENT_SCOPE)
      list(APPEND keys "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(ARG_OUT_KEYS)
    set(${ARG_OUT_KEYS} "${keys}" PARENT_SCOPE)
  endif()
endfunction()

# Fail configuration when the nRF Connect SDK's own generation is also on.
function(matter_factory_data_check_conflicts)
  foreach(sym CONFIG_CHIP_FACTORY_DATA_BUILD SB_CONFIG_MATTER_FACTORY_DATA_GENERATE)
    if("${${sym}}" STREQUAL "y")
      message(FATAL_ERROR
        "matter-factory-data: ${sym}=y and CONFIG_MATTER_FACTORY_DATA=y both generate factory data. "
        "Turn one off (e.g. ${sym}=n to let matter-factory-data generate it).")
    endif()
  endforeach()
endfunction()

# The Python interpreter that runs the tool.
function(matter_factory_data_python out)
  if(MATTER_FACTORY_DATA_PYTHON)
    set(py "${MATTER_FACTORY_DATA_PYTHON}")
  elseif(Python3_EXECUTABLE)
    set(py "${Python3_EXECUTABLE}")
  elseif(PYTHON_EXECUTABLE)
    set(py "${PYTHON_EXECUTABLE}")
  else()
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
    set(py "${Python3_EXECUTABLE}")
  endif()
  set(${out} "${py}" PARENT_SCOPE)
endfunction()

# ---------------------------------------------------------------- the build step

function(matter_factory_data_generate)
  cmake_parse_arguments(MFD "MERGE;NO_MERGE"
    "CONFIG;OFFSET;SIZE;PM_STATIC;OUTPUT_DIR;FIRMWARE_HEX;FIRMWARE_TARGET;PYTHON"
    "EXTRA_ARGS;DEPENDS" ${ARGN})

  # configuration
  if(NOT MFD_CONFIG)
    if(DOTCONFIG)
      set(MFD_CONFIG "${DOTCONFIG}")
    else()
      set(MFD_CONFIG "${CMAKE_BINARY_DIR}/zephyr/.config")
    endif()
  endif()
  get_filename_component(MFD_CONFIG "${MFD_CONFIG}" ABSOLUTE)
  if(NOT EXISTS "${MFD_CONFIG}")
    message(FATAL_ERROR "matter-factory-data: configuration file ${MFD_CONFIG} does not exist")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${MFD_CONFIG}")
  matter_factory_data_import_config("CONFIG_" "${MFD_CONFIG}")
  if(DEFINED CONFIG_MATTER_FACTORY_DATA AND NOT CONFIG_MATTER_FACTORY_DATA STREQUAL "y")
    message(STATUS "matter-factory-data: CONFIG_MATTER_FACTORY_DATA is off in ${MFD_CONFIG}; no factory data")
    return()
  endif()
  matter_factory_data_check_conflicts()

  if(MFD_PYTHON)
    set(py "${MFD_PYTHON}")
  else()
    matter_factory_data_python(py)
  endif()
  set(tool ${CMAKE_COMMAND} -E env "PYTHONPATH=${MATTER_FACTORY_DATA_SCRIPTS}" ${py} -m matter_factory_data)

  if(NOT MFD_OUTPUT_DIR)
    set(MFD_OUTPUT_DIR "${CMAKE_BINARY_DIR}/zephyr")
  endif()
  get_filename_component(MFD_OUTPUT_DIR "${MFD_OUTPUT_DIR}" ABSOLUTE)
  set(prefix "${MFD_OUTPUT_DIR}/factory_data")

  set(telink FALSE)
  if(CONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK STREQUAL "y")
    set(telink TRUE)
  endif()

  # partition: explicit, Partition Manager, static layout, devicetree (never PM_FACTORY_DATA_OFFSET as size)
  set(layout_file)
  set(use_pm FALSE)
  if(DEFINED MFD_OFFSET OR DEFINED MFD_SIZE)
    if(NOT DEFINED MFD_OFFSET OR "${MFD_OFFSET}" STREQUAL "" OR NOT DEFINED MFD_SIZE OR "${MFD_SIZE}" STREQUAL "")
      message(FATAL_ERROR "matter-factory-data: give both OFFSET and SIZE")
    endif()
    set(offset "${MFD_OFFSET}")
    set(size "${MFD_SIZE}")
  elseif(TARGET partition_manager)
    set(offset "$<TARGET_PROPERTY:partition_manager,PM_FACTORY_DATA_ADDRESS>")
    set(size "$<TARGET_PROPERTY:partition_manager,PM_FACTORY_DATA_SIZE>")
    set(use_pm TRUE)
  elseif(MFD_PM_STATIC OR EXISTS "${APPLICATION_SOURCE_DIR}/pm_static.yml")
    if(NOT MFD_PM_STATIC)
      set(MFD_PM_STATIC "${APPLICATION_SOURCE_DIR}/pm_static.yml")
    endif()
    get_filename_component(layout_file "${MFD_PM_STATIC}" ABSOLUTE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${layout_file}")
    execute_process(
      COMMAND ${tool} layout check "${layout_file}" --config "${MFD_CONFIG}" --print_partition factory_data
      OUTPUT_VARIABLE part ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      string(STRIP "${err}" err)
      message(FATAL_ERROR "matter-factory-data: ${err}")
    endif()
    separate_arguments(part UNIX_COMMAND "${part}")
    list(GET part 0 offset)
    list(GET part 1 size)
  elseif(COMMAND dt_nodelabel)
    set(fd_label "factory_data_partition")
    if(telink)
      set(fd_label "factory_partition")  # the Telink boards' name
    endif()
    dt_nodelabel(fd_node NODELABEL "${fd_label}")
    if(NOT fd_node AND COMMAND dt_alias)
      dt_alias(fd_node PROPERTY "factory-data")
    endif()
    if(NOT fd_node)
      message(FATAL_ERROR "matter-factory-data: no factory data partition: no Partition Manager, no pm_static.yml, "
                          "no devicetree node label '${fd_label}'; pass OFFSET and SIZE")
    endif()
    dt_reg_addr(offset PATH "${fd_node}")
    dt_reg_size(size PATH "${fd_node}")
  else()
    message(FATAL_ERROR "matter-factory-data: where is the factory_data partition? Pass OFFSET and SIZE, "
                        "PM_STATIC <pm_static.yml>, or build with the Partition Manager")
  endif()

  # inputs named by the configuration; user paths may contain CMake variables
  set(input_args)
  set(input_files)
  if(CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_USER STREQUAL "y")
    foreach(pair "DAC_CERT;--dac_cert" "DAC_KEY;--dac_key" "PAI_CERT;--pai_cert")
      list(GET pair 0 sym)
      list(GET pair 1 opt)
      string(CONFIGURE "${CONFIG_MATTER_FACTORY_DATA_USER_CERTS_${sym}}" path)
      if(path)
        get_filename_component(path "${path}" ABSOLUTE BASE_DIR "${APPLICATION_SOURCE_DIR}")
        list(APPEND input_args ${opt} "${path}")
        list(APPEND input_files "${path}")
      endif()
    endforeach()
  endif()
  foreach(pair "PAA_CERT;--paa_cert" "PAA_KEY;--paa_key" "CD_SIGNING_CERT;--cd_signing_cert" "CD_SIGNING_KEY;--cd_signing_key"
               "CD_FILE;--cd")
    list(GET pair 0 sym)
    list(GET pair 1 opt)
    if(CONFIG_MATTER_FACTORY_DATA_${sym})
      string(CONFIGURE "${CONFIG_MATTER_FACTORY_DATA_${sym}}" path)
      get_filename_component(path "${path}" ABSOLUTE BASE_DIR "${APPLICATION_SOURCE_DIR}")
      list(APPEND input_args ${opt} "${path}")
      list(APPEND input_files "${path}")
    endif()
  endforeach()
  set(env_args)
  if(CHIP_ROOT)
    list(APPEND env_args "CHIP_ROOT=${CHIP_ROOT}")
  elseif(ZEPHYR_CONNECTEDHOMEIP_MODULE_DIR)
    list(APPEND env_args "CHIP_ROOT=${ZEPHYR_CONNECTEDHOMEIP_MODULE_DIR}")
  endif()

  # outputs
  set(outputs "${prefix}.json" "${prefix}.hex" "${prefix}.bin")
  if(NOT CONFIG_MATTER_FACTORY_DATA_GENERATE_ONBOARDING_CODES STREQUAL "n")
    list(APPEND outputs "${prefix}.txt" "${prefix}.png")
  endif()
  if(CONFIG_MATTER_FACTORY_DATA_GENERATE_CD STREQUAL "y")
    list(APPEND outputs "${MFD_OUTPUT_DIR}/CD.der")
  endif()

  file(GLOB_RECURSE tool_files
    "${MATTER_FACTORY_DATA_SCRIPTS}/matter_factory_data/*.py"
    "${MATTER_FACTORY_DATA_SCRIPTS}/matter_factory_data/data/*.schema")
  list(APPEND tool_files "${MATTER_FACTORY_DATA_ROOT}/kconfig/Kconfig")

  file(MAKE_DIRECTORY "${MFD_OUTPUT_DIR}")
  set(launcher)
  if(env_args)
    set(launcher ${CMAKE_COMMAND} -E env ${env_args})
  endif()
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${launcher} ${py} "${MATTER_FACTORY_DATA_SCRIPTS}/generate_factory_data.py"
            --from_config "${MFD_CONFIG}" -o "${prefix}" --offset "${offset}" --size "${size}" --overwrite
            ${input_args} ${MFD_EXTRA_ARGS}
    DEPENDS "${MFD_CONFIG}" ${tool_files} ${input_files} ${layout_file} ${MFD_DEPENDS}
    COMMENT "Generating Matter factory data in ${MFD_OUTPUT_DIR}"
    VERBATIM)
  add_custom_target(matter_factory_data ALL DEPENDS ${outputs})
  set(MATTER_FACTORY_DATA_HEX "${prefix}.hex" PARENT_SCOPE)

  # merging
  set(merge TRUE)
  if(MFD_NO_MERGE OR (CONFIG_MATTER_FACTORY_DATA_MERGE_WITH_FIRMWARE STREQUAL "n" AND NOT MFD_MERGE))
    set(merge FALSE)
  endif()
  if(NOT merge)
    return()
  endif()
  if(use_pm AND NOT telink)
    set_property(GLOBAL PROPERTY factory_data_PM_HEX_FILE "${prefix}.hex")
    set_property(GLOBAL PROPERTY factory_data_PM_TARGET matter_factory_data)
    return()
  endif()
  if(NOT MFD_FIRMWARE_HEX)
    if(KERNEL_HEX_NAME AND ZEPHYR_BINARY_DIR)
      set(MFD_FIRMWARE_HEX "${ZEPHYR_BINARY_DIR}/${KERNEL_HEX_NAME}")
    else()
      set(MFD_FIRMWARE_HEX "${CMAKE_BINARY_DIR}/zephyr/zephyr.hex")
    endif()
  endif()
  if(NOT MFD_FIRMWARE_TARGET AND TARGET zephyr_final)
    set(MFD_FIRMWARE_TARGET zephyr_final)
  endif()
  get_filename_component(MFD_FIRMWARE_HEX "${MFD_FIRMWARE_HEX}" ABSOLUTE)
  set(merged "${MFD_OUTPUT_DIR}/matter_factory_data_merged.hex")
  if(telink)
    # Telink: the partition address is flash-relative (as Telink's own factory_data.hex); the firmware's HEX
    # is at CONFIG_FLASH_BASE_ADDRESS. west flash (spi_burn) writes a .bin from the start of flash.
    set(base 0)
    if(CONFIG_FLASH_BASE_ADDRESS)
      set(base "${CONFIG_FLASH_BASE_ADDRESS}")
    endif()
    math(EXPR at "${base} + ${offset}" OUTPUT_FORMAT HEXADECIMAL)
    set(merged_bin "${MFD_OUTPUT_DIR}/matter_factory_data_merged.bin")
    set(merge_inputs "${MFD_FIRMWARE_HEX}" "${prefix}.bin@${at}")
    set(merge_outputs "${merged}" "${merged_bin}")
    set(merge_extra --bin "${merged_bin}")
  else()
    set(merge_inputs "${MFD_FIRMWARE_HEX}" "${prefix}.hex")
    set(merge_outputs "${merged}")
    set(merge_extra)
  endif()
  add_custom_command(
    OUTPUT ${merge_outputs}
    COMMAND ${py} "${MATTER_FACTORY_DATA_SCRIPTS}/merge_hex.py" --overwrite -o "${merged}" ${merge_extra} ${merge_inputs}
    DEPENDS "${MFD_FIRMWARE_HEX}" "${prefix}.hex" "${prefix}.bin" matter_factory_data ${MFD_FIRMWARE_TARGET}
    COMMENT "Merging the firmware and Matter factory data into ${merged}"
    VERBATIM)
  add_custom_target(matter_factory_data_merged ALL DEPENDS ${merge_outputs})
  if(TARGET runners_yaml_props_target)
    set_property(TARGET runners_yaml_props_target PROPERTY hex_file "${merged}")
    if(telink)
      set_property(TARGET runners_yaml_props_target PROPERTY bin_file "${merged_bin}")
    endif()
  endif()
  if(telink)
    set(MATTER_FACTORY_DATA_MERGED_BIN "${merged_bin}" PARENT_SCOPE)
  endif()
  set(MATTER_FACTORY_DATA_MERGED_HEX "${merged}" PARENT_SCOPE)
endfunction()

# ---------------------------------------------------------------- sysbuild

# Called from the module's sysbuild post_cmake hook: the default image's CONFIG_MATTER_FACTORY_DATA, the
# Partition Manager's PM_FACTORY_DATA_ADDRESS/_SIZE (never _OFFSET as a size), outputs in the image's zephyr/.
function(matter_factory_data_sysbuild_post_cmake)
  if(NOT DEFAULT_IMAGE OR NOT COMMAND sysbuild_get)
    return()
  endif()
  sysbuild_get(mfd_enabled IMAGE ${DEFAULT_IMAGE} VAR CONFIG_MATTER_FACTORY_DATA KCONFIG)
  if(NOT mfd_enabled OR NOT SB_CONFIG_PARTITION_MANAGER OR NOT TARGET partition_manager)
    return()
  endif()
  sysbuild_get(mfd_binary_dir IMAGE ${DEFAULT_IMAGE} VAR APPLICATION_BINARY_DIR CACHE)
  if(NOT mfd_binary_dir)
    set(mfd_binary_dir "${CMAKE_BINARY_DIR}/${DEFAULT_IMAGE}")
  endif()
  matter_factory_data_generate(
    CONFIG "${mfd_binary_dir}/zephyr/.config"
    OUTPUT_DIR "${mfd_binary_dir}/zephyr"
    ${ARGN})
endfunction()
