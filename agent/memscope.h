/* SPDX-License-Identifier: MIT */
#ifndef MEMSCOPE_H
#define MEMSCOPE_H
#endif
