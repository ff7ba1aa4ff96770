# TEMPORARY, until src/stack/CMakeLists.txt exists: the user-range picker as a library of its
# own (the `exec --private-users=pick` flag links it) and its unit test. Included from the
# top-level CMakeLists.txt; the stack's own CMakeLists replaces this file.
add_library(burrow_stack_users STATIC ${CMAKE_CURRENT_LIST_DIR}/users.cc)
target_link_libraries(burrow_stack_users PUBLIC burrow_base)
if(BURROW_TESTS)
  burrow_test(stack_users_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/users_test.cc
              LIBS burrow_stack_users)
endif()
