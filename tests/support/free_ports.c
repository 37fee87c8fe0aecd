#include "free_ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int spx_free_ports(int *ports, size_t n)
{
    int fds[64];
    if (n > sizeof fds / sizeof fds[0])
        return -EINVAL;
    int rc = 0;
    size_t opened = 0;
    for (; opened < n; opened++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        fds[opened] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[opened] < 0) {
            rc = -errno;
            break;
        }
        if (bind(fds[opened], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[opened], (struct sockaddr *)&a, &len) != 0) {
            rc = -errno;
            close(fds[opened]);
            break;
        }
        ports[opened] = ntohs(a.sin_port);
    }
    for (size_t i = 0; i < opened; i++)
        close(fds[i]);
    return rc;
}
