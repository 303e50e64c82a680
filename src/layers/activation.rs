//! The activations a class compares: `ReLU`, `Sigmoid`, `Tanh` (dfdx's own modules), as layers
//! of a stack. Each works on any shape, value by value, and has no parameters.
//!
//! - `ReLU`: `max(x, 0)`. Keras: `activation="relu"`; PyTorch: `nn.ReLU()`. After a `Conv2D`
//!   and before a `MaxPool2D`, the three run as one fused pass.
//! - `Sigmoid`: `1 / (1 + e^-x)`, between 0 and 1. Keras: `"sigmoid"`; PyTorch: `nn.Sigmoid()`.
//! - `Tanh`: between -1 and 1. Keras: `"tanh"`; PyTorch: `nn.Tanh()`.
pub use dfdx::nn::modules::{ReLU, Sigmoid, Tanh};

use super::dims::ImageShape;
use super::node::{Node, Op};
use super::stack::{out_shape, Ctx, Flow, Layer, Ready};

impl<S: ImageShape> Layer<S> for ReLU {
    type Out = S;
    type Next<F: Flow<Shape = S>> = F;

    fn flow<F: Flow<Shape = S>>(&self, x: F, ctx: &mut Ctx) -> F {
        x.relu(ctx)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        nodes.push(Node { op: Op::ReLU, shape: out_shape::<S, Self>(), params: 0 });
    }
}

macro_rules! elementwise {
    ($layer:ident, $op:ident, $f:ident) => {
        impl<S: ImageShape> Layer<S> for $layer {
            type Out = S;
            type Next<F: Flow<Shape = S>> = Ready<S, F::Tape>;

            fn flow<F: Flow<Shape = S>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
                let y = x.ready().tensor.$f();
                ctx.keep(&y);
                Ready::new(y)
            }

            fn nodes(&self, nodes: &mut Vec<Node>) {
                nodes.push(Node { op: Op::$op, shape: out_shape::<S, Self>(), params: 0 });
            }
        }
    };
}

elementwise!(Sigmoid, Sigmoid, sigmoid);
elementwise!(Tanh, Tanh, tanh);
