/*
 * Regression test: destroying a context while another thread creates buffers on it must never leave
 * a live buffer behind. Each round, a thread creates buffers on a fresh context until a create fails,
 * while the main thread destroys the context; afterwards every handle the thread got must be invalid
 * and the failing create must have said the context is gone. Run under ThreadSanitizer in CI.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proteus/proteus.h"

enum { ROUNDS = 200, MAX_BUFFERS = 4096 };

struct Round {
    proteus_context context;
    volatile int started;
    proteus_buffer buffers[MAX_BUFFERS];
    int created;
    proteus_status last_status;
    char last_argument[PROTEUS_ARGUMENT_CAPACITY];
};

static void* create_until_refused(void* argument)
{
    struct Round* round = argument;
    __atomic_store_n(&round->started, 1, __ATOMIC_RELEASE);
    for (round->created = 0; round->created < MAX_BUFFERS; ++round->created) {
        proteus_buffer buffer = NULL;
        round->last_status = proteus_buffer_create(round->context, 256, &buffer);
        if (round->last_status != PROTEUS_STATUS_OK) {
            proteus_error_info info;
            memset(&info, 0, sizeof info);
            info.struct_size = sizeof info;
            proteus_last_error_info(&info);
            memcpy(round->last_argument, info.argument, sizeof info.argument);
            if (buffer != NULL) round->last_status = PROTEUS_STATUS_INTERNAL_ERROR; /* a refused create wrote a handle */
            break;
        }
        round->buffers[round->created] = buffer;
    }
    return NULL;
}

int main(void)
{
    static struct Round round;
    int failures = 0;
    int raced = 0;
    for (int r = 0; r < ROUNDS; ++r) {
        memset(&round, 0, sizeof round);
        if (proteus_context_create(PROTEUS_BACKEND_CPU, 0, &round.context) != PROTEUS_STATUS_OK) {
            fprintf(stderr, "round %d: context_create failed: %s\n", r, proteus_last_error_message());
            return 1;
        }
        pthread_t thread;
        if (pthread_create(&thread, NULL, create_until_refused, &round) != 0) return 1;
        while (!__atomic_load_n(&round.started, __ATOMIC_ACQUIRE)) {
        }
        for (volatile int spin = 0; spin < (r % 40) * 400; ++spin) {
        }
        if (proteus_context_destroy(round.context) != PROTEUS_STATUS_OK) {
            fprintf(stderr, "round %d: context_destroy failed: %s\n", r, proteus_last_error_message());
            ++failures;
        }
        pthread_join(thread, NULL);

        if (round.created < MAX_BUFFERS) {
            if (round.last_status != PROTEUS_STATUS_INVALID_HANDLE || strcmp(round.last_argument, "context") != 0) {
                fprintf(stderr, "round %d: the refused create returned %d naming '%s'\n", r, (int)round.last_status,
                        round.last_argument);
                ++failures;
            }
        }
        int live = 0;
        for (int n = 0; n < round.created; ++n) {
            uint64_t bytes = 0;
            if (proteus_buffer_size(round.buffers[n], &bytes) != PROTEUS_STATUS_INVALID_HANDLE) ++live;
        }
        if (live != 0) {
            fprintf(stderr, "round %d: %d buffer(s) outlived their destroyed context\n", r, live);
            ++failures;
        }
        raced += round.created > 0 && round.created < MAX_BUFFERS;
    }
    if (failures != 0) {
        fprintf(stderr, "%d failure(s) in %d rounds\n", failures, ROUNDS);
        return 1;
    }
    printf("the creating thread had buffers when the destroy came in %d of %d rounds; none outlived the context\n", raced,
           ROUNDS);
    return 0;
}
