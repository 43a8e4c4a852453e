// The emulator's scheduler: runs a launch block after block; within a block every CUDA thread is a
// fiber with its own stack, switched at barriers, warp collectives and exit.
//
// Strictness, to catch kernel bugs the GPU would hide or punish: a __syncthreads that some threads
// of the block can no longer reach (they exited), a warp collective whose mask names an exited or
// absent lane, and a deadlock are launch errors. RG_EMU_ORDER=reverse runs threads in reverse
// order, which exposes missing barriers in the other direction.

#include "emu.h"

#include <sys/mman.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

extern "C" void rg_emu_ctx_switch(void** save_sp, void* load_sp);
extern "C" void rg_emu_fiber_start();

#if defined(__x86_64__)
// Saves the callee-saved registers and the SSE/x87 control words on the current stack, stores the
// stack pointer in *save_sp, and resumes the fiber whose stack pointer is load_sp.
asm(R"(
    .text
    .globl rg_emu_ctx_switch
    .type rg_emu_ctx_switch,@function
rg_emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size rg_emu_ctx_switch, .-rg_emu_ctx_switch

    .globl rg_emu_fiber_start
    .type rg_emu_fiber_start,@function
rg_emu_fiber_start:
    movq %rbx, %rdi
    callq *%r12
    ud2
    .size rg_emu_fiber_start, .-rg_emu_fiber_start
)");
#else
#error "the CUDA emulator needs x86-64"
#endif

namespace rg_emu {

enum State { READY, BLOCK_WAIT, WARP_WAIT, DONE };

struct Fiber {
    void* sp = nullptr;
    char* stack = nullptr;
    uint3 tid{0, 0, 0};
    unsigned linear = 0;
    State state = READY;
    unsigned wait_gen = 0;
};

struct Warp {
    unsigned arrived = 0;
    unsigned gen = 0;
    unsigned long long slots[2][32];
};

static const std::size_t STACK_BYTES = 256 * 1024;
static const std::size_t GUARD_BYTES = 4096;

Fiber* g_cur = nullptr;
uint3 g_block_idx{0, 0, 0};
dim3 g_block_dim{1, 1, 1};
dim3 g_grid_dim{1, 1, 1};
unsigned char* g_dyn_smem = nullptr;

static void* g_sched_sp = nullptr;
static void** g_params = nullptr;
static Runner g_run = nullptr;
static std::vector<Fiber> g_fibers;
static std::vector<char*> g_stacks;
static std::vector<Warp> g_warps;
static std::vector<unsigned char> g_smem;
static unsigned g_alive = 0;
static unsigned g_barrier_arrived = 0;
static unsigned g_nthreads = 0;
static std::string g_error;

static std::unordered_map<std::string, Entry>& registry() {
    static std::unordered_map<std::string, Entry> r;
    return r;
}

void add_entries(const Entry* e, int n) {
    for (int i = 0; i < n; ++i) registry()[e[i].name] = e[i];
}

const uint3& thread_idx() { return g_cur->tid; }
unsigned linear_lane() { return g_cur->linear % 32u; }

static void yield_to_scheduler() { rg_emu_ctx_switch(&g_cur->sp, g_sched_sp); }

// Marks the launch failed and parks this fiber for good (the scheduler abandons the block).
[[noreturn]] static void fail(const std::string& what) {
    if (g_error.empty()) g_error = what;
    g_cur->state = DONE;
    for (;;) yield_to_scheduler();
}

void trap(const char* what) { fail(std::string("kernel trap: ") + what); }

static void release_block_barrier() {
    for (auto& f : g_fibers)
        if (f.state == BLOCK_WAIT) f.state = READY;
    g_barrier_arrived = 0;
}

void syncthreads() {
    if (g_alive != g_nthreads) fail("__syncthreads() after some threads of the block exited");
    g_barrier_arrived++;
    if (g_barrier_arrived == g_nthreads) {
        release_block_barrier();
        return;
    }
    g_cur->state = BLOCK_WAIT;
    yield_to_scheduler();
}

const unsigned long long* warp_exchange(unsigned mask, unsigned long long v) {
    unsigned lane = g_cur->linear % 32u;
    unsigned warp = g_cur->linear / 32u;
    if (!((mask >> lane) & 1u)) fail("warp collective called by a lane outside its mask");
    unsigned expected = (unsigned)__builtin_popcount(mask);
    for (unsigned l = 0; l < 32; ++l) {
        if (!((mask >> l) & 1u)) continue;
        unsigned t = warp * 32u + l;
        if (t >= g_nthreads || g_fibers[t].state == DONE)
            fail("warp collective whose mask names an exited or absent lane");
    }
    Warp& w = g_warps[warp];
    unsigned gen = w.gen;
    w.slots[gen & 1u][lane] = v;
    w.arrived++;
    if (w.arrived == expected) {
        w.arrived = 0;
        w.gen++;
        for (unsigned l = 0; l < 32; ++l) {
            unsigned t = warp * 32u + l;
            if (t < g_nthreads && g_fibers[t].state == WARP_WAIT && g_fibers[t].wait_gen == gen)
                g_fibers[t].state = READY;
        }
        return w.slots[gen & 1u];
    }
    g_cur->state = WARP_WAIT;
    g_cur->wait_gen = gen;
    yield_to_scheduler();
    return w.slots[gen & 1u];
}

}  // namespace rg_emu

