//! Adam, with its state kept where a checkpoint can save it.
//!
//! dfdx has an Adam of its own, but its moment estimates are private, so an interrupted run could
//! only resume with them reset. This one keeps them in the open, so `--resume` continues exactly
//! where an uninterrupted run would be.
use std::{collections::HashMap, path::Path};

use dfdx::prelude::*;
use ::safetensors::tensor::{serialize, Dtype as SafeDtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// Adam (Kingma and Ba, 2015) with Keras's defaults: `learning_rate = 0.001`,
/// `beta_1 = 0.9`, `beta_2 = 0.999`, `epsilon = 1e-7`.
///
/// PyTorch: `torch.optim.Adam(params, lr, betas, eps)`; Keras: `keras.optimizers.Adam()`.
#[derive(Debug, Clone)]
pub struct Adam {
    pub learning_rate: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// Updates made so far (for the bias correction).
    pub step: u64,
    /// First and second moment estimates, one pair per parameter tensor in visiting order.
    moments: Vec<(Vec<f32>, Vec<f32>)>,
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(1e-3)
    }
}

impl Adam {
    pub fn new(learning_rate: f32) -> Self {
        Adam { learning_rate, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, step: 0, moments: Vec::new() }
    }

    /// One step down the gradients in `grads` for every trainable tensor of `model`.
    pub fn update<M: TensorCollection<f32, Cpu>>(
        &mut self,
        model: &mut M,
        grads: &mut Gradients<f32, Cpu>,
    ) -> Result<()> {
        self.step += 1;
        let mut visitor = AdamStep { adam: self, grads, index: 0, scratch: Vec::new() };
        M::iter_tensors(&mut RecursiveWalker { m: model, f: &mut visitor })?;
        Ok(())
    }

    /// Saves the moments and the step count (safetensors), atomically.
    pub fn save(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        let bytes: Vec<(String, Vec<u8>)> = self
            .moments
            .iter()
            .enumerate()
            .flat_map(|(i, (m, v))| [(format!("m.{i}"), to_bytes(m)), (format!("v.{i}"), to_bytes(v))])
            .collect();
        let views = bytes
            .iter()
            .map(|(n, b)| (n.clone(), TensorView::new(SafeDtype::F32, vec![b.len() / 4], b).unwrap()));
        let mut meta = metadata;
        meta.insert("step".into(), self.step.to_string());
        meta.insert("learning_rate".into(), self.learning_rate.to_string());
        let data = serialize(views, &Some(meta)).map_err(|e| Error::BadModel {
            path: path.to_path_buf(),
            problem: format!("could not be serialised: {e:?}"),
            fix: String::new(),
        })?;
        write_atomic(path, &data)
    }

    /// Loads what [`Adam::save`] wrote; returns the file's metadata too.
    pub fn load(path: &Path) -> Result<(Adam, HashMap<String, String>)> {
        let bad = |problem: String| Error::BadModel {
            path: path.to_path_buf(),
            problem,
            fix: "Start again without --resume, or restore the checkpoint folder.".into(),
        };
        let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("is not a safetensors file ({e:?})")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("{e:?}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let number = |key: &str| meta.get(key).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| bad(format!("has no `{key}`")));
        let mut adam = Adam::new(number("learning_rate")? as f32);
        adam.step = number("step")? as u64;
        let read = |name: String| -> Result<Vec<f32>> {
            let t = file.tensor(&name).map_err(|_| bad(format!("has no tensor `{name}`")))?;
            if t.dtype() != SafeDtype::F32 {
                return Err(bad(format!("holds `{name}` as {:?}, not F32", t.dtype())));
            }
            Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
        };
        if file.names().len() % 2 != 0 {
            return Err(bad(format!("holds {} tensors, not pairs of moments (m.i, v.i)", file.names().len())));
        }
        for i in 0..file.names().len() / 2 {
            let (m, v) = (read(format!("m.{i}"))?, read(format!("v.{i}"))?);
            if m.len() != v.len() {
                return Err(bad(format!("holds moments of different sizes for tensor {i} ({} and {})", m.len(), v.len())));
            }
            adam.moments.push((m, v));
        }
        Ok((adam, meta))
    }

    /// Checks that the saved moments fit `model`'s trainable tensors (one pair per tensor, of its
    /// size), so that a resumed run never steps with moments that belong to another network.
    pub fn check_fits<M: TensorCollection<f32, Cpu>>(&self, model: &M, path: &Path) -> Result<()> {
        let want = trainable_sizes(model)?;
        let have: Vec<usize> = self.moments.iter().map(|(m, _)| m.len()).collect();
        // A run saved before its first step has no moments yet: those are made on the way.
        if !(have.is_empty() && self.step == 0) && have != want {
            return Err(Error::BadModel {
                path: path.to_path_buf(),
                problem: format!("its optimiser state holds {} tensors of {} values, but the network has {} of {}", have.len(), have.iter().sum::<usize>(), want.len(), want.iter().sum::<usize>()),
                fix: "Resume with the network that made it, or start afresh without --resume.".into(),
            });
        }
        Ok(())
    }
}

/// The sizes of `model`'s trainable tensors, in the order [`Adam::update`] visits them.
fn trainable_sizes<M: TensorCollection<f32, Cpu>>(model: &M) -> Result<Vec<usize>> {
    let mut sizes = Sizes(Vec::new());
    M::iter_tensors(&mut RecursiveWalker { m: model, f: &mut sizes })?;
    Ok(sizes.0)
}

struct Sizes(Vec<usize>);

impl TensorVisitor<f32, Cpu> for Sizes {
    type Viewer = ViewTensorRef;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        if opts.do_gradient_update {
            self.0.push(p.shape().num_elements());
        }
        Ok(None)
    }
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct AdamStep<'a> {
    adam: &'a mut Adam,
    grads: &'a mut Gradients<f32, Cpu>,
    index: usize,
    scratch: Vec<f32>,
}

