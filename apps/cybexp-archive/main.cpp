// cybexp-archive: a shim; everything lives in the library (src/cli).
#include "cli/cli.h"

int main(int argc, char** argv) { return cybexp::run_cli(argc, argv); }
