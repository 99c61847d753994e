/* A plugin built for a plugin API version the broker does not speak: loading it must fail
 * with a clear error, never call into it. */
#include <stddef.h>
#include "sluice_plugin.h"

static const sluice_strategy_plugin_t plugin = {
    .api_version = 999,
    .name = "from-the-future",
    .summary = "test fixture",
    .create = NULL,
    .destroy = NULL,
    .place = NULL,
};

const sluice_strategy_plugin_t *sluice_strategy_plugin_v1(void) { return &plugin; }
