/* SPDX-License-Identifier: MIT */
/*
 * `memscope top`: the live heap of a running session by call site, thread
 * and process, refreshed every interval. The consumer answers from its
 * live heap (consumer/daemon/live.c), never from the archive; this side
 * symbolizes, keeps the past a minute deep and draws. Plain ANSI: the
 * alternate screen, a cursor home and a redraw each interval.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_live.h"
#include "clock.h"
#include "json_writer.h"
#include "proto_abi.h"
#include "session.h"
#include "top_model.h"

struct top_opts {
	const char *session;
	struct ms_top_opts m;
	double interval; /* seconds */
	int json, once;
};

/* What the screen shows now (keys change it). */
struct screen {
	enum ms_top_view view;
	enum ms_top_sort sort;
	char filter[64];
	int editing; /* typing a filter */
	int paused;
	int rows, cols;
	uint64_t shown_seq;
};

static volatile sig_atomic_t quit_signal;

static void help(void)
{
	printf("usage: memscope top [--session NAME] [--pid P] [--interval S] "
	       "[--json] [--once]\n"
	       "                    [--suspect N] [--no-symbols]\n\n"
	       "Shows the live heap of a running consumer's session: totals "
	       "(live bytes,\nallocation and free rates, dropped events), a "
	       "sparkline of the live heap, and\nthe call sites (first frame "
	       "outside the allocator) holding memory, refreshed\nevery "
	       "--interval seconds (default 1). Figures count from the moment "
	       "the first\ntop or snapshot client attached to the consumer. "
	       "Sites whose live bytes grew\nin each of the last --suspect "
	       "seconds (default 5) are marked as leak suspects.\n\n"
	       "Keys: s sites, t threads, p processes; l sort by live bytes, "
	       "g by growth over\nthe last minute, r by allocation rate, c by "
	       "live count; / filter (Enter ends,\nEsc clears); space pauses; "
	       "q quits.\n\n"
	       "--json prints one JSON object per interval; --once prints one "
	       "snapshot and\nexits.\n");
}

static int bad(const char *opt)
{
	fprintf(stderr,
		"memscope top: invalid or missing value for %s; see "
		"'memscope top --help'\n",
		opt);
	return -1;
}

static int parse(int argc, char **argv, struct top_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		char *end;

		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		if (!strcmp(a, "--json") || !strcmp(a, "--once") ||
		    !strcmp(a, "--no-symbols")) {
			o->json |= !strcmp(a, "--json");
			o->once |= !strcmp(a, "--once");
			o->m.no_symbols |= !strcmp(a, "--no-symbols");
			continue;
		}
		if (!v)
			return bad(a);
		if (!strcmp(a, "--session")) {
			o->session = v;
		} else if (!strcmp(a, "--pid")) {
			if (ms_parse_u64(v, &n) < 0 || n == 0 || n > UINT32_MAX)
				return bad(a);
			o->m.pid = (uint32_t)n;
		} else if (!strcmp(a, "--suspect")) {
			if (ms_parse_u64(v, &n) < 0 || n == 0 ||
			    n >= MS_SNAP_HIST)
				return bad(a);
			o->m.suspect_n = (uint32_t)n;
		} else if (!strcmp(a, "--interval")) {
			o->interval = strtod(v, &end);
			if (*end ||
			    !(o->interval >= 0.1 && o->interval <= 3600))
				return bad(a);
		} else {
			fprintf(stderr,
				"memscope top: unknown option '%s'; see "
				"'memscope top --help'\n",
				a);
			return -1;
		}
		i++;
	}
	return 0;
}

/* ---- JSON ---- */

static void json_row(FILE *f, const struct ms_top_row *r, enum ms_top_view v)
{
	if (v == MS_TOP_SITES) {
		fprintf(f, "{\"id\": %" PRIu32 ", \"function\": ", r->key);
		ms_json_put_cstr(f, r->function);
		fputs(", \"file\": ", f);
		if (r->file)
			ms_json_put_cstr(f, r->file);
		else
			fputs("null", f);
		fprintf(f, ", \"line\": %" PRIu32 ", \"label\": ", r->line);
	} else {
		fprintf(f, "{\"%s\": %" PRIu32 ", \"name\": ",
			v == MS_TOP_THREADS ? "tid" : "pid", r->key);
	}
	ms_json_put_cstr(f, r->label);
	fprintf(f,
		", \"live_bytes\": %" PRIu64 ", \"live_count\": %" PRIu64
		", \"allocs\": %" PRIu64 ", \"alloc_bytes\": %" PRIu64
		", \"frees\": %" PRIu64 ", \"growth_bytes\": %" PRId64
		", \"growth_seconds\": %.1f, \"alloc_rate\": %.1f, "
		"\"free_rate\": %.1f",
		r->live_bytes, r->live_count, r->allocs, r->alloc_bytes,
		r->frees, r->growth, r->growth_s, r->alloc_rate, r->free_rate);
	if (v == MS_TOP_SITES)
		fprintf(f, ", \"leak_suspect\": %s",
			r->suspect ? "true" : "false");
	fputc('}', f);
}

