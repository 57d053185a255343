/* Prints docs/CONFIGURATION.md from the property table. */
#include <stdio.h>

#include "kinesis/common.h"

int main(void) {
    kn_conf_properties_markdown(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}
