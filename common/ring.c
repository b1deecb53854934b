/* SPDX-License-Identifier: MIT */
#include "ring.h"

#include "nocancel.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS_RING_SEALS_REQUIRED (F_SEAL_SHRINK)

uint64_t ms_ring_size_from_kb(uint64_t kb)
{
	uint64_t want =
		kb > (MS_RING_MAX_DATA >> 10) ? MS_RING_MAX_DATA : kb << 10;
	uint64_t size = MS_RING_MIN_DATA;

	while (size < want && size < MS_RING_MAX_DATA)
		size <<= 1;
	return size;
}

static int valid_data_size(uint64_t size)
{
	return size >= MS_RING_MIN_DATA && size <= MS_RING_MAX_DATA &&
	       (size & (size - 1)) == 0;
}

/*
 * Maps header + data, then the data a second time right after it, inside
 * one reserved span so nothing else can land in between.
 */
static int map_double(int fd, uint64_t data_size, struct ms_ring *r)
{
	size_t len = MS_RING_HDR_SIZE + 2 * data_size;
	uint8_t *base, *p;
	void *m;

	m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	base = m;
	p = mmap(base, MS_RING_HDR_SIZE + data_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED)
		goto out_err;
	p = mmap(base + MS_RING_HDR_SIZE + data_size, data_size,
		 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 MS_RING_HDR_SIZE);
	if (p == MAP_FAILED)
		goto out_err;
	r->hdr = m; /* page-aligned */
	r->data = base + MS_RING_HDR_SIZE;
	r->size = data_size;
	r->mask = data_size - 1;
	r->map_len = len;
	r->fd = fd;
	return 0;
out_err:;
	int err = -errno;
	munmap(base, len);
	return err;
}

static int make_memfd(uint64_t data_size)
{
	off_t len = (off_t)(MS_RING_HDR_SIZE + data_size);
	int fd, err;

	fd = memfd_create("memscope-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, len) < 0)
		goto out_errno;
	/* Commit the pages now: a full tmpfs fails here, not as SIGBUS. */
	err = ms_nc_fallocate(fd, 0, 0, len);
	if (err < 0 && err != -EOPNOTSUPP)
		goto out_close;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
	    0)
		goto out_errno;
	return fd;
out_errno:
	err = -errno;
out_close:
	ms_nc_close(fd);
	return err;
}

int ms_ring_create(uint64_t data_size, uint32_t pid, uint32_t tid,
		   struct ms_ring *r)
{
	struct ms_ring_hdr *h;
	int fd, err;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!valid_data_size(data_size))
		return -EINVAL;
	fd = make_memfd(data_size);
	if (fd < 0)
		return fd;
	err = map_double(fd, data_size, r);
	if (err) {
		ms_nc_close(fd);
		return err;
	}
	h = r->hdr; /* fresh memfd pages are zero */
	h->magic = MS_RING_MAGIC;
	h->major = MS_RING_MAJOR;
	h->minor = MS_RING_MINOR;
	h->hdr_size = MS_RING_HDR_SIZE;
	h->endian = MS_ENDIAN_MARK;
	h->data_size = data_size;
	h->pid = pid;
	h->word_size = sizeof(void *);
	h->tid = tid;
	h->generation = 1;
	ms_store_release(&h->state, MS_RING_ACTIVE);
	return 0;
}

static int check_header(const struct ms_ring_hdr *h, uint64_t file_size)
{
	if (h->magic != MS_RING_MAGIC || h->major != MS_RING_MAJOR ||
	    h->hdr_size != MS_RING_HDR_SIZE || h->endian != MS_ENDIAN_MARK)
		return -EPROTO;
	if (!valid_data_size(h->data_size) ||
	    file_size != MS_RING_HDR_SIZE + h->data_size)
		return -EPROTO;
	return 0;
}

int ms_ring_attach(int fd, struct ms_ring *r)
{
	struct ms_ring_hdr hdr;
	struct stat st;
	uint64_t data_size;
	int seals, err;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return errno == EINVAL ? -EPROTO : -errno; /* not a memfd */
	if ((seals & MS_RING_SEALS_REQUIRED) != MS_RING_SEALS_REQUIRED)
		return -EPROTO;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < MS_RING_HDR_SIZE + MS_RING_MIN_DATA)
		return -EPROTO;
	/* Read the header through pread: the mapping size depends on it. */
	if (pread(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return -EPROTO;
	err = check_header(&hdr, (uint64_t)st.st_size);
	if (err)
		return err;
	data_size = hdr.data_size; /* private copy: never re-read */
	err = map_double(fd, data_size, r);
	if (err)
		return err;
	r->pos = ms_load_acquire(&r->hdr->tail);
	r->other = r->pos;
	return 0;
}

void ms_ring_unmap(struct ms_ring *r)
{
	if (r->hdr)
		munmap(r->hdr, r->map_len);
	if (r->fd >= 0)
		ms_nc_close(r->fd);
	r->hdr = NULL;
	r->data = NULL;
	r->fd = -1;
}

int ms_ring_reuse(struct ms_ring *r, uint32_t tid)
{
	struct ms_ring_hdr *h = r->hdr;

	/* Pairs with the consumer's store_release(DRAINED). */
	if (ms_load_acquire(&h->state) != MS_RING_DRAINED)
		return -EBUSY;
	r->other = ms_load_acquire(&h->tail);
	h->tid = tid;
	h->generation++;
	/* Pairs with the consumer's load_acquire(state): tid, generation. */
	ms_store_release(&h->state, MS_RING_ACTIVE);
	return 0;
}
