/* vforkexec.c - vfork()s; the child execs argv[1] with argument "2"; the parent waits */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    const char *prog = (argc > 1) ? argv[1] : "./loop";
    pid_t pid;
    int status = 0;
    printf("vforkexec: parent pid=%d\n", (int)getpid());
    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        execl(prog, prog, "2", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    printf("vforkexec: child %d exited status=%d\n", (int)pid, WEXITSTATUS(status));
    return 0;
}
