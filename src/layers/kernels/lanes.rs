//! Sixteen `f32` lanes, for the loops the compiler does not vectorise well by itself: one
//! AVX-512 register, two AVX2 ones, or a plain array.

/// Lanes of the direct kernels' vectors.
pub(super) const LANES: usize = 16;

/// What [`super::direct::conv1_pool2_weight_grad`] needs of a vector.
///
/// # Safety
/// Every method may use instructions the processor lacks: call them only where the
/// implementing type's instruction set is known to be there (inside the function compiled
/// for it, which the dispatcher calls after checking).
pub(super) trait Lanes: Copy {
    unsafe fn zero() -> Self;
    unsafe fn load(a: &[f32; LANES]) -> Self;
    /// `self * x + acc`, lane by lane, one rounding (fused).
    unsafe fn mul_add(self, x: f32, acc: Self) -> Self;
    unsafe fn store(self, out: &mut [f32; LANES]);
}

/// Plain arrays, for processors where `f32::mul_add` is an instruction anyway (aarch64).
#[derive(Clone, Copy)]
#[allow(dead_code)]
pub(super) struct Scalar([f32; LANES]);

impl Lanes for Scalar {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar([0.0; LANES])
    }
    #[inline(always)]
    unsafe fn load(a: &[f32; LANES]) -> Self {
        Scalar(*a)
    }
    #[inline(always)]
    unsafe fn mul_add(self, x: f32, acc: Self) -> Self {
        Scalar(std::array::from_fn(|l| self.0[l].mul_add(x, acc.0[l])))
    }
    #[inline(always)]
    unsafe fn store(self, out: &mut [f32; LANES]) {
        *out = self.0;
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::*;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LANES;
    use super::Lanes;
    use std::arch::x86_64::*;

    /// One AVX-512 register.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx512(__m512);

    impl Lanes for Avx512 {
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx512(_mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn load(a: &[f32; LANES]) -> Self {
            // 16 floats are there to read.
            Avx512(_mm512_loadu_ps(a.as_ptr()))
        }
        #[inline(always)]
        unsafe fn mul_add(self, x: f32, acc: Self) -> Self {
            Avx512(_mm512_fmadd_ps(self.0, _mm512_set1_ps(x), acc.0))
        }
        #[inline(always)]
        unsafe fn store(self, out: &mut [f32; LANES]) {
            // 16 floats are there to write.
            _mm512_storeu_ps(out.as_mut_ptr(), self.0)
        }
    }

    /// Two AVX registers (AVX2 with FMA).
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx2(__m256, __m256);

    impl Lanes for Avx2 {
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx2(_mm256_setzero_ps(), _mm256_setzero_ps())
        }
        #[inline(always)]
        unsafe fn load(a: &[f32; LANES]) -> Self {
            // 16 floats are there to read.
            Avx2(_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(a.as_ptr().add(8)))
        }
        #[inline(always)]
        unsafe fn mul_add(self, x: f32, acc: Self) -> Self {
            let x = _mm256_set1_ps(x);
            Avx2(_mm256_fmadd_ps(self.0, x, acc.0), _mm256_fmadd_ps(self.1, x, acc.1))
        }
        #[inline(always)]
        unsafe fn store(self, out: &mut [f32; LANES]) {
            // 16 floats are there to write.
            _mm256_storeu_ps(out.as_mut_ptr(), self.0);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), self.1);
        }
    }
}
