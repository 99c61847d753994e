/* The plugin ABI is header-only; this file gives the C target a source. */
#include "sluice_plugin.h"