static void json_rows(FILE *f, struct ms_top *t, enum ms_top_view v,
		      uint32_t pid)
{
	size_t n, k = 0;
	const struct ms_top_row *r = ms_top_rows(t, v, MS_SORT_LIVE, NULL, &n);

	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (r[i].pid != pid)
			continue;
		fputs(k++ ? ", " : "", f);
		json_row(f, &r[i], v);
	}
	fputc(']', f);
}

static void print_json(FILE *f, struct ms_top *t)
{
	const struct ms_snap *s = ms_top_snap(t);
	const struct ms_top_totals *tot = ms_top_totals(t);
	size_t n;
	const struct ms_top_row *p =
		ms_top_rows(t, MS_TOP_PROCS, MS_SORT_LIVE, NULL, &n);
	struct ms_top_row *procs = malloc((n + 1) * sizeof(*procs));

	if (!procs)
		return;
	if (n) /* no process yet: no rows, and p may be NULL */
		memcpy(procs, p, n * sizeof(*procs));
	fprintf(f,
		"{\"t_ns\": %" PRIu64 ", \"since_ns\": %" PRIu64
		", \"seq\": %" PRIu64 ", \"sampling\": \"%s\", "
		"\"estimated\": %s, \"address_sample\": %u, "
		"\"incomplete\": %s, \"live_bytes\": "
		"%" PRIu64 ", \"live_count\": %" PRIu64 ", \"allocs\": %" PRIu64
		", \"frees\": %" PRIu64 ", \"dropped\": %" PRIu64
		", \"alloc_rate\": %.1f, \"free_rate\": %.1f, \"processes\": [",
		s->h->mono_ns, s->h->since_ns, s->h->seq,
		s->h->sampling == MS_SAMPLING_FULL     ? "full"
		: s->h->sampling == MS_SAMPLING_TIERED ? "tiered"
						       : "bytes",
		tot->estimated ? "true" : "false",
		tot->addr_sample > 1 ? tot->addr_sample : 1,
		tot->incomplete ? "true" : "false", tot->live_bytes,
		tot->live_count, tot->allocs, tot->frees, tot->dropped,
		tot->alloc_rate, tot->free_rate);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		fputs("{\"process\": ", f);
		json_row(f, &procs[i], MS_TOP_PROCS);
		fputs(", \"threads\": ", f);
		json_rows(f, t, MS_TOP_THREADS, procs[i].pid);
		fputs(", \"sites\": ", f);
		json_rows(f, t, MS_TOP_SITES, procs[i].pid);
		fputc('}', f);
	}
	fputs("]}\n", f);
	fflush(f);
	free(procs);
}

/* ---- the screen ---- */

