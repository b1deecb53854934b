/* SPDX-License-Identifier: MIT */
/*
 * Reads the rule of one code address from .eh_frame: the FDE through the
 * binary search table of PT_GNU_EH_FRAME, then the CIE's and the FDE's
 * call frame instructions up to that address (DWARF 5, section 6.4; the
 * .eh_frame variant of the Linux Standard Base). Readers never go past the
 * length a record gives itself; anything unexpected is MS_CFI_OTHER.
 */
#include "cfi.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stddef.h>
#include <string.h>

/* DWARF register numbers of x86-64 (psABI, "DWARF Register Number Mapping") */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA	16

/* Pointer encodings (DW_EH_PE_*) */
#define PE_ABSPTR  0x00
#define PE_ULEB	   0x01
#define PE_UDATA2  0x02
#define PE_UDATA4  0x03
#define PE_UDATA8  0x04
#define PE_SLEB	   0x09
#define PE_SDATA2  0x0a
#define PE_SDATA4  0x0b
#define PE_SDATA8  0x0c
#define PE_PCREL   0x10
#define PE_DATAREL 0x30

#define MAX_REMEMBER 8 /* DW_CFA_remember_state nesting we follow */

/* A cursor over bytes: never reads at or past `end`; `bad` sticks. */
struct rd {
	const uint8_t *p, *end;
	uintptr_t datarel; /* base of DW_EH_PE_datarel, 0: not allowed */
	int bad;
};

static uint64_t rd_bytes(struct rd *r, unsigned n)
{
	uint64_t v = 0;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	for (unsigned i = 0; i < n; i++) /* little-endian */
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

/* A LEB128 value; *bits gets how many bits it had, *neg its sign bit. */
static uint64_t rd_leb(struct rd *r, unsigned *bits, int *neg)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;

	*bits = 0;
	*neg = 0;
	do {
		if (r->bad || r->p >= r->end || shift > 63) {
			r->bad = 1;
			return 0;
		}
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	*bits = shift;
	*neg = (b & 0x40) != 0;
	return v;
}

static uint64_t rd_uleb(struct rd *r)
{
	unsigned bits;
	int neg;

	return rd_leb(r, &bits, &neg);
}

static int64_t rd_sleb(struct rd *r)
{
	unsigned bits;
	int neg;
	uint64_t v = rd_leb(r, &bits, &neg);

	if (bits < 64 && neg)
		v |= ~0ull << bits;
	return (int64_t)v;
}

/* An encoded pointer; indirect and aligned encodings are not followed. */
static uintptr_t rd_enc(struct rd *r, uint8_t enc)
{
	uintptr_t base = 0, at = (uintptr_t)r->p;

	if ((enc & 0x70) == PE_PCREL)
		base = at;
	else if ((enc & 0x70) == PE_DATAREL && r->datarel)
		base = r->datarel;
	else if ((enc & 0x70) != 0 || (enc & 0x80))
		r->bad = 1;
	switch (enc & 0x0f) {
	case PE_ABSPTR:
	case PE_UDATA8:
	case PE_SDATA8:
		return base + rd_bytes(r, 8);
	case PE_ULEB:
		return base + rd_uleb(r);
	case PE_SLEB:
		return base + (uintptr_t)rd_sleb(r);
	case PE_UDATA2:
		return base + rd_bytes(r, 2);
	case PE_SDATA2:
		return base + (uintptr_t)(int16_t)rd_bytes(r, 2);
	case PE_UDATA4:
		return base + rd_bytes(r, 4);
	case PE_SDATA4:
		return base + (uintptr_t)(int32_t)rd_bytes(r, 4);
	}
	r->bad = 1;
	return 0;
}

/* A record (CIE or FDE): 32-bit length only (64-bit DWARF: -EINVAL). */
static int rd_record(const uint8_t *at, struct rd *r)
{
	struct rd h = {at, at + 4, 0, 0};
	uint64_t len = rd_bytes(&h, 4);

	if (len == 0 || len == 0xffffffffu)
		return -EINVAL;
	*r = (struct rd){at + 4, at + 4 + len, 0, 0};
	return 0;
}

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	int aug_z;
	const uint8_t *insn, *end;
};

/* The augmentation data: only z, R, P, L (no S: signal frames). */
static int read_aug(struct rd *r, const char *aug, struct cie *c)
{
	uint64_t len;
	const uint8_t *end;

	if (aug[0] == 0)
		return 0;
	if (aug[0] != 'z')
		return -EINVAL;
	c->aug_z = 1;
	len = rd_uleb(r);
	if (r->bad || len > (uint64_t)(r->end - r->p))
		return -EINVAL;
	end = r->p + len;
	for (const char *a = aug + 1; *a && !r->bad; a++) {
		uint8_t enc;

		if (*a == 'R') {
			c->fde_enc = (uint8_t)rd_bytes(r, 1);
		} else if (*a == 'L') {
			rd_bytes(r, 1);
		} else if (*a == 'P') {
			enc = (uint8_t)rd_bytes(r, 1);
			if ((enc & 0x70) == 0x50) /* aligned */
				return -EINVAL;
			rd_enc(r, enc & 0x0f); /* skipped, not followed */
		} else {
			return -EINVAL;
		}
	}
	if (r->bad || r->p > end)
		return -EINVAL;
	r->p = end;
	return 0;
}

