//! The frame of every layer's backward pass on dfdx's tape.

/// Runs a backward step with the output's gradient `$gy` (a `Vec<f32>`) in hand: takes it out of
/// `$grads` so that the step may write the other gradients while reading it, and puts it back
/// afterwards (whether the step succeeds or not). The step is a block that may use `?` and ends
/// in `Ok(())`. A macro, not a function: dfdx does not export the type of a tensor's `ghost()`.
macro_rules! with_output_grad {
    ($grads:ident, $y:expr, |$gy:ident| $step:block) => {{
        let $gy = std::mem::take(&mut **$grads.get_or_alloc_mut($y)?);
        #[allow(clippy::redundant_closure_call)]
        let result: Result<(), CpuError> = (|| $step)();
        **$grads.get_or_alloc_mut($y)? = $gy;
        result
    }};
}
pub(crate) use with_output_grad;
