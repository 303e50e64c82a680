//! A network's weights in a file: safetensors, one tensor per weight, named by the stack
//! (`0.0.weight`, ...); loading checks every name, type and shape before it changes anything.
use std::path::Path;

use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors};
use dfdx::prelude::*;

use super::{device, Network};
use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic_with};

/// Saves the weights as safetensors, atomically.
pub fn save<N: Network>(model: &N, path: &Path) -> Result<()> {
    write_atomic_with(path, |tmp| {
        model.save_safetensors(tmp).map_err(|e| Error::BadModel {
            path: path.to_path_buf(),
            problem: format!("could not be written: {e}"),
            fix: "Check that the folder is writable and the disk is not full.".into(),
        })
    })
}

/// Loads a network saved by [`save`] ([`Network::load`]). A file that is not safetensors, or
/// that holds tensors of other names, types or shapes (another model), is refused with the name
/// of the culprit.
pub(super) fn load<N: Network>(path: &Path) -> Result<N> {
    let mut model = N::build(&device(0));
    load_into(&mut model, path)?;
    Ok(model)
}

/// Loads the weights in `path` into `model` (all of them or, on error, none).
pub fn load_into<M: TensorCollection<f32, Cpu>>(model: &mut M, path: &Path) -> Result<()> {
    let bytes = fsutil::read(path, "Train a model first with `mnist-cnn train` (or point --model at one).")?;
    load_bytes_into(model, &bytes, path)
}

/// [`load_into`] from the file's bytes (`path` names it in errors).
pub fn load_bytes_into<M: TensorCollection<f32, Cpu>>(model: &mut M, bytes: &[u8], path: &Path) -> Result<()> {
    let bad = |problem: String| Error::BadModel {
        path: path.to_path_buf(),
        problem,
        fix: "Train a model with `mnist-cnn train`, or point --model at a file that it saved.".into(),
    };
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("is not a safetensors model file ({e:?}); it may be truncated or corrupt")))?;
    let mut staged = Vec::new();
    let mut reader = Reader { file: &file, staged: &mut staged, problem: None };
    M::iter_tensors(&mut RecursiveWalker { m: (&*model, String::new()), f: &mut reader })
        .map_err(|_| ())
        .ok();
    if let Some(p) = reader.problem {
        return Err(bad(p));
    }
    let expected: Vec<&str> = staged.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(extra) = file.names().into_iter().find(|n| !expected.contains(&n.as_str())) {
        return Err(bad(format!("holds a tensor `{extra}` that this model does not have: it is another model")));
    }
    let mut writer = Writer { staged: staged.into_iter() };
    M::iter_tensors(&mut RecursiveWalker { m: model, f: &mut writer })?;
    Ok(())
}

/// Checks every tensor of the file against the model and stages its values.
struct Reader<'a, 'f> {
    file: &'a SafeTensors<'f>,
    staged: &'a mut Vec<(String, Vec<f32>)>,
    problem: Option<String>,
}

impl TensorVisitor<f32, Cpu> for Reader<'_, '_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = ();
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, ()> {
        let want: Vec<usize> = t.shape().concrete().into_iter().collect();
        let fail = |this: &mut Self, p: String| {
            this.problem.get_or_insert(p);
            Err(())
        };
        let view = match self.file.tensor(&name) {
            Ok(v) => v,
            Err(_) => return fail(self, format!("has no tensor `{name}`: it was saved by another model")),
        };
        if view.dtype() != SafeDtype::F32 {
            return fail(self, format!("tensor `{name}` is {:?}, but this model uses F32", view.dtype()));
        }
        if view.shape() != want.as_slice() {
            return fail(
                self,
                format!(
                    "tensor `{name}` has shape {:?}, but this model needs {want:?}: it was saved by another model",
                    view.shape()
                ),
            );
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        self.staged.push((name, values));
        Ok(None)
    }
}

/// Copies the staged values into the model, in the same visiting order.
struct Writer {
    staged: std::vec::IntoIter<(String, Vec<f32>)>,
}

impl TensorVisitor<f32, Cpu> for Writer {
    type Viewer = ViewTensorMut;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        t: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        let (_, values) = self.staged.next().expect("visited in the same order as Reader");
        t.copy_from(&values);
        Ok(None)
    }
}