static int read_cie(const uint8_t *at, struct cie *c)
{
	struct rd r;
	const char *aug;
	const uint8_t *nul;
	uint64_t version, ra;

	if (rd_record(at, &r) < 0 || rd_bytes(&r, 4) != 0) /* CIE id 0 */
		return -EINVAL;
	version = rd_bytes(&r, 1);
	if (r.bad || (version != 1 && version != 3))
		return -EINVAL;
	aug = (const char *)r.p;
	nul = memchr(r.p, 0, (size_t)(r.end - r.p));
	if (!nul)
		return -EINVAL;
	r.p = nul + 1;
	*c = (struct cie){0};
	c->code_align = rd_uleb(&r);
	c->data_align = rd_sleb(&r);
	ra = version == 1 ? rd_bytes(&r, 1) : rd_uleb(&r);
	if (r.bad || ra != REG_RA || read_aug(&r, aug, c) < 0)
		return -EINVAL;
	c->insn = r.p;
	c->end = r.end;
	return 0;
}

enum { R_SAME, R_UNDEF, R_OFFSET, R_OTHER };

struct reg_rule {
	int how; /* R_* */
	int64_t off;
};

/* One row of the table: the CFA and the three registers the walk uses. */
struct row {
	uint64_t cfa_reg;
	int64_t cfa_off;
	int cfa_expr;
	struct reg_rule rbp, rsp, ra;
};

struct run {
	const struct cie *c;
	const struct row *init; /* after the CIE: DW_CFA_restore; NULL in it */
	uintptr_t loc, pc;
	struct row saved[MAX_REMEMBER];
	int nsaved;
};

static struct reg_rule *rule_of(struct row *w, uint64_t reg)
{
	if (reg == REG_RBP)
		return &w->rbp;
	if (reg == REG_RSP)
		return &w->rsp;
	return reg == REG_RA ? &w->ra : NULL;
}

static void set_rule(struct row *w, uint64_t reg, int how, int64_t off)
{
	struct reg_rule *p = rule_of(w, reg);

	if (p)
		*p = (struct reg_rule){how, off};
}

static int restore_rule(const struct run *x, struct row *w, uint64_t reg)
{
	struct reg_rule *p = rule_of(w, reg);

	if (!x->init)
		return -EINVAL;
	if (p)
		*p = *rule_of((struct row *)x->init, reg);
	return 0;
}

/* 1 when the new location is past pc: the row for pc is complete. */
static int advance(struct run *x, uint64_t delta)
{
	x->loc += delta * x->c->code_align;
	return x->loc > x->pc;
}

static int remember(struct run *x, struct row *w, int push)
{
	if (push) {
		if (x->nsaved == MAX_REMEMBER)
			return -EINVAL;
		x->saved[x->nsaved++] = *w;
	} else {
		if (x->nsaved == 0)
			return -EINVAL;
		*w = x->saved[--x->nsaved];
	}
	return 0;
}

static void skip_block(struct rd *r)
{
	uint64_t len = rd_uleb(r);

	if (r->bad || len > (uint64_t)(r->end - r->p))
		r->bad = 1;
	else
		r->p += len;
}

/* The CFA operations (DW_CFA_def_cfa*). */
static int def_cfa(struct row *w, struct rd *r, uint8_t op, int64_t da)
{
	switch (op) {
	case 0x0c: /* def_cfa */
		w->cfa_reg = rd_uleb(r);
		w->cfa_off = (int64_t)rd_uleb(r);
		w->cfa_expr = 0;
		return 0;
	case 0x12: /* def_cfa_sf */
		w->cfa_reg = rd_uleb(r);
		w->cfa_off = rd_sleb(r) * da;
		w->cfa_expr = 0;
		return 0;
	case 0x0d: /* def_cfa_register */
		w->cfa_reg = rd_uleb(r);
		break;
	case 0x0e: /* def_cfa_offset */
		w->cfa_off = (int64_t)rd_uleb(r);
		break;
	case 0x13: /* def_cfa_offset_sf */
		w->cfa_off = rd_sleb(r) * da;
		break;
	case 0x0f: /* def_cfa_expression */
		skip_block(r);
		w->cfa_expr = 1;
		return 0;
	}
	/* register or offset alone: only valid on a register rule */
	return w->cfa_expr ? -EINVAL : 0;
}