impl TensorVisitor<f32, Cpu> for AdamStep<'_> {
    type Viewer = ViewTensorMut;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        let n = p.shape().num_elements();
        let a = &mut *self.adam;
        if a.moments.len() == self.index {
            a.moments.push((vec![0.0; n], vec![0.0; n]));
        }
        let (m, v) = &mut a.moments[self.index];
        self.index += 1;
        let g: &[f32] = self.grads.get_or_alloc_mut(&*p)?;
        self.scratch.resize(n, 0.0);
        p.copy_into(&mut self.scratch);
        let t = a.step as i32;
        let (b1, b2) = (a.beta_1, a.beta_2);
        // The bias corrections folded into the step size, as Keras does (the paper's
        // "epsilon hat" form).
        let lr = a.learning_rate * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        adam_step(&mut self.scratch, g, m, v, [b1, b2, lr, a.epsilon]);
        p.copy_from(&self.scratch);
        Ok(None)
    }
}

/// Adam's update of weights `w` from gradients `g`, moments `m` and `v` updated in place;
/// `[beta_1, beta_2, step size, epsilon]`. Compiled for AVX-512 and AVX2 too, and run with the
/// widest the processor has: the square roots and divisions are most of its time, and they are
/// exact (correctly rounded) at any width, so the numbers are the same.
fn adam_step(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], params: [f32; 4]) {
    // Large tensors in pieces on all of rayon's threads; each weight's update is its own, so the
    // numbers are the same on any number of threads.
    const PIECE: usize = 1 << 14;
    if w.len() >= 4 * PIECE && crate::cpu::threads() > 1 {
        use rayon::prelude::*;
        w.par_chunks_mut(PIECE)
            .zip(g.par_chunks(PIECE))
            .zip(m.par_chunks_mut(PIECE))
            .zip(v.par_chunks_mut(PIECE))
            .for_each(|(((w, g), m), v)| adam_piece(w, g, m, v, params));
    } else {
        adam_piece(w, g, m, v, params);
    }
}

