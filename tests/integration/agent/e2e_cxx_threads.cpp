// SPDX-License-Identifier: MIT
// A C++ program as people write them: std::thread, iostreams, string
// streams, containers, thread_local objects with destructors, futures.
// Prints the same lines with and without the agent.
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

static std::mutex out_lock;
thread_local std::string scratch(200, 'x'); // destroyed at thread exit

static std::string work(int id)
{
	std::map<std::string, std::vector<int>> m;
	std::ostringstream os;

	for (int i = 0; i < 20000; i++) {
		std::ostringstream key;
		key << "k" << (i * 7919 + id) % 5000;
		m[key.str()].push_back(i);
	}
	scratch += std::to_string(m.size());
	os << "thread " << id << ": " << m.size() << " keys, "
	   << m.begin()->second.size() << " in the first";
	return os.str();
}

int main()
{
	std::vector<std::string> lines(8);
	std::vector<std::thread> ts;

	for (int i = 0; i < 8; i++)
		ts.emplace_back([i, &lines] {
			std::string s = work(i);
			std::lock_guard<std::mutex> g(out_lock);
			std::cerr << "done " << i << "\n"; // order varies: stderr
			lines[i] = s;
		});
	for (auto &t : ts)
		t.join();
	auto f = std::async(std::launch::async, [] { return work(99); });
	for (auto &l : lines)
		std::cout << l << std::endl;
	std::cout << f.get() << std::endl;
	return 0;
}
