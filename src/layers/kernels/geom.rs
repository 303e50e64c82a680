//! The sizes of a convolution: images, channels, window, stride and padding, and where each
//! output's window lies in the image.

/// Sizes of one convolution call: `batch` images of `inp x h x w` to `out x ho x wo`, windows of
/// `k x k` moved `s` pixels at a time over the image padded with `pt` zero rows above and `pl`
/// zero columns on the left (and as many below and on the right as [`ConvGeom::new`] was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub batch: usize,
    pub inp: usize,
    pub out: usize,
    pub k: usize,
    pub h: usize,
    pub w: usize,
    pub s: usize,
    pub pt: usize,
    pub pl: usize,
    ho: usize,
    wo: usize,
}

impl ConvGeom {
    /// Stride 1, no padding: `ho = h - k + 1`.
    #[cfg(test)]
    pub fn valid(batch: usize, inp: usize, out: usize, k: usize, h: usize, w: usize) -> Self {
        ConvGeom::new(batch, inp, out, k, (h, w), 1, (0, 0), (0, 0))
    }
    /// Any stride; `(top, bottom)` and `(left, right)` zero padding.
    #[allow(clippy::too_many_arguments)]
    pub fn new(batch: usize, inp: usize, out: usize, k: usize, (h, w): (usize, usize), s: usize, (pt, pb): (usize, usize), (pl, pr): (usize, usize)) -> Self {
        let ho = (h + pt + pb - k) / s + 1;
        let wo = (w + pl + pr - k) / s + 1;
        ConvGeom { batch, inp, out, k, h, w, s, pt, pl, ho, wo }
    }
    /// The same convolution on `batch` images.
    pub fn with_batch(&self, batch: usize) -> Self {
        ConvGeom { batch, ..*self }
    }
    pub fn ho(&self) -> usize {
        self.ho
    }
    pub fn wo(&self) -> usize {
        self.wo
    }
    /// Only the top-left `ho x wo` outputs (fewer than [`ConvGeom::new`] gives): those that a
    /// pooling after the convolution reads, when its windows leave the last rows or columns out.
    pub fn cropped(&self, ho: usize, wo: usize) -> Self {
        ConvGeom { ho: ho.min(self.ho), wo: wo.min(self.wo), ..*self }
    }
    /// Stride 1 and no padding: each patch row is a run of contiguous pixels.
    pub fn is_plain(&self) -> bool {
        self.s == 1 && self.pt == 0 && self.pl == 0 && self.ho + self.k <= self.h + 1 && self.wo + self.k <= self.w + 1
    }
    /// The image pixel under tap `(ky, kx)` of the window at output `(r, c)`, if it is not padding.
    #[inline(always)]
    pub fn pixel(&self, r: usize, c: usize, ky: usize, kx: usize) -> Option<usize> {
        let y = (r * self.s + ky).checked_sub(self.pt).filter(|&y| y < self.h)?;
        let x = (c * self.s + kx).checked_sub(self.pl).filter(|&x| x < self.w)?;
        Some(y * self.w + x)
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.inp * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out * self.ho() * self.wo()
    }
}
