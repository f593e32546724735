# Finds the pico-sdk, as the SDK's own external/pico_sdk_import.cmake does (that file, dropped in here instead,
# can also fetch the SDK from git): -DPICO_SDK_PATH=... or the PICO_SDK_PATH environment variable.
# include() it before project().
if(DEFINED ENV{PICO_SDK_PATH} AND NOT PICO_SDK_PATH)
  set(PICO_SDK_PATH $ENV{PICO_SDK_PATH})
endif()
set(PICO_SDK_PATH "${PICO_SDK_PATH}" CACHE PATH "Path to the Raspberry Pi Pico SDK (2.0 or newer: RP2350)")
if(NOT PICO_SDK_PATH)
  message(FATAL_ERROR "set -DPICO_SDK_PATH=... or the PICO_SDK_PATH environment variable (see README.md)")
endif()
get_filename_component(PICO_SDK_PATH "${PICO_SDK_PATH}" REALPATH BASE_DIR "${CMAKE_BINARY_DIR}")
if(NOT EXISTS ${PICO_SDK_PATH}/pico_sdk_init.cmake)
  message(FATAL_ERROR "PICO_SDK_PATH=${PICO_SDK_PATH} does not hold the pico-sdk (no pico_sdk_init.cmake)")
endif()
include(${PICO_SDK_PATH}/pico_sdk_init.cmake)
