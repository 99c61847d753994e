/* Test fixture: a strategy plugin that checks the header's promise that the broker calls it on
 * its loop thread only (issue 13, item 13). The first `place` names the loop thread; any
 * create or destroy on another thread after that is counted, and so is a call that overlaps
 * another. The test reads the counts through sluice_thread_check_violations(). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "sluice_plugin.h"

static pthread_t loop_thread;
static atomic_int loop_known = 0;
static atomic_int violations = 0;
static atomic_int inside = 0;
static atomic_int creates = 0;

static void enter(int may_name_loop) {
    if (atomic_fetch_add(&inside, 1) != 0) atomic_fetch_add(&violations, 1);
    if (atomic_load(&loop_known)) {
        if (!pthread_equal(pthread_self(), loop_thread)) atomic_fetch_add(&violations, 1);
    } else if (may_name_loop) {
        loop_thread = pthread_self();
        atomic_store(&loop_known, 1);
    }
}

static void leave(void) { atomic_fetch_sub(&inside, 1); }

static void *create(const char *parameters, char *error, int32_t error_size) {
    (void)parameters; (void)error; (void)error_size;
    enter(0);
    atomic_fetch_add(&creates, 1);
    void *state = malloc(1);
    leave();
    return state;
}

static void destroy(void *strategy) {
    enter(0);
    free(strategy);
    leave();
}

static void place(void *strategy, const sluice_request_t *request, const sluice_invoker_t *invokers, int32_t count,
                  sluice_decision_t *decision) {
    (void)strategy; (void)request;
    enter(1);
    decision->kind = SLUICE_DECISION_WAIT;
    for (int32_t i = 0; i < count; i++) {
        if (invokers[i].eligible) {
            decision->kind = SLUICE_DECISION_PLACE;
            decision->position = invokers[i].position;
            break;
        }
    }
    leave();
}

static const sluice_strategy_plugin_t plugin = {
    .api_version = SLUICE_PLUGIN_API_VERSION,
    .name = "thread-check",
    .summary = "test fixture: counts calls off the loop thread",
    .create = create,
    .destroy = destroy,
    .place = place,
};

const sluice_strategy_plugin_t *sluice_strategy_plugin_v1(void) { return &plugin; }

int sluice_thread_check_violations(void) { return atomic_load(&violations); }
int sluice_thread_check_creates(void) { return atomic_load(&creates); }
