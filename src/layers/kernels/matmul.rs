//! The matrix product, on `gemm`.

/// `c (+)= a * b` on this thread, all row-major: `a` is `[m, k]`, `b` is `[k, n]` (or, with
/// `b_transposed`, `b` holds `[n, k]` and its transpose is used), `c` is `[m, n]`.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], b_transposed: bool, c: &mut [f32], accumulate: bool) {
    let b_strides = if b_transposed { (1, k) } else { (n, 1) };
    matmul_strided(m, k, n, a, (k, 1), b, b_strides, c, accumulate, false);
}

/// `c (+)= a * b`, `c` row-major `[m, n]`; `a` (`m x k`) and `b` (`k x n`) are read through
/// their (row, column) strides, so either can be a transposed matrix. With `parallel`, on all of
/// rayon's threads (gemm splits the output, so each sum is still added in one order: the same
/// numbers on any number of threads); otherwise on this thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_strided(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    let threads = if parallel { crate::cpu::threads() } else { 1 };
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs;
    assert!(m * k == 0 || a.len() > last(m, k, a_rs, a_cs), "matmul: a too short");
    assert!(k * n == 0 || b.len() > last(k, n, b_rs, b_cs), "matmul: b too short");
    assert!(c.len() >= m * n, "matmul: c too short");
    // SAFETY: the asserts above keep every access inside the three slices; `c` does not alias them.
    unsafe {
        gemm::gemm(
            m, n, k,
            c.as_mut_ptr(), 1, n as isize, accumulate,
            a.as_ptr(), a_cs as isize, a_rs as isize,
            b.as_ptr(), b_cs as isize, b_rs as isize,
            1.0, 1.0, false, false, false,
            parallelism,
        )
    }
}
