/* SPDX-License-Identifier: MIT */
/* UTF-8 validation for the writers of untrusted strings. */
#ifndef MS_UTF8_H
#define MS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the valid UTF-8 sequence at p (n > 0 bytes there), or 0
 * when it is not one: a stray continuation byte, an overlong form, a
 * surrogate, a code point above U+10FFFF, or a sequence cut short.
 */
size_t ms_utf8_len(const uint8_t *p, size_t n);

#endif