/* Rules of a register (DW_CFA_offset* and friends). */
static int reg_op(struct run *x, struct row *w, struct rd *r, uint8_t op)
{
	int64_t da = x->c->data_align;
	uint64_t reg = rd_uleb(r);

	switch (op) {
	case 0x05: /* offset_extended */
		set_rule(w, reg, R_OFFSET, (int64_t)rd_uleb(r) * da);
		return 0;
	case 0x11: /* offset_extended_sf */
		set_rule(w, reg, R_OFFSET, rd_sleb(r) * da);
		return 0;
	case 0x2f: /* GNU_negative_offset_extended */
		set_rule(w, reg, R_OFFSET, -(int64_t)rd_uleb(r) * da);
		return 0;
	case 0x06: /* restore_extended */
		return restore_rule(x, w, reg);
	case 0x07: /* undefined */
		set_rule(w, reg, R_UNDEF, 0);
		return 0;
	case 0x08: /* same_value */
		set_rule(w, reg, R_SAME, 0);
		return 0;
	case 0x09: /* register */
	case 0x14: /* val_offset */
		rd_uleb(r);
		set_rule(w, reg, R_OTHER, 0);
		return 0;
	case 0x15: /* val_offset_sf */
		rd_sleb(r);
		set_rule(w, reg, R_OTHER, 0);
		return 0;
	case 0x10: /* expression */
	case 0x16: /* val_expression */
		skip_block(r);
		set_rule(w, reg, R_OTHER, 0);
		return 0;
	}
	return -EINVAL;
}

/*
 * Runs call frame instructions on row *w. Returns 1 when a row starting
 * past pc is reached (*w is pc's row), 0 at the end of the instructions,
 * -EINVAL on anything not understood (DW_CFA_set_loc included).
 */
static int run_cfi(struct run *x, struct row *w, const uint8_t *p,
		   const uint8_t *end)
{
	struct rd r = {p, end, 0, 0};
	int err = 0;

	while (r.p < r.end && !r.bad && !err) {
		uint8_t op = *r.p++;

		switch (op & 0xc0) {
		case 0x40: /* advance_loc */
			if (advance(x, op & 0x3f))
				return 1;
			continue;
		case 0x80: /* offset */
			set_rule(w, op & 0x3f, R_OFFSET,
				 (int64_t)rd_uleb(&r) * x->c->data_align);
			continue;
		case 0xc0: /* restore */
			err = restore_rule(x, w, op & 0x3f);
			continue;
		}
		switch (op) {
		case 0x00: /* nop */
		case 0x2e: /* GNU_args_size: landing pads only */
			if (op)
				rd_uleb(&r);
			break;
		case 0x02: /* advance_loc1, 2, 4 */
		case 0x03:
		case 0x04: {
			static const uint8_t width[] = {1, 2, 4};
			uint64_t d = rd_bytes(&r, width[op - 0x02]);

			if (!r.bad && advance(x, d))
				return 1;
			break;
		}
		case 0x0a: /* remember_state */
		case 0x0b: /* restore_state */
			err = remember(x, w, op == 0x0a);
			break;
		case 0x0c:
		case 0x0d:
		case 0x0e:
		case 0x0f:
		case 0x12:
		case 0x13:
			err = def_cfa(w, &r, op, x->c->data_align);
			break;
		default:
			err = reg_op(x, w, &r, op);
			break;
		}
	}
	return r.bad || err ? -EINVAL : 0;
}

/* What the walker needs from pc's row. */
static void classify(const struct row *w, struct ms_cfi_rule *out)
{
	*out = (struct ms_cfi_rule){0};
	out->kind = MS_CFI_OTHER;
	if (w->cfa_expr || (w->cfa_reg != REG_RSP && w->cfa_reg != REG_RBP))
		return;
	if (w->cfa_off < INT32_MIN || w->cfa_off > INT32_MAX ||
	    w->rsp.how != R_SAME)
		return;
	if (w->ra.how == R_UNDEF || w->rbp.how == R_UNDEF) {
		/* the end of the chain (libunwind: unw_step() returns 0) */
		out->kind = MS_CFI_LAST;
		return;
	}
	if (w->ra.how != R_OFFSET || w->ra.off != -8)
		return;
	if (w->rbp.how == R_OFFSET) {
		if (w->rbp.off < INT16_MIN || w->rbp.off > INT16_MAX)
			return;
		out->flags |= MS_CFI_RBP_SAVED;
		out->rbp_off = (int16_t)w->rbp.off;
	} else if (w->rbp.how != R_SAME) {
		return;
	}
	if (w->cfa_reg == REG_RBP)
		out->flags |= MS_CFI_CFA_RBP;
	out->cfa_off = (int32_t)w->cfa_off;
	out->kind = MS_CFI_PLAIN;
}