static void human(char *buf, size_t cap, double v)
{
	static const char *const unit[] = {"", "K", "M", "G", "T"};
	int u = 0;
	double a = v < 0 ? -v : v;

	while (a >= 1024 && u < 4) {
		a /= 1024;
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f%s" : "%.0f%s", v, unit[u]);
}

static void sparkline(FILE *f, struct ms_top *t, int width)
{
	static const char *const bars[] = {"\u2581", "\u2582", "\u2583",
					   "\u2584", "\u2585", "\u2586",
					   "\u2587", "\u2588"};
	const uint64_t *h;
	size_t n = ms_top_history(t, &h), from;
	uint64_t lo = UINT64_MAX, hi = 0;

	from = n > (size_t)width ? n - (size_t)width : 0;
	for (size_t i = from; i < n; i++) {
		lo = h[i] < lo ? h[i] : lo;
		hi = h[i] > hi ? h[i] : hi;
	}
	fputs("heap ", f);
	for (size_t i = from; i < n; i++)
		fputs(bars[hi > lo ? (h[i] - lo) * 7 / (hi - lo) : 3], f);
	fputc('\n', f);
}

static const char *view_name(enum ms_top_view v)
{
	return v == MS_TOP_SITES     ? "call sites"
	       : v == MS_TOP_THREADS ? "threads"
				     : "processes";
}

static const char *sort_name(enum ms_top_sort s)
{
	return s == MS_SORT_GROWTH  ? "growth/min"
	       : s == MS_SORT_RATE  ? "alloc rate"
	       : s == MS_SORT_COUNT ? "count"
				    : "live bytes";
}

/* A line of the header, cut to the terminal's width: a line that wraps
 * would push the table down and off the screen. */
static void __attribute__((format(printf, 3, 4)))
line(FILE *f, const struct screen *sc, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	if (sc->cols > 0 && n > sc->cols)
		n = sc->cols;
	fprintf(f, "%.*s\n", n, buf);
}

static void header(FILE *f, struct ms_top *t, const struct screen *sc)
{
	const struct ms_top_totals *tot = ms_top_totals(t);
	const struct ms_snap *s = ms_top_snap(t);
	char live[32], ar[32], fr[32], est[64] = "";

	if (tot->addr_sample > 1)
		snprintf(est, sizeof(est),
			 " - estimated (small blocks: 1 address in %u)",
			 tot->addr_sample);
	else if (tot->estimated)
		snprintf(est, sizeof(est), " - estimated (sampled)");
	human(live, sizeof(live), (double)tot->live_bytes);
	human(ar, sizeof(ar), tot->alloc_rate);
	human(fr, sizeof(fr), tot->free_rate);
	line(f, sc,
	     "memscope top - %u process%s, %u thread%s, %u site%s - since "
	     "attach %.0f s%s%s",
	     tot->processes, tot->processes == 1 ? "" : "es", tot->threads,
	     tot->threads == 1 ? "" : "s", tot->sites,
	     tot->sites == 1 ? "" : "s",
	     (double)(s->h->mono_ns - s->h->since_ns) / 1e9,
	     sc->paused ? " - PAUSED" : "", est);
	line(f, sc,
	     "live %s in %" PRIu64 " blocks   allocs %s/s   frees %s/s   "
	     "dropped %" PRIu64 "%s",
	     live, tot->live_count, ar, fr, tot->dropped,
	     tot->incomplete ? "   (live heap full: figures low)" : "");
	sparkline(f, t, sc->cols - 6 > 0 ? sc->cols - 6 : 10);
	line(f, sc, "view: %s   sort: %s   filter: %s%s", view_name(sc->view),
	     sort_name(sc->sort), sc->filter[0] ? sc->filter : "-",
	     sc->editing ? "_" : "");
}

static void table(FILE *f, struct ms_top *t, const struct screen *sc)
{
	size_t n;
	const struct ms_top_row *r =
		ms_top_rows(t, sc->view, sc->sort, sc->filter, &n);
	int room = sc->rows - 7;

	fprintf(f, "\x1b[7m%7s %9s %9s %9s %9s %9s  %-*s\x1b[0m\n", "PID",
		sc->view == MS_TOP_THREADS ? "TID" : "LIVE#", "LIVE",
		"GROW/MIN", "ALLOC/S", "ALLOCS",
		sc->cols > 60 ? sc->cols - 60 : 8,
		sc->view == MS_TOP_SITES     ? "SITE (! leak suspect)"
		: sc->view == MS_TOP_THREADS ? "THREAD"
					     : "COMMAND");
	for (size_t i = 0; i < n && (int)i < room; i++) {
		char live[32], grow[32], rate[32], cnt[32];

		human(live, sizeof(live), (double)r[i].live_bytes);
		human(grow, sizeof(grow), (double)r[i].growth);
		human(rate, sizeof(rate), r[i].alloc_rate);
		human(cnt, sizeof(cnt), (double)r[i].allocs);
		fprintf(f, "%7u %9" PRIu64 " %9s %9s %9s %9s %c%.*s\n",
			r[i].pid,
			sc->view == MS_TOP_THREADS ? (uint64_t)r[i].key
						   : r[i].live_count,
			live, grow, rate, cnt, r[i].suspect ? '!' : ' ',
			sc->cols > 60 ? sc->cols - 60 : 8, r[i].label);
	}
}

static void draw(struct ms_top *t, struct screen *sc, int ansi)
{
	struct winsize ws;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	sc->rows = 40;
	sc->cols = 120;
	if (ansi && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row) {
		sc->rows = ws.ws_row;
		sc->cols = ws.ws_col;
	}
	if (ansi)
		fputs("\x1b[H\x1b[2J", f);
	header(f, t, sc);
	table(f, t, sc);
	if (ansi)
		fprintf(f,
			"\x1b[%d;1H\x1b[7m s t p views  l g r c sort  / "
			"filter  space pause  q quit \x1b[0m",
			sc->rows);
	fclose(f);
	fwrite(buf, 1, len, stdout);
	fflush(stdout);
	free(buf);
}

/* ---- the terminal ---- */

static struct termios saved_tio;
static int tio_saved;

static void term_restore(void)
{
	if (!tio_saved)
		return;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	fputs("\x1b[?25h\x1b[?1049l", stdout);
	fflush(stdout);
	tio_saved = 0;
}

static void on_signal(int sig)
{
	quit_signal = sig;
}

/* SIGINT, SIGTERM and SIGHUP end the loop after the current output. */
static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int term_setup(void)
{
	struct termios tio;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -1;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) < 0)
		return -1;
	tio_saved = 1;
	fputs("\x1b[?1049h\x1b[?25l", stdout);
	fflush(stdout);
	return 0;
}

