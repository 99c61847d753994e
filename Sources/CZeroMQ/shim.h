#ifndef SLUICE_CZEROMQ_SHIM_H
#define SLUICE_CZEROMQ_SHIM_H
#include <zmq.h>
#include <sys/eventfd.h>
#include <unistd.h>
#endif
