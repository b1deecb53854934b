/* SPDX-License-Identifier: MIT */
/* Every subcommand has landed in its own cmd_X.c; nothing is stubbed now. */
