/* dlmain.c - loads the shared library argv[1] (libfoo.c built with -shared)
 * with dlopen() and calls its foo_square() 3 times, so a breakpoint on
 * foo_square can only be resolved once the library is loaded.  Build with
 * -ldl on old glibc. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    void *h;
    int (*sq)(int);
    int i, s = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: dlmain LIB\n");
        return 2;
    }
    h = dlopen(argv[1], RTLD_NOW);
    if (h == NULL) {
        fprintf(stderr, "dlmain: %s\n", dlerror());
        return 2;
    }
    sq = (int (*)(int))dlsym(h, "foo_square");
    if (sq == NULL) {
        fprintf(stderr, "dlmain: %s\n", dlerror());
        return 2;
    }
    for (i = 0; i < 3; i++)
        s += sq(i + 1);   /* @mark:call */
    printf("dlmain: s=%d\n", s);
    dlclose(h);
    return 0;
}