fn adam_piece(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], params: [f32; 4]) {
    #[inline(always)]
    fn body(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], [b1, b2, lr, eps]: [f32; 4]) {
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *w -= lr * *m / (v.sqrt() + eps);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        use crate::cpu::InstructionSet;
        #[target_feature(enable = "avx512f,avx2")]
        fn avx512(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], params: [f32; 4]) {
            body(w, g, m, v, params)
        }
        #[target_feature(enable = "avx2")]
        fn avx2(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], params: [f32; 4]) {
            body(w, g, m, v, params)
        }
        match crate::cpu::instruction_set() {
            // SAFETY: the processor has the features the function is compiled for.
            InstructionSet::Avx512 => return unsafe { avx512(w, g, m, v, params) },
            // SAFETY: as above.
            InstructionSet::Avx2Fma => return unsafe { avx2(w, g, m, v, params) },
            InstructionSet::Plain => {}
        }
    }
    body(w, g, m, v, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{InstructionSet, INSTRUCTION_SET_LIMIT};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Random weights, gradients and moments (`v` not negative) of `n` values.
    fn random_state(seed: u64, n: usize) -> [Vec<f32>; 4] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut draw = |scale: f32| (0..n).map(|_| rng.gen_range(-scale..scale)).collect::<Vec<f32>>();
        let (w, g, m) = (draw(1.0), draw(0.1), draw(0.01));
        let v = draw(0.001).iter().map(|x| x.abs()).collect();
        [w, g, m, v]
    }

    /// The update gives the same numbers, bit for bit, with every instruction set.
    #[test]
    fn adam_step_is_the_same_on_every_instruction_set() {
        let [w, g, m, v] = random_state(8, 1000);
        let run = |limit: InstructionSet| {
            INSTRUCTION_SET_LIMIT.with(|l| l.set(limit));
            let (mut w, mut m, mut v) = (w.clone(), m.clone(), v.clone());
            adam_step(&mut w, &g, &mut m, &mut v, [0.9, 0.999, 1e-3, 1e-7]);
            [w, m, v].map(|x| x.iter().map(|v| v.to_bits()).collect::<Vec<u32>>())
        };
        let plain = run(InstructionSet::Plain);
        assert_eq!(run(InstructionSet::Avx2Fma), plain);
        assert_eq!(run(InstructionSet::Avx512), plain);
    }

    /// A large tensor, updated in pieces on rayon's threads, gets the numbers of one pass on
    /// one thread.
    #[test]
    fn adam_step_in_pieces_is_the_same_as_in_one_pass() {
        let [w, g, m, v] = random_state(9, 100_003);
        let params = [0.9, 0.999, 1e-3, 1e-7];
        let (mut w1, mut m1, mut v1) = (w.clone(), m.clone(), v.clone());
        adam_piece(&mut w1, &g, &mut m1, &mut v1, params);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (mut w2, mut m2, mut v2) = (w, m, v);
        pool.install(|| adam_step(&mut w2, &g, &mut m2, &mut v2, params));
        assert_eq!((w1, m1, v1), (w2, m2, v2));
    }

    /// A saved state loads back; one of another network, or not of F32 values, is refused
    /// with a message that says so, never used.
    #[test]
    fn saved_state_loads_and_a_state_that_does_not_fit_is_refused() {
        let dir = std::env::temp_dir().join(format!("mnist-cnn-adam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("optimizer.safetensors");
        let model = <crate::model::Model as crate::model::Network>::build(&crate::model::device(0));
        let mut fits = Adam::new(1e-3);
        fits.moments = trainable_sizes(&model).unwrap().iter().map(|&n| (vec![0.5; n], vec![0.25; n])).collect();
        fits.save(&path, HashMap::new()).unwrap();
        let (loaded, _) = Adam::load(&path).unwrap();
        assert_eq!(loaded.moments, fits.moments);
        loaded.check_fits(&model, &path).unwrap();
        // No moments are right only before the first step.
        Adam::new(1e-3).check_fits(&model, &path).unwrap();
        let mut stepped = Adam::new(1e-3);
        stepped.step = 3;
        assert!(stepped.check_fits(&model, &path).is_err());

        let mut other = fits.clone();
        other.moments[0].0.pop();
        other.moments[0].1.pop();
        other.save(&path, HashMap::new()).unwrap();
        let err = Adam::load(&path).unwrap().0.check_fits(&model, &path).unwrap_err().to_string();
        assert!(err.contains("but the network has") && err.contains("without --resume"), "{err}");

        let bytes = [0u8; 16];
        let view = || TensorView::new(SafeDtype::F64, vec![2], &bytes).unwrap();
        let meta = HashMap::from([("step".to_string(), "1".to_string()), ("learning_rate".to_string(), "0.001".to_string())]);
        let data = serialize([("m.0".to_string(), view()), ("v.0".to_string(), view())], &Some(meta)).unwrap();
        std::fs::write(&path, data).unwrap();
        let err = Adam::load(&path).unwrap_err().to_string();
        assert!(err.contains("not F32"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
