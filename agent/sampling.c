/* SPDX-License-Identifier: MIT */
#include "sampling.h"

#include <math.h>
#include <string.h>

/* Inverse rates of the tiered classes (MS_CLS_*). */
static const uint32_t class_inv_p[MS_NCLS] = {100, 50, 10, 5};

uint64_t ms_sample_class_weight(unsigned cls)
{
	return (uint64_t)class_inv_p[cls] * MS_WEIGHT_ONE;
}

/* xorshift64*: fast, good enough for sampling, never 0 state. */
static uint64_t next_rand(struct ms_sampler *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in (0, 1]. */
static double next_unit(struct ms_sampler *s)
{
	return ((double)(next_rand(s) >> 11) + 1.0) *
	       (1.0 / 9007199254740992.0);
}

/* Trials up to and including the next success, p = 1/inv_p (>= 1). */
static int64_t geometric(struct ms_sampler *s, uint32_t inv_p)
{
	double p = 1.0 / inv_p, k;

	if (inv_p <= 1)
		return 1;
	k = floor(log(next_unit(s)) / log1p(-p)) + 1.0;
	return k > 1e15 ? (int64_t)1e15 : (int64_t)k;
}

/* Bytes to the next sample: exponential with mean s->mean. */
static int64_t exponential(struct ms_sampler *s)
{
	double v = -log(next_unit(s)) * (double)s->mean;

	return v > 1e15 ? (int64_t)1e15 : (int64_t)v + 1;
}

void ms_sampler_init(struct ms_sampler *s, uint32_t mode, uint64_t param,
		     uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed ? seed : 0x853c49e6748fea9bull;
	s->mode = mode;
	s->mean = param ? param : 1;
	for (unsigned c = 0; c < MS_NCLS; c++)
		s->skip[c] = geometric(s, class_inv_p[c]);
	s->bytes_left = exponential(s);
}

uint64_t ms_sample_draw(struct ms_sampler *s, unsigned cls)
{
	s->skip[cls] = geometric(s, class_inv_p[cls]);
	return ms_sample_class_weight(cls);
}

uint64_t ms_sample_bytes(struct ms_sampler *s, size_t size)
{
	/* Memoryless: a fresh interval after each sample keeps p exact. */
	double p = -expm1(-(double)size / (double)s->mean);
	double w = (double)MS_WEIGHT_ONE / p;

	s->bytes_left = exponential(s);
	if (size == 0 || !(w < 1.8e19))
		return 0; /* p == 0: cannot happen for size > 0 */
	return w < MS_WEIGHT_ONE ? MS_WEIGHT_ONE : (uint64_t)llround(w);
}

void ms_sampler_decay(struct ms_sampler *s)
{
	for (unsigned i = 0; i < MS_SITES; i++)
		s->site[i] >>= 1;
}
