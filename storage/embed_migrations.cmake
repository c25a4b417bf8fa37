# Writes OUTPUT, a C++ file defining NAME: the SQL migration files given in INPUTS (a |-list, in
# order) as string literals. Run at build time so that editing a .sql file rebuilds the store.
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "// Generated from storage/migrations by embed_migrations.cmake. Do not edit.\n")
string(APPEND body "#include <string_view>\n#include <vector>\nnamespace offsync::storage {\n")
string(APPEND body "extern const std::vector<std::string_view> ${NAME};\n")
string(APPEND body "const std::vector<std::string_view> ${NAME} = {\n")
foreach(f IN LISTS INPUTS)
  file(READ "${f}" sql)
  string(APPEND body "R\"offsync_sql(${sql})offsync_sql\",\n")
endforeach()
string(APPEND body "};\n}  // namespace offsync::storage\n")
file(WRITE "${OUTPUT}.tmp" "${body}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
