/* SPDX-License-Identifier: MIT */
/* libcurl and libmicrohttpd loaded when asked for (fleet_libs.h). */
#define MS_FLEET_LIBS_IMPL
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <microhttpd.h>

#include "dynload.h"
#include "fleet_libs.h"

struct ms_curl_fns ms_curl;
struct ms_mhd_fns ms_mhd;

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
	return ms_dynload("--push", names, syms, (void **)&ms_curl,
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
	return ms_dynload("--metrics", names, syms, (void **)&ms_mhd,
			  sizeof(syms) / sizeof(syms[0]));
}
