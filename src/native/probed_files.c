// SPDX-License-Identifier: Apache-2.0
/*
 * The files the pump has looked at for TLS probes, and when to let them go.
 *
 * A uprobe holds its file: probes on an executable that no process runs any more (a `go run`
 * binary, each run a new file, deleted afterwards) kept the deleted file's blocks allocated,
 * two descriptors per probe open in the pump, and its exit waiting ~28 ms per probe (30 such
 * runs: 740 descriptors, 27 s to exit). Each scan of /proc marks what is in use; a file unused
 * for a few scans in a row is forgotten (looked at afresh if it runs again) and its probes
 * detached on a thread of their own, so the ring buffer is drained meanwhile.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "probed_files.h"

/* Files looked at (libraries and executables): beyond, new ones are looked at on each exec. */
#define MAX_FILES 8192

/* A libbpf link, or a link's descriptor (link NULL). */
struct detach_item {
	struct bpf_link *link;
	int fd;
};

struct probed_files {
	struct file_rec *recs;
	int n, cap;
	/* Links waiting to be detached by the thread. */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct detach_item *queue;
	int queued, capqueue;
	bool stop;
	/* The main thread is attaching probes: detaching waits (see probed_files_attaching). */
	bool attaching;
};

/* A perf-event uprobe's detach (libraries; Go's too before Linux 6.6) holds the kernel's
 * event_mutex through two grace periods (~28 ms here), and every such attach takes that mutex:
 * detaching flat out (30 unused executables: ~8 s) held up the probing of new programs (100
 * fresh 15-ms Go clients, 0.3 s apart: 11 not whole, all while a sweep was being detached).
 * Detaches are spaced, and wait while probes are attached. */
#define DETACH_GAP_NS (100 * 1000 * 1000L)

static void *detach_loop(void *arg)
{
	struct probed_files *pf = arg;
	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (pf->queued == 0 && !pf->stop)
			pthread_cond_wait(&pf->cv, &pf->mu);
		if (pf->queued == 0)
			break; /* stopping, and nothing left */
		if (pf->attaching && !pf->stop) {
			pthread_cond_wait(&pf->cv, &pf->mu);
			continue;
		}
		struct detach_item it = pf->queue[--pf->queued];
		pthread_mutex_unlock(&pf->mu);
		if (it.link)
			bpf_link__destroy(it.link);
		else
			close(it.fd);
		pthread_mutex_lock(&pf->mu);
		if (!pf->stop) { /* at exit, as fast as it goes */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += DETACH_GAP_NS;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!pf->stop && pthread_cond_timedwait(&pf->cv, &pf->mu, &until) == 0)
				; /* woken early (new work, or attaching): the gap still holds */
		}
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

struct probed_files *probed_files_new(void)
{
	struct probed_files *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return NULL;
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	if (pthread_create(&pf->thread, NULL, detach_loop, pf) != 0) {
		free(pf);
		return NULL;
	}
	return pf;
}

void probed_files_attaching(struct probed_files *pf, bool on)
{
	pthread_mutex_lock(&pf->mu);
	pf->attaching = on;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
}

struct file_rec *probed_files_use(struct probed_files *pf, const struct stat *st)
{
	for (int i = 0; i < pf->n; i++)
		if (pf->recs[i].dev == st->st_dev && pf->recs[i].ino == st->st_ino) {
			pf->recs[i].used = true;
			return &pf->recs[i];
		}
	return NULL;
}

struct file_rec *probed_files_add(struct probed_files *pf, const struct stat *st)
{
	if (pf->n == pf->cap) {
		if (pf->cap == MAX_FILES)
			return NULL;
		int cap = pf->cap ? pf->cap * 2 : 64;
		struct file_rec *r = realloc(pf->recs, sizeof(*r) * (size_t)cap);
		if (!r)
			return NULL;
		pf->recs = r;
		pf->cap = cap;
	}
	struct file_rec *r = &pf->recs[pf->n++];
	memset(r, 0, sizeof(*r));
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->used = true;
	return r;
}

/* Hands a file's probes to the detaching thread; if it cannot take them, detaches them here. */
static void detach_later(struct probed_files *pf, const struct file_rec *r)
{
	int n = r->nlinks + r->nfds;
	if (n == 0)
		return;
	pthread_mutex_lock(&pf->mu);
	if (pf->queued + n > pf->capqueue) {
		int cap = pf->capqueue ? pf->capqueue * 2 : 256;
		while (cap < pf->queued + n)
			cap *= 2;
		struct detach_item *q = realloc(pf->queue, sizeof(*q) * (size_t)cap);
		if (!q) {
			pthread_mutex_unlock(&pf->mu);
			for (int i = 0; i < r->nlinks; i++)
				bpf_link__destroy(r->links[i]);
			for (int i = 0; i < r->nfds; i++)
				close(r->fds[i]);
			return;
		}
		pf->queue = q;
		pf->capqueue = cap;
	}
	for (int i = 0; i < r->nlinks; i++)
		pf->queue[pf->queued++] = (struct detach_item){ .link = r->links[i], .fd = -1 };
	for (int i = 0; i < r->nfds; i++)
		pf->queue[pf->queued++] = (struct detach_item){ .link = NULL, .fd = r->fds[i] };
	pthread_cond_signal(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
}

void probed_files_sweep(struct probed_files *pf, int after)
{
	for (int i = 0; i < pf->n;) {
		struct file_rec *r = &pf->recs[i];
		if (r->pinned || r->used) {
			r->idle = 0;
			r->used = false;
			i++;
			continue;
		}
		if (++r->idle < after) {
			i++;
			continue;
		}
		detach_later(pf, r);
		pf->recs[i] = pf->recs[--pf->n]; /* the last takes its place: look at slot i again */
	}
}

void probed_files_free(struct probed_files *pf)
{
	if (!pf)
		return;
	for (int i = 0; i < pf->n; i++)
		detach_later(pf, &pf->recs[i]);
	pthread_mutex_lock(&pf->mu);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	pthread_join(pf->thread, NULL);
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cv);
	free(pf->queue);
	free(pf->recs);
	free(pf);
}
