/* SPDX-License-Identifier: MIT */
/*
 * libcurl and libmicrohttpd, loaded with dlopen() only when --push or
 * --metrics asks for them. Linked, they and the libraries they pull in
 * (43 in all: TLS, Kerberos, LDAP, ...) cost every memscope command 14 ms
 * at start, `record` included (21.7 ms for `memscope --version`, 7-9 ms
 * without them).
 *
 * A fleet file includes <curl/curl.h> or <microhttpd.h> first, then this:
 * each function it calls becomes a call through the table below, filled
 * by ms_fleet_load_curl() / ms_fleet_load_mhd() with ms_dynload().
 */
#ifndef MS_FLEET_LIBS_H
#define MS_FLEET_LIBS_H

#include <stddef.h>

#ifdef CURLINC_CURL_H
struct ms_curl_fns {
	__typeof__(&curl_global_init) curl_global_init;
	__typeof__(&curl_global_cleanup) curl_global_cleanup;
	__typeof__(&curl_easy_init) curl_easy_init;
	__typeof__(&curl_easy_cleanup) curl_easy_cleanup;
	__typeof__(&curl_easy_reset) curl_easy_reset;
	__typeof__(&curl_easy_setopt) curl_easy_setopt;
	__typeof__(&curl_easy_getinfo) curl_easy_getinfo;
	__typeof__(&curl_easy_perform) curl_easy_perform;
	__typeof__(&curl_easy_escape) curl_easy_escape;
	__typeof__(&curl_free) curl_free;
	__typeof__(&curl_mime_init) curl_mime_init;
	__typeof__(&curl_mime_addpart) curl_mime_addpart;
	__typeof__(&curl_mime_name) curl_mime_name;
	__typeof__(&curl_mime_filename) curl_mime_filename;
	__typeof__(&curl_mime_type) curl_mime_type;
	__typeof__(&curl_mime_data) curl_mime_data;
	__typeof__(&curl_mime_free) curl_mime_free;
};
extern struct ms_curl_fns ms_curl;

/* 0, or -ENOENT with one line on stderr saying what is missing. */
int ms_fleet_load_curl(void);

#ifndef MS_FLEET_LIBS_IMPL
#define curl_global_init    (*ms_curl.curl_global_init)
#define curl_global_cleanup (*ms_curl.curl_global_cleanup)
#define curl_easy_init	    (*ms_curl.curl_easy_init)
#define curl_easy_cleanup   (*ms_curl.curl_easy_cleanup)
#define curl_easy_reset	    (*ms_curl.curl_easy_reset)
#undef curl_easy_setopt /* curl.h's own macros, typecheck or not */
#undef curl_easy_getinfo
#define curl_easy_setopt   (*ms_curl.curl_easy_setopt)
#define curl_easy_getinfo  (*ms_curl.curl_easy_getinfo)
#define curl_easy_perform  (*ms_curl.curl_easy_perform)
#define curl_easy_escape   (*ms_curl.curl_easy_escape)
#define curl_free	   (*ms_curl.curl_free)
#define curl_mime_init	   (*ms_curl.curl_mime_init)
#define curl_mime_addpart  (*ms_curl.curl_mime_addpart)
#define curl_mime_name	   (*ms_curl.curl_mime_name)
#define curl_mime_filename (*ms_curl.curl_mime_filename)
#define curl_mime_type	   (*ms_curl.curl_mime_type)
#define curl_mime_data	   (*ms_curl.curl_mime_data)
#define curl_mime_free	   (*ms_curl.curl_mime_free)
#endif
#endif

#ifdef MHD_VERSION
struct ms_mhd_fns {
	__typeof__(&MHD_start_daemon) MHD_start_daemon;
	__typeof__(&MHD_stop_daemon) MHD_stop_daemon;
	__typeof__(&MHD_get_daemon_info) MHD_get_daemon_info;
	__typeof__(&MHD_create_response_from_buffer)
		MHD_create_response_from_buffer;
	__typeof__(&MHD_add_response_header) MHD_add_response_header;
	__typeof__(&MHD_queue_response) MHD_queue_response;
	__typeof__(&MHD_destroy_response) MHD_destroy_response;
};
extern struct ms_mhd_fns ms_mhd;

int ms_fleet_load_mhd(void);

#ifndef MS_FLEET_LIBS_IMPL
#define MHD_start_daemon    (*ms_mhd.MHD_start_daemon)
#define MHD_stop_daemon	    (*ms_mhd.MHD_stop_daemon)
#define MHD_get_daemon_info (*ms_mhd.MHD_get_daemon_info)
#define MHD_create_response_from_buffer                                        \
	(*ms_mhd.MHD_create_response_from_buffer)
#define MHD_add_response_header (*ms_mhd.MHD_add_response_header)
#define MHD_queue_response	(*ms_mhd.MHD_queue_response)
#define MHD_destroy_response	(*ms_mhd.MHD_destroy_response)
#endif
#endif

#endif
