/* SPDX-License-Identifier: MIT */
/*
 * Where the agent library is: $MEMSCOPE_AGENT, else next to the memscope
 * program in the build tree (<bindir>/../agent/libmemscope.so) or in an
 * installed prefix (<bindir>/../<libdir>/libmemscope.so, <bindir>/../lib/).
 */
#ifndef MS_AGENTPATH_H
#define MS_AGENTPATH_H

#include <stddef.h>

/*
 * Fills `buf` with the agent's absolute path. Returns 0, or -ENOENT (a
 * message naming the places searched is printed on stderr).
 */
int ms_agent_path(char *buf, size_t len);

/*
 * Builds the environment for a traced command: LD_PRELOAD with the agent
 * in front, MEMSCOPE_SESSION = `session` (NULL: keep the caller's), and
 * MEMSCOPE_SOCKET removed when a session is named. Returns a NULL-ended
 * array (free with ms_env_free), or NULL when out of memory.
 */
char **ms_env_traced(const char *agent, const char *session);
void ms_env_free(char **env);

#endif
