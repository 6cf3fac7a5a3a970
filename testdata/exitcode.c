/* exitcode.c - exits with the code given as argv[1] (default 42). */
#include <stdlib.h>

int finish_with(int code)
{
    return code & 0xff;   /* @mark:finish-with */
}

int main(int argc, char **argv)
{
    int code = (argc > 1) ? atoi(argv[1]) : 42;
    return finish_with(code);
}