using namespace rg_emu;

extern "C" void rg_emu_fiber_main(Fiber* f) {
    (void)f;
    g_run(g_params);
    g_cur->state = DONE;
    g_alive--;
    if (g_barrier_arrived > 0 && g_barrier_arrived == g_alive)
        g_error = g_error.empty() ? "a thread exited while the others wait at __syncthreads()" : g_error;
    for (;;) rg_emu_ctx_switch(&g_cur->sp, g_sched_sp);
}

static char* new_stack() {
    void* p = mmap(nullptr, STACK_BYTES + GUARD_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    mprotect(p, GUARD_BYTES, PROT_NONE);  // overflow faults instead of corrupting a neighbour
    return static_cast<char*>(p);
}

static bool prepare(Fiber& f) {
    char* top = f.stack + GUARD_BYTES + STACK_BYTES;
    // Stack at resume: [csr][r15][r14][r13][r12 = entry][rbx = arg][rbp][ret = fiber_start].
    std::uintptr_t sp = reinterpret_cast<std::uintptr_t>(top) - 64;
    sp &= ~static_cast<std::uintptr_t>(15);  // sp + 64 must be 16-aligned at fiber_start
    std::uint64_t* s = reinterpret_cast<std::uint64_t*>(sp);
    std::uint32_t csr[2] = {0x1F80u, 0x037Fu};
    std::memcpy(&s[0], csr, 8);
    s[1] = 0;  // r15
    s[2] = 0;  // r14
    s[3] = 0;  // r13
    s[4] = reinterpret_cast<std::uint64_t>(&rg_emu_fiber_main);
    s[5] = reinterpret_cast<std::uint64_t>(&f);
    s[6] = 0;  // rbp
    s[7] = reinterpret_cast<std::uint64_t>(&rg_emu_fiber_start);
    f.sp = reinterpret_cast<void*>(sp);
    return true;
}

static std::mutex& launch_lock() {
    static std::mutex m;
    return m;
}

// Runs one block; false (with g_error set) on a kernel fault.
static bool run_block(bool reverse) {
    unsigned n = g_nthreads;
    for (unsigned t = 0; t < n; ++t) {
        Fiber& f = g_fibers[t];
        f.state = READY;
        f.wait_gen = 0;
        f.linear = t;
        f.tid.x = t % g_block_dim.x;
        f.tid.y = (t / g_block_dim.x) % g_block_dim.y;
        f.tid.z = t / (g_block_dim.x * g_block_dim.y);
        f.stack = g_stacks[t];
        prepare(f);
    }
    for (auto& w : g_warps) {
        w.arrived = 0;
        w.gen = 0;
    }
    g_alive = n;
    g_barrier_arrived = 0;
    if (!g_smem.empty()) std::memset(g_smem.data(), 0xff, g_smem.size());  // NaN garbage
    while (g_alive > 0) {
        bool progressed = false;
        for (unsigned k = 0; k < n; ++k) {
            unsigned t = reverse ? n - 1 - k : k;
            Fiber& f = g_fibers[t];
            if (f.state != READY) continue;
            g_cur = &f;
            rg_emu_ctx_switch(&g_sched_sp, f.sp);
            progressed = true;
            if (!g_error.empty()) return false;
        }
        if (!progressed && g_alive > 0) {
            g_error = "deadlock: every live thread waits (mismatched __syncthreads or warp collective)";
            return false;
        }
    }
    return true;
}

extern "C" int rg_emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                             unsigned bz, unsigned smem_bytes, void** params, const unsigned* sizes,
                             unsigned nparams, char* err, unsigned errlen) {
    std::lock_guard<std::mutex> guard(launch_lock());
    auto set_err = [&](const std::string& m) {
        if (errlen == 0) return;
        std::size_t k = m.size() < errlen - 1 ? m.size() : errlen - 1;
        std::memcpy(err, m.data(), k);
        err[k] = 0;
    };
    auto it = registry().find(name);
    if (it == registry().end()) {
        set_err(std::string("named symbol not found: ") + name);
        return 1;
    }
    const Entry& entry = it->second;
    if (entry.arity != nparams) {
        set_err(std::string("kernel ") + name + " takes " + std::to_string(entry.arity) + " parameters, " +
                std::to_string(nparams) + " passed");
        return 1;
    }
    for (unsigned i = 0; i < nparams; ++i) {
        if (entry.sizes[i] != sizes[i]) {
            set_err(std::string("kernel ") + name + ": parameter " + std::to_string(i) + " has " +
                    std::to_string(entry.sizes[i]) + " bytes, " + std::to_string(sizes[i]) + " passed");
            return 1;
        }
    }
    unsigned long long threads = (unsigned long long)bx * by * bz;
    // A block larger than the kernel's __launch_bounds__ is refused by the driver too.
    if (threads == 0 || threads > entry.max_threads || bz > 64 || gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 ||
        smem_bytes > 227 * 1024) {
        set_err("invalid launch configuration (too many resources requested for launch)");
        return 2;
    }
    g_nthreads = (unsigned)threads;
    while (g_stacks.size() < g_nthreads) {
        char* s = new_stack();
        if (!s) {
            set_err("emulator: cannot allocate fiber stacks");
            return 3;
        }
        g_stacks.push_back(s);
    }
    g_fibers.assign(g_nthreads, Fiber());
    g_warps.assign((g_nthreads + 31) / 32, Warp());
    g_smem.assign(smem_bytes, 0);
    g_dyn_smem = g_smem.empty() ? nullptr : g_smem.data();
    g_block_dim = dim3{bx, by, bz};
    g_grid_dim = dim3{gx, gy, gz};
    g_params = params;
    g_run = entry.run;
    g_error.clear();
    const char* order = std::getenv("RG_EMU_ORDER");
    bool reverse = order && std::strcmp(order, "reverse") == 0;
    // RG_EMU_ORDER=reverse runs the blocks, and the threads of each block, last first: a kernel
    // whose result depends on either order (a race on the GPU) then gives another result.
    for (unsigned zz = 0; zz < gz; ++zz)
        for (unsigned yy = 0; yy < gy; ++yy)
            for (unsigned xx = 0; xx < gx; ++xx) {
                unsigned x = reverse ? gx - 1 - xx : xx, y = reverse ? gy - 1 - yy : yy, z = reverse ? gz - 1 - zz : zz;
                g_block_idx = uint3{x, y, z};
                if (!run_block(reverse)) {
                    char where[96];
                    std::snprintf(where, sizeof where, " (block %u,%u,%u)", x, y, z);
                    set_err(g_error + where);
                    g_cur = nullptr;
                    return 3;
                }
            }
    g_cur = nullptr;
    return 0;
}
