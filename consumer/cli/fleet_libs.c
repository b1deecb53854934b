/* SPDX-License-Identifier: MIT */
/* libcurl and libmicrohttpd loaded when asked for (fleet_libs.h). */
#define MS_FLEET_LIBS_IMPL
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <stdio.h>

#include "fleet_libs.h"

struct ms_curl_fns ms_curl;
struct ms_mhd_fns ms_mhd;

/* Opens the first of `names` that loads and fills `n` pointers of `fns`
 * from `syms`; 0, or -1 after one line on stderr. */
static int load(const char *what, const char *const *names,
		const char *const *syms, void **fns, size_t n)
{
	void *h = NULL;

	for (size_t i = 0; !h && names[i]; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr,
			"memscope consumer: %s needs %s, which cannot be "
			"loaded: %s\n",
			what, names[0], dlerror());
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		fns[i] = dlsym(h, syms[i]);
		if (!fns[i]) {
			fprintf(stderr, "memscope consumer: %s: %s has no %s\n",
				what, names[0], syms[i]);
			return -1;
		}
	}
	return 0;
}

int ms_fleet_load_curl(void)
{
	static const char *const names[] = {"libcurl.so.4", "libcurl.so", NULL};
	static const char *const syms[] = {
		"curl_global_init",  "curl_global_cleanup", "curl_easy_init",
		"curl_easy_cleanup", "curl_easy_reset",	    "curl_easy_setopt",
		"curl_easy_getinfo", "curl_easy_perform",   "curl_easy_escape",
		"curl_free",	     "curl_mime_init",	    "curl_mime_addpart",
		"curl_mime_name",    "curl_mime_filename",  "curl_mime_type",
		"curl_mime_data",    "curl_mime_free"};
	_Static_assert(sizeof(syms) / sizeof(syms[0]) * sizeof(void *) ==
			       sizeof(ms_curl),
		       "one name per pointer");

	if (ms_curl.curl_free)
		return 0;
	return load("--push", names, syms, (void **)&ms_curl,
		    sizeof(syms) / sizeof(syms[0]));
}

int ms_fleet_load_mhd(void)
{
	static const char *const names[] = {"libmicrohttpd.so.12",
					    "libmicrohttpd.so", NULL};
	static const char *const syms[] = {
		"MHD_start_daemon",	   "MHD_stop_daemon",
		"MHD_get_daemon_info",	   "MHD_create_response_from_buffer",
		"MHD_add_response_header", "MHD_queue_response",
		"MHD_destroy_response"};
	_Static_assert(sizeof(syms) / sizeof(syms[0]) * sizeof(void *) ==
			       sizeof(ms_mhd),
		       "one name per pointer");

	if (ms_mhd.MHD_destroy_response)
		return 0;
	return load("--metrics", names, syms, (void **)&ms_mhd,
		    sizeof(syms) / sizeof(syms[0]));
}
