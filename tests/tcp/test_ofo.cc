// (tests to be written)
#include "tcp/tcp_fixture.hh"
