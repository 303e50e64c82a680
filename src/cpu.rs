//! The processor: how many threads the work runs on, and which vector instructions the
//! hand-written kernels may use. Every module may use this one; it uses none of the crate's.

/// The widest vector instructions of this processor that the hand-written kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstructionSet {
    /// Neither of the below (or not an x86-64 processor): plain Rust, vectorised by the compiler.
    Plain,
    /// AVX2 with fused multiply-add: most x86-64 processors since 2013-2015.
    Avx2Fma,
    /// AVX-512 (with AVX2 and FMA).
    Avx512,
}

/// What this processor has (in tests, at most what the test allows on its thread, so that each
/// instruction set's code is tested on a machine that has the widest).
pub fn instruction_set() -> InstructionSet {
    #[cfg(target_arch = "x86_64")]
    let fma = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(target_arch = "x86_64")]
    let best = if fma && std::arch::is_x86_feature_detected!("avx512f") {
        InstructionSet::Avx512
    } else if fma {
        InstructionSet::Avx2Fma
    } else {
        InstructionSet::Plain
    };
    #[cfg(not(target_arch = "x86_64"))]
    let best = InstructionSet::Plain;
    #[cfg(test)]
    let best = best.min(INSTRUCTION_SET_LIMIT.with(|l| l.get()));
    best
}

#[cfg(test)]
thread_local! {
    /// The widest instruction set [`instruction_set`] may report on this thread (tests only:
    /// they call the kernels on their own thread; work rayon runs on its threads still sees the
    /// widest).
    pub(crate) static INSTRUCTION_SET_LIMIT: std::cell::Cell<InstructionSet> = const { std::cell::Cell::new(InstructionSet::Avx512) };
}

/// Sets how many threads the matrix products and the optimiser use (all cores by default).
/// Call it before any work starts: the thread pool is made once.
pub fn set_threads(threads: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| format!("cannot set the number of threads to {threads}: {e}"))
}

/// Threads the parallel work is split over.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Runs `work` on one of rayon's threads (this one, if it is one), waiting for it: the parallel
/// parts of the work then start without waking a thread and handing the work over, which a
/// training step does a dozen times (`cargo bench --bench steps` measures the difference).
/// Rayon's threads have 2 MB stacks (the work here keeps its data on the heap); and when two
/// threads of a program call this at once, one call's work may run inside the other's wait.
pub fn on_a_worker<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}
