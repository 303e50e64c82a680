//! What a layer is, as data: the description that the summary, the exporters and the pictures
//! read, written by each layer for itself (see [`super::Layer::nodes`]).

/// One layer's operation, with its weights.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `weight` is `[out, inp, k, k]`, `bias` is `[out]`; `pads` are zero rows and columns
    /// added `[top, left, bottom, right]`.
    Conv2D { weight: Vec<f32>, bias: Vec<f32>, inp: usize, out: usize, k: usize, stride: usize, pads: [usize; 4], padding: &'static str },
    ReLU,
    Sigmoid,
    Tanh,
    /// `k x k` windows moved `stride` at a time, only whole windows.
    MaxPool2D { k: usize, stride: usize },
    AvgPool2D { k: usize, stride: usize },
    /// Channels first: `[c, h, w]` to `c * h * w` values.
    Flatten,
    /// `weight` is `[out, inp]`, `bias` is `[out]`.
    Dense { weight: Vec<f32>, bias: Vec<f32>, inp: usize, out: usize },
    /// In training only: each value dropped with probability `p` (the others scaled by
    /// `1 / (1 - p)`); at inference it passes values through.
    Dropout { p: f32 },
    /// Per channel: `(x - mean) / sqrt(var + epsilon) * scale + bias` (at inference, with the
    /// running statistics).
    BatchNorm2D { scale: Vec<f32>, bias: Vec<f32>, mean: Vec<f32>, var: Vec<f32>, epsilon: f32 },
}

impl Op {
    /// The layer's name as the library and Keras write it.
    pub fn name(&self) -> String {
        match self {
            Op::Conv2D { .. } => "Conv2D".into(),
            Op::ReLU => "ReLU".into(),
            Op::Sigmoid => "Sigmoid".into(),
            Op::Tanh => "Tanh".into(),
            Op::MaxPool2D { .. } => "MaxPool2D".into(),
            Op::AvgPool2D { .. } => "AvgPool2D".into(),
            Op::Flatten => "Flatten".into(),
            Op::Dense { .. } => "Dense".into(),
            Op::Dropout { p } => format!("Dropout({p})"),
            Op::BatchNorm2D { .. } => "BatchNorm2D".into(),
        }
    }

    /// An element-wise activation (Keras's `activation=` argument).
    pub fn is_activation(&self) -> bool {
        matches!(self, Op::ReLU | Op::Sigmoid | Op::Tanh)
    }

    /// The layer with its settings, for a signature that tells networks apart:
    /// `Conv2D(1->32, 3x3, stride 1, valid)`.
    pub fn describe(&self) -> String {
        match self {
            Op::Conv2D { inp, out, k, stride, padding, .. } => format!("Conv2D({inp}->{out}, {k}x{k}, stride {stride}, {padding})"),
            Op::MaxPool2D { k, stride } => format!("MaxPool2D({k}x{k}, stride {stride})"),
            Op::AvgPool2D { k, stride } => format!("AvgPool2D({k}x{k}, stride {stride})"),
            Op::Dense { inp, out, .. } => format!("Dense({inp}->{out})"),
            Op::BatchNorm2D { scale, .. } => format!("BatchNorm2D({})", scale.len()),
            other => other.name(),
        }
    }
}

/// A layer of a network: what it does, the shape of its output for one example (channels first,
/// no batch axis), and its number of trainable parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub shape: Vec<usize>,
    pub params: usize,
}

/// One row of [`Summary`]: a layer, its output shape and its number of parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    pub name: String,
    /// Output shape without the batch axis, channels first.
    pub shape: Vec<usize>,
    pub params: usize,
}

/// What Keras's `model.summary()` prints: each layer's output shape and parameter count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// The rows of `nodes`, an activation that follows a Conv2D or Dense written on its row
    /// (`Conv2D + ReLU`), as Keras shows a layer built with `activation="relu"`.
    pub fn of(nodes: &[Node]) -> Summary {
        let mut layers: Vec<LayerSummary> = Vec::new();
        let mut merge = false;
        for node in nodes {
            if node.op.is_activation() && merge {
                let last = layers.last_mut().expect("merge follows a row");
                last.name = format!("{} + {}", last.name, node.op.name());
                merge = false;
                continue;
            }
            merge = matches!(node.op, Op::Conv2D { .. } | Op::Dense { .. });
            layers.push(LayerSummary { name: node.op.name(), shape: node.shape.clone(), params: node.params });
        }
        Summary { layers }
    }

    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = "─".repeat(62);
        writeln!(f, "{:<20} {:<26} {:>14}", "Layer", "Output shape", "Param #")?;
        writeln!(f, "{line}")?;
        for l in &self.layers {
            let shape = format!("[batch, {}]", l.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            writeln!(f, "{:<20} {:<26} {:>14}", l.name, shape, thousands(l.params))?;
        }
        writeln!(f, "{line}")?;
        write!(f, "Total params: {}", thousands(self.total_params()))
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