int ms_cfi_rule_fde(const uint8_t *fde, uintptr_t pc, struct ms_cfi_rule *out)
{
	struct rd r;
	struct cie c;
	struct row init = {.cfa_reg = ~0ull}, w;
	struct run x = {0};
	uint64_t cie_off;
	uintptr_t begin, range;

	*out = (struct ms_cfi_rule){0};
	if (rd_record(fde, &r) < 0)
		return -EINVAL;
	cie_off = rd_bytes(&r, 4);
	if (r.bad || cie_off == 0 || read_cie(fde + 4 - cie_off, &c) < 0)
		return -EINVAL;
	begin = rd_enc(&r, c.fde_enc);
	range = rd_enc(&r, c.fde_enc & 0x0f);
	if (c.aug_z)
		skip_block(&r);
	if (r.bad)
		return -EINVAL;
	if (pc < begin || pc - begin >= range)
		return -ENOENT;
	x.c = &c;
	x.loc = begin;
	x.pc = pc;
	if (run_cfi(&x, &init, c.insn, c.end) != 0)
		return -EINVAL; /* a CIE ends its program; no rows of its own */
	x.init = &init;
	x.nsaved = 0;
	w = init;
	if (run_cfi(&x, &w, r.p, r.end) < 0)
		return -EINVAL;
	classify(&w, out);
	return 0;
}

#if defined(DLFO_STRUCT_HAS_EH_DBASE)
/*
 * The PT_GNU_EH_FRAME of the object holding pc. _dl_find_object() (glibc
 * 2.35) takes no lock: this runs inside the program's malloc, which may be
 * called with the loader's locks held (dlopen constructors) or inside
 * another thread's dl_iterate_phdr() callback.
 */
static const uint8_t *eh_frame_hdr_of(uintptr_t pc)
{
	struct dl_find_object o;

	if (_dl_find_object((void *)pc, &o) != 0)
		return NULL;
	return o.dlfo_eh_frame;
}
#else
struct find {
	uintptr_t pc;
	const uint8_t *hdr; /* PT_GNU_EH_FRAME of the object holding pc */
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	const uint8_t *hdr = NULL;
	int in = 0;

	if (size < offsetof(struct dl_phdr_info, dlpi_phnum) +
			   sizeof(info->dlpi_phnum))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && f->pc >= a &&
		    f->pc - a < ph->p_memsz)
			in = 1;
		else if (ph->p_type == PT_GNU_EH_FRAME)
			hdr = (const uint8_t *)a;
	}
	if (in)
		f->hdr = hdr;
	return in;
}

/* Older glibc: the loader's list, under its (recursive) lock. */
static const uint8_t *eh_frame_hdr_of(uintptr_t pc)
{
	struct find f = {pc, NULL};

	return dl_iterate_phdr(find_object, &f) ? f.hdr : NULL;
}
#endif

/* The FDE that may cover pc, from .eh_frame_hdr's sorted table. */
static const uint8_t *search_fde(const uint8_t *hdr, uintptr_t pc)
{
	struct rd r = {hdr + 4, hdr + 4 + 8 + 4, 0, 0};
	const uint8_t *tab;
	uint64_t n, lo = 0;

	/* version 1; count udata4; table of datarel sdata4 pairs */
	if (hdr[0] != 1 || hdr[2] != PE_UDATA4 ||
	    hdr[3] != (PE_DATAREL | PE_SDATA4))
		return NULL;
	rd_enc(&r, hdr[1]); /* eh_frame_ptr: not needed */
	r.end = r.p + 4;
	n = rd_bytes(&r, 4);
	if (r.bad || n == 0)
		return NULL;
	tab = r.p;
	/* the last entry whose initial location is <= pc */
	while (n > 1) {
		uint64_t half = n / 2;
		struct rd e = {tab + 8 * (lo + half), tab + 8 * (lo + half) + 4,
			       (uintptr_t)hdr, 0};

		if (rd_enc(&e, PE_DATAREL | PE_SDATA4) <= pc)
			lo += half;
		n -= half;
	}
	{
		struct rd e = {tab + 8 * lo, tab + 8 * lo + 8, (uintptr_t)hdr,
			       0};

		if (rd_enc(&e, PE_DATAREL | PE_SDATA4) > pc)
			return NULL;
		return (const uint8_t *)rd_enc(&e, PE_DATAREL | PE_SDATA4);
	}
}

void ms_cfi_rule(uintptr_t pc, struct ms_cfi_rule *r)
{
	const uint8_t *hdr = eh_frame_hdr_of(pc), *fde;

	*r = (struct ms_cfi_rule){0};
	r->kind = MS_CFI_OTHER;
	if (!hdr)
		return;
	fde = search_fde(hdr, pc);
	if (!fde || ms_cfi_rule_fde(fde, pc, r) < 0)
		r->kind = MS_CFI_OTHER;
}
