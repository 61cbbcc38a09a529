/*
 * fuzz_glob.c: libFuzzer target for the URL glob compiler and expander
 * (daemon/glob.c).  The first byte picks the max-urls bound (1..2^k), the
 * rest is the pattern.  A pattern must compile or fail with a cause, never
 * crash; a compiled glob must respect the bound, and expanding any index
 * (the first, the last, a few in between and one past the end) must be
 * deterministic, bounded in length, and empty past the end.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetchd.h"

#define FUZZ_SAMPLES	16

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Expand index i twice: the same bytes each time, and not absurdly long. */
static void
check_index(const struct glob *g, uint64_t i, size_t patlen)
{
	struct buf	 a, b;

	buf_init(&a);
	buf_init(&b);
	glob_expand(g, i, &a);
	glob_expand(g, i, &b);
	if (a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
		abort();
	/* A part never grows past 18 digits of padding plus its pattern. */
	if (a.len > patlen * 19 + 64)
		abort();
	buf_free(&a);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct glob	*g;
	struct buf	 out;
	uint64_t	 max, n, i, k;
	char		*pat, *cause = NULL;

	if (len == 0)
		return (0);
	/* 0: no bound but the 64-bit one; else 2^(byte % 40). */
	max = data[0] == 0 ? 0 : (uint64_t)1 << (data[0] % 40);
	data++;
	len--;
	pat = xmalloc(len + 1);
	memcpy(pat, data, len);
	pat[len] = '\0';
	if (glob_compile(pat, max, &g, &cause) == -1) {
		if (cause == NULL || *cause == '\0')
			abort();
		free(cause);
		free(pat);
		return (0);
	}
	n = glob_count(g);
	if (n == 0 || (max != 0 && n > max))
		abort();
	check_index(g, 0, strlen(pat));
	check_index(g, n - 1, strlen(pat));
	for (k = 1; k <= FUZZ_SAMPLES && k < n; k++) {
		i = (n / (FUZZ_SAMPLES + 1)) * k + k;
		if (i < n)
			check_index(g, i, strlen(pat));
	}
	/* Past the end: nothing at all. */
	buf_init(&out);
	glob_expand(g, n, &out);
	if (out.len != 0)
		abort();
	glob_expand(g, UINT64_MAX, &out);
	if (out.len != 0)
		abort();
	buf_free(&out);
	glob_free(g);
	free(pat);
	return (0);
}
