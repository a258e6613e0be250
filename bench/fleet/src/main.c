#include <stdio.h>
#include <string.h>
#include "version.h"

static int add(int a, int b) { return a + b; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--self-test") == 0) {
        int ok = add(2, 3) == 5;
        printf("self-test %s (version %s)\n", ok ? "passed" : "FAILED", APP_VERSION);
        return ok ? 0 : 1;
    }
    printf("app %s\n", APP_VERSION);
    return 0;
}
