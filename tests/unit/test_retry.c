/*
 * test_retry.c: the pure retry decisions of retry.c: which failures retry-on
 * covers, idempotent methods, Retry-After in both forms, and exponential
 * backoff with full jitter capped by backoff-max.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fetchd.h"

static void
test_covers(void **state)
{
	assert_true(retry_covers(RETRY_ALL, FC_HTTP, 503));
	assert_true(retry_covers(RETRY_ALL, FC_HTTP, 429));
	assert_true(retry_covers(RETRY_ALL, FC_HTTP, 408));
	assert_false(retry_covers(RETRY_ALL, FC_HTTP, 404));
	assert_false(retry_covers(RETRY_ALL, FC_TOO_LARGE, 0));
	assert_false(retry_covers(RETRY_ALL, FC_BAD_BODY, 200));
	assert_true(retry_covers(RETRY_TIMEOUT, FC_STALL, 0));
	assert_false(retry_covers(RETRY_5XX, FC_TIMEOUT, 0));
	assert_true(retry_covers(RETRY_RESET, FC_RESET, 0));
	assert_false(retry_covers(RETRY_429, FC_HTTP, 503));
}

static void
test_idempotent(void **state)
{
	assert_true(retry_idempotent("GET"));
	assert_true(retry_idempotent("PUT"));
	assert_false(retry_idempotent("POST"));
	assert_false(retry_idempotent("PATCH"));
}

static void
test_retry_after(void **state)
{
	/* 2026-11-24 12:00:00 UTC */
	time_t	 now = 1795521600;

	assert_int_equal(retry_after_parse("", now), -1);
	assert_int_equal(retry_after_parse(NULL, now), -1);
	assert_int_equal(retry_after_parse("5", now), 5 * USEC_PER_SEC);
	assert_int_equal(retry_after_parse("5x", now), -1);
	assert_int_equal(retry_after_parse("Tue, 24 Nov 2026 12:00:30 GMT",
	    now), 30 * USEC_PER_SEC);
	assert_int_equal(retry_after_parse("Tue, 24 Nov 2026 11:00:00 GMT",
	    now), 0);
	assert_int_equal(retry_after_parse("yesterday", now), -1);
	/* Both forms are capped at a year (fuzz_headers found the date not). */
	assert_int_equal(retry_after_parse("99999999", now),
	    365LL * 86400 * USEC_PER_SEC);
	assert_int_equal(retry_after_parse("Sun, 18 Nov 9990 08:49:03 GMT",
	    now), 365LL * 86400 * USEC_PER_SEC);
}

static void
test_delay(void **state)
{
	struct jobdef	 d;

	memset(&d, 0, sizeof(d));
	d.backoff = 250 * USEC_PER_MSEC;
	d.backoff_max = 30 * USEC_PER_SEC;
	/* Full jitter: rnd scales the cap. */
	assert_int_equal(retry_delay(&d, 1, -1, 0.0), 0);
	assert_int_equal(retry_delay(&d, 1, -1, 0.5), 125 * USEC_PER_MSEC);
	assert_int_equal(retry_delay(&d, 3, -1, 0.5), 500 * USEC_PER_MSEC);
	/* The cap never exceeds backoff-max. */
	assert_int_equal(retry_delay(&d, 40, -1, 0.999999) <= d.backoff_max,
	    1);
	/* Retry-After lengthens, is capped, never shortens. */
	assert_int_equal(retry_delay(&d, 1, 2 * USEC_PER_SEC, 0.1),
	    2 * USEC_PER_SEC);
	assert_int_equal(retry_delay(&d, 1, 99 * USEC_PER_SEC, 0.1),
	    30 * USEC_PER_SEC);
	assert_int_equal(retry_delay(&d, 3, 1, 0.5), 500 * USEC_PER_MSEC);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_delay),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
