# cmake --install build --prefix P:
#   P/bin/tessera                          the CLI (finds P/share/tessera relative to itself)
#   P/share/tessera/{configs,gpt2}         presets and the GPT-2 vocabulary; tinyshakespeare.txt and data/README.md
#   P/include/tessera, P/lib               headers and static libraries for code that embeds tessera
#   P/lib/cmake/tessera                    find_package(tessera) -> tessera::tessera
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# bin/ and share/tessera/ are fixed: the executable looks for ../share/tessera (src/core/share_dir.hpp)
set(TESSERA_INSTALL_SHARE share/tessera)
install(TARGETS tessera RUNTIME DESTINATION bin)
install(DIRECTORY configs/ DESTINATION ${TESSERA_INSTALL_SHARE}/configs FILES_MATCHING PATTERN "*.toml")
install(DIRECTORY data/gpt2/ DESTINATION ${TESSERA_INSTALL_SHARE}/gpt2)
install(FILES data/tinyshakespeare.txt data/README.md DESTINATION ${TESSERA_INSTALL_SHARE})

# the library: one umbrella target and its parts
add_library(tessera_library INTERFACE)
target_link_libraries(tessera_library INTERFACE tessera_train)
set_target_properties(tessera_library PROPERTIES EXPORT_NAME tessera)
set_target_properties(tessera_flags PROPERTIES EXPORT_NAME flags)
set_target_properties(tessera_core PROPERTIES EXPORT_NAME core)
set_target_properties(tessera_parallel PROPERTIES EXPORT_NAME parallel)
set_target_properties(tessera_io PROPERTIES EXPORT_NAME io)
set_target_properties(tessera_config PROPERTIES EXPORT_NAME config)
set_target_properties(tessera_checkpoint PROPERTIES EXPORT_NAME checkpoint)
set_target_properties(tessera_train PROPERTIES EXPORT_NAME train)
install(TARGETS tessera_library tessera_flags tessera_core tessera_parallel tessera_io tessera_config
        tessera_checkpoint tessera_train
        EXPORT tesseraTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY src/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tessera FILES_MATCHING PATTERN "*.hpp"
        PATTERN cli EXCLUDE PATTERN cmake EXCLUDE)
install(DIRECTORY io parallel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tessera FILES_MATCHING PATTERN "*.hpp")

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tessera)
install(EXPORT tesseraTargets NAMESPACE tessera:: DESTINATION ${config_dir})
configure_package_config_file(src/cmake/tesseraConfig.cmake.in ${CMAKE_BINARY_DIR}/tesseraConfig.cmake
                              INSTALL_DESTINATION ${config_dir} PATH_VARS TESSERA_INSTALL_SHARE)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/tesseraConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/tesseraConfig.cmake ${CMAKE_BINARY_DIR}/tesseraConfigVersion.cmake
        DESTINATION ${config_dir})
