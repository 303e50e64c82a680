//! One group of images through the transforms and the matrix products (one per position of the
//! transformed tile), forward and backward, compiled for the widest vector instructions the
//! processor has.
#![allow(clippy::too_many_arguments)] // a pass's inputs and its optional gradients, one by one
use super::super::matmul::matmul_strided;
use super::tiles::{inputs, padded_len, sized, sources, Padded, Scratch, Tables, SCRATCH};
use super::transform::{transform, Move};
use super::{tile_of, tiles, ConvGeom};
use crate::cpu::{instruction_set, InstructionSet};

/// The `points` matrix products of a group: `out[xi] = a[xi] x b[xi]` (`m x k` by `k x n`), each
/// read through the given strides.
#[allow(clippy::too_many_arguments)]
fn products(points: usize, m: usize, k: usize, n: usize, a: &[f32], a_strides: (usize, usize), b: &[f32], b_strides: (usize, usize), out: &mut [f32]) {
    for xi in 0..points {
        matmul_strided(m, k, n, &a[xi * m * k..][..m * k], a_strides, &b[xi * k * n..][..k * n], b_strides, &mut out[xi * m * n..][..m * n], false, false);
    }
}

/// One group's forward pass: `y` (the group's `[images, out, ho, wo]`) from `x`.
#[inline(always)]
fn group_forward_body(sc: &mut Scratch, g: &ConvGeom, u: &[f32], bias: &[f32], x: &[f32], y: &mut [f32], keep: Option<&mut [f32]>) {
    let ((th, tw), tile) = (tiles(g), tile_of(g));
    let (points, mm) = (tile.points(), tile.m() * tile.m());
    let images = x.len() / (g.inp * g.h * g.w);
    let n = images * th * tw;
    let np = padded_len(n);
    if sc.tables.0 != Some((*g, images)) {
        sc.tables = (Some((*g, images)), Tables::new(g, images));
    }
    let tables = &sc.tables.1;
    let v = match keep {
        Some(keep) => keep,
        None => sized(&mut sc.v, points * g.inp * n),
    };
    inputs(g, tables, x, v, &mut sc.t, &mut sc.plane);
    let m = sized(&mut sc.m, points * g.out * n);
    products(points, g.out, g.inp, n, u, (g.inp, 1), v, (n, 1), m);
    let plane = g.ho() * g.wo();
    // Each output channel's tiles moved back, out[m r + s][image, tile], then put in place.
    let out = sized(&mut sc.t, mm * np);
    for (o, &bo) in bias.iter().enumerate() {
        transform(tile, Move::Output, &m[o * n..], g.out * n, out, np, n);
        let maps = &mut y[o * plane..];
        for (e, to) in tables.output.chunks_exact(n).enumerate() {
            for (&i, v) in to.iter().zip(&out[e * np..][..n]) {
                // NONE is past the maps' end: those outputs do not exist.
                if let Some(m) = maps.get_mut(i as usize) {
                    *m = v + bo;
                }
            }
        }
    }
}

/// One group's backward pass, from `gy` (the group's `[images, out, ho, wo]`): the filter
/// gradient added to `gw` and the input gradient added to `gx`, each if asked for.
#[inline(always)]
fn group_backward_body(sc: &mut Scratch, g: &ConvGeom, u: &[f32], x: &[f32], kept: Option<&[f32]>, gy: &[f32], gw: Option<&mut [f32]>, gx: Option<&mut [f32]>) {
    let ((th, tw), tile) = (tiles(g), tile_of(g));
    let (points, mm) = (tile.points(), tile.m() * tile.m());
    let images = x.len() / (g.inp * g.h * g.w);
    let n = images * th * tw;
    let np = padded_len(n);
    let plane = g.ho() * g.wo();
    if sc.tables.0 != Some((*g, images)) {
        sc.tables = (Some((*g, images)), Tables::new(g, images));
    }
    let tables = &sc.tables.1;
    // dM = A dy Aᵀ for every tile of every output channel: [points][out][tiles].
    let dm = sized(&mut sc.dm, points * g.out * n);
    let dy = sized(&mut sc.t, mm * np);
    for o in 0..g.out {
        let maps = &gy[o * plane..];
        for (e, from) in tables.output.chunks_exact(n).enumerate() {
            // Past the last row or column the tiles' gradient is zero (no such outputs).
            for (d, &i) in dy[e * np..][..n].iter_mut().zip(from) {
                *d = maps.get(i as usize).copied().unwrap_or(0.0);
            }
        }
        transform(tile, Move::OutputGrad, dy, np, &mut dm[o * n..], g.out * n, n);
    }
    if let Some(gw) = gw {
        // dU = dM x Vᵀ: [points][out][inp], then dg = Gᵀ dU G for each (out, inp).
        let v: &[f32] = match kept {
            Some(kept) => kept,
            None => {
                let v = sized(&mut sc.v, points * g.inp * n);
                inputs(g, tables, x, v, &mut sc.t, &mut sc.plane);
                v
            }
        };
        let pairs = g.out * g.inp;
        let du = sized(&mut sc.m, points * pairs);
        products(points, g.out, n, g.inp, dm, (n, 1), v, (1, n), du);
        let taps = sized(&mut sc.t, 9 * pairs);
        transform(tile, Move::FilterGrad, du, pairs, taps, pairs, pairs);
        for (pair, f) in gw.chunks_exact_mut(9).enumerate() {
            for (tap, d) in f.iter_mut().enumerate() {
                *d += taps[tap * pairs + pair];
            }
        }
    }
    if let Some(gx) = gx {
        // dV = Uᵀ x dM: [points][inp][tiles], then dd = B dV Bᵀ added where each block came from.
        let dv = sized(&mut sc.v, points * g.inp * n);
        products(points, g.inp, g.out, n, u, (1, g.inp), dm, (n, 1), dv);
        let plane_in = g.h * g.w;
        if th * tw == 1 && tables.direct {
            // One block an image, inside it (a 3x3 map): no pixel is under two blocks, so each
            // entry is added straight onto its pixel (the sums of the sources below, without
            // their three zeros).
            let dd = sized(&mut sc.t, points * np);
            for c in 0..g.inp {
                transform(tile, Move::InputGrad, &dv[c * n..], g.inp * n, dd, np, n);
                let to = &mut gx[c * plane_in..];
                for (e, at) in tables.block.chunks_exact(n).enumerate() {
                    for (&i, v) in at.iter().zip(&dd[e * np..][..n]) {
                        to[i as usize] += v;
                    }
                }
            }
            return;
        }
        // dd holds one zero past its end, for the positions fewer than four blocks cover.
        let zero = points * np;
        if sc.sources.0 != Some((*g, images)) {
            sources(g, tables, images, np, zero as u32, &mut sc.sources.1);
            sc.sources.0 = Some((*g, images));
        }
        let table = &sc.sources.1;
        let dd = sized(&mut sc.t, zero + 1);
        dd[zero] = 0.0;
        let mut pad = Padded::new(g, 1, std::mem::take(&mut sc.plane));
        let read_len = if tables.direct { plane_in } else { pad.v.len() };
        assert!(table.len() == images * read_len * 4 && table.iter().all(|&i| (i as usize) <= zero));
        for c in 0..g.inp {
            transform(tile, Move::InputGrad, &dv[c * n..], g.inp * n, dd, np, n);
            for image in 0..images {
                let image_plane = &mut gx[(image * g.inp + c) * plane_in..][..plane_in];
                let from = table[image * read_len * 4..][..read_len * 4].chunks_exact(4);
                // SAFETY: every index of the table is at most `zero`, inside `dd` (asserted above).
                let sum = |i: &[u32]| unsafe { i.iter().map(|&i| *dd.get_unchecked(i as usize)).sum::<f32>() };
                if tables.direct {
                    for (d, i) in image_plane.iter_mut().zip(from) {
                        *d += sum(i);
                    }
                } else {
                    for (d, i) in pad.v.iter_mut().zip(from) {
                        *d = sum(i);
                    }
                    pad.add_into(g, 0, image_plane);
                }
            }
        }
        sc.plane = pad.v;
    }
}

