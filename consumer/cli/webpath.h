/* SPDX-License-Identifier: MIT */
/*
 * Where the HTML report's assets are (report_html.h): $MEMSCOPE_WEB_DIR,
 * else next to the memscope program in the build tree (<bindir>/../web)
 * or in an installed prefix (<bindir>/../<datadir>/memscope/web), as
 * agentpath.h finds the agent.
 */
#ifndef MS_WEBPATH_H
#define MS_WEBPATH_H

#include <stddef.h>

/*
 * Fills `buf` with the first of those directories that holds every
 * asset. Returns 0, or -ENOENT after one line on stderr saying what is
 * missing and how to get it.
 */
int ms_web_dir(char *buf, size_t len);

#endif
