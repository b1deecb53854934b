/* SPDX-License-Identifier: MIT */
/* `memscope run`: a command with the agent preloaded, in a session. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentpath.h"
#include "cli.h"
#include "session.h"

static void help(void)
{
	printf("usage: memscope run [--session NAME] -- CMD [ARG...]\n\n"
	       "Runs CMD with the memscope agent preloaded (LD_PRELOAD), "
	       "attached to the\nconsumer of session NAME (default: "
	       "$MEMSCOPE_SESSION or \"default\").\nStart the consumer "
	       "first: 'memscope consumer --session NAME'.\n");
}

/* Returns the index of CMD, or MS_OPTS-like -1 help / -2 usage. */
static int parse(int argc, char **argv, const char **session)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			return i + 1;
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return -1;
		if (!strncmp(a, "--session=", 10)) {
			*session = a + 10;
		} else if (!strcmp(a, "--session")) {
			if (++i == argc) {
				fprintf(stderr,
					"memscope run: --session needs a "
					"name\n");
				return -2;
			}
			*session = argv[i];
		} else if (a[0] == '-') {
			fprintf(stderr,
				"memscope run: unknown option '%s'; usage: "
				"memscope run [--session NAME] -- CMD\n",
				a);
			return -2;
		} else {
			return i;
		}
	}
	return argc;
}

int ms_cmd_run(int argc, char **argv)
{
	const char *session = NULL;
	char agent[4096], sock[108];
	char **env;
	int i = parse(argc, argv, &session);

	if (i == -1) {
		help();
		return 0;
	}
	if (i < 0)
		return 2;
	if (i >= argc) {
		fprintf(stderr, "memscope run: no command given; usage: "
				"memscope run [--session NAME] -- CMD\n");
		return 2;
	}
	if (session && ms_session_socket(session, sock, sizeof(sock)) < 0) {
		fprintf(stderr,
			"memscope run: invalid session name '%s' (use letters, "
			"digits, '.', '_', '-')\n",
			session);
		return 2;
	}
	if (ms_agent_path(agent, sizeof(agent)) < 0)
		return 1;
	env = ms_env_traced(agent, session);
	if (!env) {
		fprintf(stderr, "memscope run: out of memory\n");
		return 1;
	}
	execvpe(argv[i], argv + i, env);
	fprintf(stderr, "memscope run: cannot run '%s': %s\n", argv[i],
		strerror(errno));
	ms_env_free(env);
	return errno == ENOENT ? 127 : 126;
}
