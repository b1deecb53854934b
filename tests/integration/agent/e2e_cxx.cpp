// SPDX-License-Identifier: MIT
// new/delete in their forms on a worker thread; each reaches the malloc
// family once, so the archive must hold exactly the printed counts.
#include <cstdio>
#include <new>
#include <pthread.h>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

struct alignas(64) Wide {
	char b[64];
};

// Stores through this keep the compiler from eliding new/delete pairs.
static void *volatile sink;

template <typename T> static T *keep(T *p)
{
	sink = p;
	return p;
}

static unsigned long allocs, frees;
static long tid;

// pthread, not std::thread: std::thread's state block is allocated by the
// creating thread and freed by the new one.
static void *worker(void *)
{
	{
		tid = syscall(SYS_gettid);
		for (int i = 0; i < 500; i++) {
			int *p = keep(new int(i));
			delete p;
			char *a = keep(new char[(i % 50) + 1]);
			delete[] a;
			Wide *w = keep(new Wide); // aligned new
			delete w;
			int *n = keep(new (std::nothrow) int[4]);
			delete[] n;
			allocs += 4;
			frees += 4;
		}
		std::vector<int> v;
		for (int i = 0; i < 1000; i++)
			v.push_back(i); // grows by doubling: 11 allocations
		allocs += 11;
		frees += 10;
		v.clear();
		v.shrink_to_fit();
		frees += 1;
	}
	return nullptr;
}

int main()
{
	pthread_t th;

	if (pthread_create(&th, nullptr, worker, nullptr) ||
	    pthread_join(th, nullptr))
		return 1;
	std::printf("EXPECT pid=%ld tid=%ld allocs=%lu frees=%lu\n",
		    (long)getpid(), tid, allocs, frees);
	return 0;
}
