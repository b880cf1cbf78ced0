#include "sandbox/nomad/nomad_agent.h"