/* One key; returns 1 to quit. */
static int key(struct screen *sc, char c)
{
	size_t n = strlen(sc->filter);

	if (c == 'q' && !sc->editing)
		return 1;
	if (sc->editing) {
		if (c == '\n' || c == '\r')
			sc->editing = 0;
		else if (c == 27)
			sc->editing = 0, sc->filter[0] = 0;
		else if ((c == 127 || c == 8) && n)
			sc->filter[n - 1] = 0;
		else if (c >= 0x20 && c < 0x7f && n + 1 < sizeof(sc->filter))
			sc->filter[n] = c, sc->filter[n + 1] = 0;
		return 0;
	}
	/* the view and sort keys: "stp" and "lgrc", in enum order */
	if (c && strchr("stp", c)) {
		sc->view = (enum ms_top_view)(strchr("stp", c) - "stp");
	} else if (c && strchr("lgrc", c)) {
		sc->sort = (enum ms_top_sort)(strchr("lgrc", c) - "lgrc");
	} else if (c == ' ') {
		sc->paused = !sc->paused;
	} else if (c == '/') {
		sc->editing = 1;
		sc->filter[0] = 0;
	}
	return 0;
}

/* Waits until `until` (mono ns) for keys; returns 1 to quit, 2 to redraw. */
static int wait_keys(struct screen *sc, uint64_t until)
{
	for (;;) {
		uint64_t now = ms_mono_ns();
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		char buf[32];
		ssize_t n;
		int redraw = 0;

		if (quit_signal)
			return 1;
		if (now >= until)
			return 0;
		if (poll(&p, 1, (int)((until - now) / 1000000u) + 1) <= 0)
			continue;
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n <= 0)
			return n == 0 ? 1 : 0; /* end of input: quit */
		for (ssize_t i = 0; i < n; i++) {
			if (key(sc, buf[i]))
				return 1;
			redraw = 1;
		}
		if (redraw)
			return 2;
	}
}

static int fetch(int fd, struct ms_top *t)
{
	struct ms_cli_snap snap;
	int err = ms_cli_snap_get(fd, 5000, &snap);

	if (err) {
		fprintf(stderr, "memscope top: %s\n",
			err == -ETIMEDOUT ? "the consumer did not answer"
			: err == -EPIPE	  ? "the consumer went away"
					  : "the consumer's answer is invalid");
		return -1;
	}
	if (ms_top_update(t, &snap) < 0) {
		fprintf(stderr, "memscope top: out of memory\n");
		return -1;
	}
	return 0;
}

static void render(struct ms_top *t, struct screen *sc,
		   const struct top_opts *o, int interactive)
{
	if (o->json)
		print_json(stdout, t);
	else
		draw(t, sc, interactive);
}

static void sleep_until(uint64_t until)
{
	uint64_t now = ms_mono_ns();

	if (now < until)
		nanosleep(
			&(struct timespec){
				(time_t)((until - now) / 1000000000u),
				(long)((until - now) % 1000000000u)},
			NULL);
}

static int run(int fd, struct ms_top *t, const struct top_opts *o)
{
	struct screen sc = {.view = MS_TOP_SITES};
	int interactive = !o->json && !o->once && isatty(STDIN_FILENO) &&
			  isatty(STDOUT_FILENO);
	uint64_t step = (uint64_t)(o->interval * 1e9);
	int rc = 0, w = 0, fetched = 0;

	catch_signals();
	if (interactive && term_setup() < 0)
		interactive = 0;
	while (w != 1 && !quit_signal) {
		uint64_t next = ms_mono_ns() + step;

		if (!sc.paused || !fetched) {
			if (fetch(fd, t) < 0) {
				rc = 1;
				break;
			}
			fetched = 1;
		}
		render(t, &sc, o, interactive);
		if (o->once)
			break;
		if (!interactive) {
			sleep_until(next);
			continue;
		}
		/* keys redraw at once; the next snapshot comes at `next` */
		while ((w = wait_keys(&sc, next)) == 2)
			render(t, &sc, o, interactive);
	}
	term_restore();
	if (!o->json && !interactive)
		putchar('\n');
	return rc;
}

int ms_cmd_top(int argc, char **argv)
{
	struct top_opts o = {.interval = 1.0};
	struct ms_top *t;
	int r = parse(argc, argv, &o), fd;

	if (r) {
		if (r > 0)
			help();
		return r > 0 ? 0 : 2;
	}
	fd = ms_cli_top_connect("top", o.session);
	if (fd < 0)
		return 1;
	if (ms_top_create(&o.m, &t) < 0) {
		fprintf(stderr, "memscope top: out of memory\n");
		close(fd);
		return 1;
	}
	r = run(fd, t, &o);
	ms_top_destroy(t);
	close(fd);
	return r;
}
