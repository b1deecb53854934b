/* SPDX-License-Identifier: MIT */
/* The weights of `memscope export --weight` (export.h). */
#include <errno.h>
#include <string.h>

#include "atomics.h"
#include "export.h"
#include "report.h"

static const char *const names[] = {
	[MS_XW_BYTES] = "bytes",	 [MS_XW_COUNT] = "count",
	[MS_XW_LEAKED] = "leaked",	 [MS_XW_PEAK] = "peak",
	[MS_XW_TEMPORARY] = "temporary",
};

int ms_export_weight_parse(const char *s, enum ms_export_weight *w)
{
	for (size_t i = 0; i < MS_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i])) {
			*w = (enum ms_export_weight)i;
			return 0;
		}
	return -EINVAL;
}

const char *ms_export_weight_name(enum ms_export_weight w)
{
	return (size_t)w < MS_ARRAY_SIZE(names) ? names[w] : "?";
}

int ms_export_weight_is_bytes(enum ms_export_weight w)
{
	return w == MS_XW_BYTES || w == MS_XW_LEAKED || w == MS_XW_PEAK;
}

uint64_t ms_export_weight_of(const struct ms_split_cell *c,
			     enum ms_export_weight w)
{
	switch (w) {
	case MS_XW_BYTES:
		return c->bytes;
	case MS_XW_COUNT:
		return ms_q16_count(c->allocs_q16);
	case MS_XW_LEAKED:
		return c->leaked;
	case MS_XW_PEAK:
		return c->peak;
	case MS_XW_TEMPORARY:
		return ms_q16_count(c->temp_q16);
	}
	return 0;
}
