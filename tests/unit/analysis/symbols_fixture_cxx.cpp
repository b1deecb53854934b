/* SPDX-License-Identifier: MIT */
/* The fixture's C++ site: a member function whose name must come back
 * demangled, as "ms_fx::Counter::bump(int)". */
extern "C" void ms_fx_where(const char *fn, int line, int caller_line);
extern "C" void ms_fx_cxx(void);

namespace ms_fx
{
struct Counter {
	volatile int n;
	__attribute__((noinline)) void bump(int by);
};

void Counter::bump(int by)
{
	ms_fx_where("ms_fx::Counter::bump(int)", __LINE__, 0);
	n = n + by;
}
} /* namespace ms_fx */

void ms_fx_cxx(void)
{
	ms_fx::Counter c{0};

	c.bump(1);
}
