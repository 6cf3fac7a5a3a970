/* execer.c: runs another program in its place: execer PROG [ARGS...].
 * The monitor queries must then describe PROG, not execer. */
#include <stdio.h>
#include <unistd.h>

int execer_marker;

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	execer_marker = 1;
	execv(argv[1], argv + 1); /* @mark:exec */
	perror("execv");
	return 1;
}
