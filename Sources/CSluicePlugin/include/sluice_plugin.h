/*
 * Sluice external routing-strategy plugins: the C entry point (plugin API version 1).
 *
 * A plugin is a shared library that exports one function:
 *
 *     const sluice_strategy_plugin_t *sluice_strategy_plugin_v1(void);
 *
 * The broker loads it with dlopen, checks `api_version` against SLUICE_PLUGIN_API_VERSION and
 * registers the strategy under `name`. Calls never overlap. While the broker runs, every call
 * happens on its loop thread (strategy swaps are made there too); before the loop starts,
 * create and destroy may be called once on the thread that checks the configuration. See
 * docs/ROUTING.md ("As an external plugin (a shared library)").
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_PLUGIN_API_VERSION 1u
#define SLUICE_PLUGIN_ENTRY_POINT "sluice_strategy_plugin_v1"

/* Invoker health, as in docs/PROTOCOL.md section 5. */
enum {
    SLUICE_HEALTH_HEALTHY = 0,
    SLUICE_HEALTH_UNHEALTHY = 1,
    SLUICE_HEALTH_UNRESPONSIVE = 2,
    SLUICE_HEALTH_PROBING = 3
};

/* One registered invoker, as seen for one request. Strings are owned by the broker and valid
 * only during the call. */
typedef struct {
    const char *id;
    int32_t position;
    uint32_t memory_mb;
    uint32_t slots;
    uint32_t free_memory_mb;
    uint32_t free_slots;
    int32_t in_flight;
    int32_t health;
    /* 1 if the invoker may take this request now (every rule of section 6.1, room included). */
    int32_t eligible;
    /* 1 if it passes every rule except room (a forced placement is allowed). */
    int32_t allowed;
    /* Warm containers this invoker reported for the request's action. */
    int32_t warm_idle;
    int32_t warm_total;
} sluice_invoker_t;

/* The routing header of one activation (docs/PROTOCOL.md section 4.6). */
typedef struct {
    const char *activation_id;
    const char *namespace_name;
    const char *action;
    uint32_t memory_mb;
    uint32_t time_limit_ms;
    int32_t blocking;
    int32_t blackbox;
} sluice_request_t;

enum {
    SLUICE_DECISION_PLACE = 0,  /* `position` must be eligible */
    SLUICE_DECISION_FORCE = 1,  /* `position` must be allowed; over-commits it */
    SLUICE_DECISION_WAIT = 2,
    SLUICE_DECISION_REJECT = 3  /* `reason` says why */
};

typedef struct {
    int32_t kind;
    int32_t position;
    char reason[256];
} sluice_decision_t;

typedef struct {
    /* Must be SLUICE_PLUGIN_API_VERSION. */
    uint32_t api_version;
    /* The strategy's configuration name, e.g. "first-fit"; [a-z0-9-]+. */
    const char *name;
    /* One line for --help and errors. */
    const char *summary;
    /* Makes a strategy instance. `parameters` holds "key=value" lines from
     * routing.<name>.*; on a bad parameter return NULL and write a message naming the key
     * into `error` (at most `error_size` bytes, NUL-terminated). */
    void *(*create)(const char *parameters, char *error, int32_t error_size);
    void (*destroy)(void *strategy);
    /* Decides for `request` over `count` invokers (registered ones only, by position). */
    void (*place)(void *strategy, const sluice_request_t *request, const sluice_invoker_t *invokers, int32_t count,
                  sluice_decision_t *decision);
} sluice_strategy_plugin_t;

typedef const sluice_strategy_plugin_t *(*sluice_strategy_plugin_entry_t)(void);

#ifdef __cplusplus
}
#endif

#endif
