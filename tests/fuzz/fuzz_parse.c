/*
 * fuzz_parse.c: libFuzzer target for the job-file and daemon-file parsers
 * (and, through them, durations, sizes and URL globs).  Any input must
 * parse or fail with errors, never crash, hang or leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fetchd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct daemonconf	 dc;
	struct jobfile		 jf;
	struct errlist		 errs;
	char			*buf;

	buf = xmalloc(len + 1);
	memcpy(buf, data, len);
	buf[len] = '\0';
	daemonconf_defaults(&dc);
	dc.max_urls = 1000000;
	memset(&jf, 0, sizeof(jf));
	memset(&errs, 0, sizeof(errs));
	if (parse_jobs("/fuzz/jobs.conf", buf, len, &dc, &jf, &errs) == 0) {
		jobfile_free(&jf);
	}
	errlist_free(&errs);
	memset(&errs, 0, sizeof(errs));
	parse_daemon("/fuzz/fetchd.conf", buf, len, &dc, &errs);
	errlist_free(&errs);
	daemonconf_free(&dc);
	free(buf);
	return (0);
}