/// [`group_forward_body`] with the widest vector instructions this processor has, on this
/// thread's buffers.
pub(super) fn group_forward(g: &ConvGeom, u: &[f32], bias: &[f32], x: &[f32], y: &mut [f32], keep: Option<&mut [f32]>) {
    SCRATCH.with_borrow_mut(|sc| {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx2")]
            unsafe fn avx512(sc: &mut Scratch, g: &ConvGeom, u: &[f32], bias: &[f32], x: &[f32], y: &mut [f32], keep: Option<&mut [f32]>) {
                group_forward_body(sc, g, u, bias, x, y, keep)
            }
            #[target_feature(enable = "avx2")]
            unsafe fn avx2(sc: &mut Scratch, g: &ConvGeom, u: &[f32], bias: &[f32], x: &[f32], y: &mut [f32], keep: Option<&mut [f32]>) {
                group_forward_body(sc, g, u, bias, x, y, keep)
            }
            match instruction_set() {
                // SAFETY: the processor has the features the function is compiled for.
                InstructionSet::Avx512 => return unsafe { avx512(sc, g, u, bias, x, y, keep) },
                // SAFETY: as above.
                InstructionSet::Avx2Fma => return unsafe { avx2(sc, g, u, bias, x, y, keep) },
                InstructionSet::Plain => {}
            }
        }
        group_forward_body(sc, g, u, bias, x, y, keep)
    })
}

/// [`group_backward_body`] with the widest vector instructions this processor has, on this
/// thread's buffers.
pub(super) fn group_backward(g: &ConvGeom, u: &[f32], x: &[f32], kept: Option<&[f32]>, gy: &[f32], gw: Option<&mut [f32]>, gx: Option<&mut [f32]>) {
    SCRATCH.with_borrow_mut(|sc| {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx2")]
            unsafe fn avx512(sc: &mut Scratch, g: &ConvGeom, u: &[f32], x: &[f32], kept: Option<&[f32]>, gy: &[f32], gw: Option<&mut [f32]>, gx: Option<&mut [f32]>) {
                group_backward_body(sc, g, u, x, kept, gy, gw, gx)
            }
            #[target_feature(enable = "avx2")]
            unsafe fn avx2(sc: &mut Scratch, g: &ConvGeom, u: &[f32], x: &[f32], kept: Option<&[f32]>, gy: &[f32], gw: Option<&mut [f32]>, gx: Option<&mut [f32]>) {
                group_backward_body(sc, g, u, x, kept, gy, gw, gx)
            }
            match instruction_set() {
                // SAFETY: the processor has the features the function is compiled for.
                InstructionSet::Avx512 => return unsafe { avx512(sc, g, u, x, kept, gy, gw, gx) },
                // SAFETY: as above.
                InstructionSet::Avx2Fma => return unsafe { avx2(sc, g, u, x, kept, gy, gw, gx) },
                InstructionSet::Plain => {}
            }
        }
        group_backward_body(sc, g, u, x, kept, gy, gw, gx)
    })
}
