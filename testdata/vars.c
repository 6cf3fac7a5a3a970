/* vars.c - locals of several types (int, long, float, double, char array,
 * struct, SSE vector) for print / set var, and small functions for
 * step / finish.  It prints the values at the end so tests can check that
 * writes made by the debugger reached the process. */
#include <stdio.h>

typedef float v4sf __attribute__((vector_size(16)));

struct point {
    int x;
    int y;
};

int global_counter = 7;

int square(int v)
{
    int r = v * v;   /* @mark:square-body */
    return r;
}

double scale(double v, int factor)
{
    double r = v * factor;
    return r;
}

int main(void)
{
    int x = 3;
    long big = 1234567890123L;
    float f = 1.5f;
    double d = 2.25;
    char name[16] = "gostub";
    struct point pt = {10, 20};
    v4sf vec = {1.0f, 2.0f, 3.0f, 4.0f};
    int sq;
    double sc;

    sq = square(x);   /* @mark:call-square */
    sc = scale(d, x); /* @mark:call-scale */
    global_counter += sq; /* @mark:after-calls */
    printf("vars: x=%d big=%ld f=%g d=%g name=%s pt=%d,%d vec=%g,%g,%g,%g sq=%d sc=%g global=%d\n",
           x, big, f, d, name, pt.x, pt.y, vec[0], vec[1], vec[2], vec[3], sq, sc,
           global_counter);
    return 0;
}
