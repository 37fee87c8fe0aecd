/* Free loopback TCP ports for the daemons, NATS servers and clients that tests and benchmarks start. */
#ifndef SPX_FREE_PORTS_H
#define SPX_FREE_PORTS_H

#include <stddef.h>

/* Fills ports[0..n) with n distinct ports the kernel reports free on 127.0.0.1. All n sockets stay
 * bound until every port is chosen, so the kernel cannot hand out the same port twice (choosing them
 * one at a time, with each socket closed before the next bind, it did: a daemon was given the same
 * port for ingest and publish and refused to start). Another process may still take a port before
 * its user binds it; on loopback in a test run that has not been seen. Returns 0, or -errno. */
int spx_free_ports(int *ports, size_t n);

#endif
