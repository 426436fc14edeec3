/* The "selftest" job kind: a scripted job that drives the effects layer
 * through real steps, used by the test suite to prove durable execution
 * (replay, crash recovery, in-flight sharing) on the real daemon. Enabled
 * with [server] selftest = yes. */
#ifndef RESEARCHD_SELFTEST_H
#define RESEARCHD_SELFTEST_H

struct daemon;

#define SELFTEST_MAX_STEPS 100

int selftest_register(struct daemon *d);
/* Free what selftest_register() allocated. */
void selftest_unregister(void);

#endif
