/* SPDX-License-Identifier: MIT */
#ifndef MS_GOT_VICTIM_H
#define MS_GOT_VICTIM_H

/* Defined by the test program (the "wrappers"): return x + 1. */
int gt_target_a(int x);
int gt_target_b(int x);
int gt_target_c(int x);
int gt_target_d(int x);
int gt_target_e(int x);

/* got_victim.c, built as two libraries. */
int victim_lazy_a(int x);
int victim_lazy_b(int x);
int victim_lazy_c(int x);
int victim_lazy_d(int x);
int victim_lazy_e(int x);
int victim_now_a(int x);
int victim_now_b(int x);
int victim_now_c(int x);
int victim_now_d(int x);
int victim_now_e(int x);

#endif
