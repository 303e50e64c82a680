//! The layers' numbers: forward against plain loops, gradients against finite differences.
use dfdx::prelude::*;
use mnist_cnn::layers::{Conv2D, Flatten, MaxPool2D};
use rand::{rngs::StdRng, Rng, SeedableRng};

const B: usize = 2;
const IN: usize = 2;
const OUT: usize = 3;
const K: usize = 3;
const H: usize = 7;
const W: usize = 6;

fn random(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn conv_layer(dev: &Cpu, w: &[f32], b: &[f32]) -> Conv2D<IN, OUT, K> {
    let mut conv: Conv2D<IN, OUT, K> = dev.build_module::<mnist_cnn::layers::builder::Conv2D<IN, OUT, K>, f32>();
    conv.weight.copy_from(w);
    conv.bias.copy_from(b);
    conv
}

/// The textbook definition, six nested loops.
fn conv_reference(x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let (ho, wo) = (H - K + 1, W - K + 1);
    let mut y = vec![0.0; B * OUT * ho * wo];
    for n in 0..B {
        for o in 0..OUT {
            for r in 0..ho {
                for c in 0..wo {
                    let mut s = b[o];
                    for i in 0..IN {
                        for ky in 0..K {
                            for kx in 0..K {
                                s += w[((o * IN + i) * K + ky) * K + kx] * x[((n * IN + i) * H + r + ky) * W + c + kx];
                            }
                        }
                    }
                    y[((n * OUT + o) * ho + r) * wo + c] = s;
                }
            }
        }
    }
    y
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "element {i}: {x} vs {y}");
    }
}

#[test]
fn conv_forward_matches_plain_loops() {
    let mut rng = StdRng::seed_from_u64(1);
    let (x, w, b) = (random(B * IN * H * W, &mut rng), random(OUT * IN * K * K, &mut rng), random(OUT, &mut rng));
    let dev: Cpu = Default::default();
    let conv = conv_layer(&dev, &w, &b);
    let xt = dev.tensor_from_vec(x.clone(), (B, Const::<IN>, Const::<H>, Const::<W>));
    let y = conv.forward(xt);
    assert_eq!(y.shape().concrete(), [B, OUT, H - K + 1, W - K + 1]);
    close(&y.as_vec(), &conv_reference(&x, &w, &b), 1e-5);
}

/// `L = sum(conv(x) * r)`: its gradient by backprop, and by central differences of the
/// reference, for the weights, the bias and the input.
#[test]
fn conv_gradients_match_finite_differences() {
    let mut rng = StdRng::seed_from_u64(2);
    let (x, w, b) = (random(B * IN * H * W, &mut rng), random(OUT * IN * K * K, &mut rng), random(OUT, &mut rng));
    let r = random(B * OUT * (H - K + 1) * (W - K + 1), &mut rng);
    let dev: Cpu = Default::default();
    let conv = conv_layer(&dev, &w, &b);
    let xt = dev.tensor_from_vec(x.clone(), (B, Const::<IN>, Const::<H>, Const::<W>));
    let rt = dev.tensor_from_vec(r.clone(), (B, Const::<OUT>, Const::<{ H - K + 1 }>, Const::<{ W - K + 1 }>));
    let grads = (conv.forward(xt.leaky_trace()) * rt).sum().backward();
    let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
        conv_reference(x, w, b).iter().zip(&r).map(|(y, r)| (*y as f64) * (*r as f64)).sum()
    };
    let numeric = |which: usize| -> Vec<f32> {
        let base = [x.clone(), w.clone(), b.clone()];
        (0..base[which].len())
            .map(|i| {
                let eps = 1e-2;
                let (mut up, mut down) = (base.clone(), base.clone());
                up[which][i] += eps;
                down[which][i] -= eps;
                ((loss(&up[0], &up[1], &up[2]) - loss(&down[0], &down[1], &down[2])) / (2.0 * eps as f64)) as f32
            })
            .collect()
    };
    close(&grads.get(&xt).as_vec(), &numeric(0), 1e-3);
    close(&grads.get(&conv.weight).as_vec(), &numeric(1), 1e-3);
    close(&grads.get(&conv.bias).as_vec(), &numeric(2), 1e-3);
}

#[test]
fn max_pool_keeps_each_blocks_maximum_and_routes_its_gradient() {
    let dev: Cpu = Default::default();
    #[rustfmt::skip]
    let grid = [1., 3., 2., 1., 9.,
                4., 6., 5., 0., 9.,
                3., 1., 1., 2., 9.,
                0., 2., 7., 4., 9.,
                9., 9., 9., 9., 9.];
    let x = dev.tensor_from_vec(grid.to_vec(), (1usize, Const::<1>, Const::<5>, Const::<5>));
    let y = MaxPool2D::<2>.forward(x.leaky_trace());
    // 5x5 -> 2x2: the odd last row and column are dropped, as in Keras and PyTorch.
    assert_eq!(y.shape().concrete(), [1, 1, 2, 2]);
    assert_eq!(y.as_vec(), vec![6., 5., 3., 7.]);
    let weights = dev.tensor_from_vec(vec![1., 10., 100., 1000.], (1usize, Const::<1>, Const::<2>, Const::<2>));
    let grads = (y * weights).sum().backward();
    let mut expected = vec![0.0; 25];
    expected[6] = 1.;
    expected[7] = 10.;
    expected[10] = 100.;
    expected[17] = 1000.;
    assert_eq!(grads.get(&x).as_vec(), expected);
}

#[test]
fn max_pool_3x3_matches_plain_loops() {
    let mut rng = StdRng::seed_from_u64(3);
    let x = random(2 * 4 * 9 * 9, &mut rng);
    let dev: Cpu = Default::default();
    let y = MaxPool2D::<3>.forward(dev.tensor_from_vec(x.clone(), (2usize, Const::<4>, Const::<9>, Const::<9>)));
    let mut want = Vec::new();
    for p in 0..8 {
        for r in 0..3 {
            for c in 0..3 {
                let mut m = f32::MIN;
                for dy in 0..3 {
                    for dx in 0..3 {
                        m = m.max(x[p * 81 + (3 * r + dy) * 9 + 3 * c + dx]);
                    }
                }
                want.push(m);
            }
        }
    }
    assert_eq!(y.as_vec(), want);
}

#[test]
fn flatten_lays_channels_out_in_order() {
    let dev: Cpu = Default::default();
    let data: Vec<f32> = (0..2 * 3 * 4 * 4).map(|v| v as f32).collect();
    let x = dev.tensor_from_vec(data.clone(), (2usize, Const::<3>, Const::<4>, Const::<4>));
    let y: Tensor<(usize, mnist_cnn::layers::Flat<3, 4, 4>), f32, Cpu> = Flatten.forward(x);
    assert_eq!(y.as_vec(), data);
}

/// One case of the test below: images of `$side` x `$side` with `$inp` channels, pooled to 5x5.
macro_rules! fused_matches_layers { ($side:literal, $inp:literal, $seed:literal) => {{
    const S: usize = $side;
    const I: usize = $inp;
    use mnist_cnn::layers::{conv_relu_pool, InputGradient};
    const N: usize = 19;
    let mut rng = StdRng::seed_from_u64($seed);
    let (x, w, b) = (random(N * I * S * S, &mut rng), random(5 * I * 3 * 3, &mut rng), random(5, &mut rng));
    let r = random(N * 5 * 5 * 5, &mut rng);
    let dev: Cpu = Default::default();
    let mut conv: Conv2D<I, 5, 3> = dev.build_module::<mnist_cnn::layers::builder::Conv2D<I, 5, 3>, f32>();
    conv.weight.copy_from(&w);
    conv.bias.copy_from(&b);
    let xt = dev.tensor_from_vec(x, (N, Const::<I>, Const::<S>, Const::<S>));
    let rt = dev.tensor_from_vec(r, (N, Const::<5>, Const::<5>, Const::<5>));

    let layered = MaxPool2D::<2>.forward(conv.forward(xt.leaky_trace()).relu());
    let fused = conv_relu_pool(&conv, &MaxPool2D::<2>, xt.leaky_trace(), InputGradient::Compute).unwrap();
    assert_eq!(fused.shape().concrete(), [N, 5, 5, 5]);
    assert_eq!(fused.as_vec(), layered.as_vec());
    assert!(fused.as_vec().contains(&0.0), "some outputs cut by the ReLU");

    let g1 = (layered * rt.clone()).sum().backward();
    let g2 = (fused * rt).sum().backward();
    close(&g2.get(&conv.weight).as_vec(), &g1.get(&conv.weight).as_vec(), 1e-5);
    close(&g2.get(&conv.bias).as_vec(), &g1.get(&conv.bias).as_vec(), 1e-5);
    close(&g2.get(&xt).as_vec(), &g1.get(&xt).as_vec(), 1e-5);
}}}

/// The fused `Conv2D -> ReLU -> MaxPool2D` gives the numbers of the three layers run one after
/// the other: outputs, and gradients for the weights, the bias and the input. 19 images, so
/// that the batch is split into uneven parallel chunks; 12x12 images (pooled 10x10 maps) and
/// 13x13 ones (11x11 maps, whose last row and column the pooling leaves out); with 2 input
/// channels (matrix products over the patches) and 8 (Winograd's algorithm, whose 2x2 tiles the
/// fused path crops to 10x10 where the layer alone computes 11x11: the same numbers still).
#[test]
fn fused_conv_relu_pool_matches_the_three_layers() {
    fused_matches_layers!(12, 2, 4);
    fused_matches_layers!(13, 2, 5);
    fused_matches_layers!(12, 8, 6);
    fused_matches_layers!(13, 8, 7);
}

/// The same for a first layer (one input channel, no input gradient), which takes the direct
/// kernels: the outputs bit for bit, the weight and bias gradients within rounding.
#[test]
fn fused_first_layer_matches_the_three_layers() {
    use mnist_cnn::layers::{conv_relu_pool, InputGradient};
    const N: usize = 19;
    let mut rng = StdRng::seed_from_u64(6);
    let (x, w, b) = (random(N * 28 * 28, &mut rng), random(32 * 9, &mut rng), random(32, &mut rng));
    let r = random(N * 32 * 13 * 13, &mut rng);
    let dev: Cpu = Default::default();
    let mut conv: Conv2D<1, 32, 3> = dev.build_module::<mnist_cnn::layers::builder::Conv2D<1, 32, 3>, f32>();
    conv.weight.copy_from(&w);
    conv.bias.copy_from(&b);
    let xt = dev.tensor_from_vec(x, (N, Const::<1>, Const::<28>, Const::<28>));
    let rt = dev.tensor_from_vec(r, (N, Const::<32>, Const::<13>, Const::<13>));

    let layered = MaxPool2D::<2>.forward(conv.forward(xt.leaky_trace()).relu());
    let fused = conv_relu_pool(&conv, &MaxPool2D::<2>, xt.trace(conv.alloc_grads()), InputGradient::Skip).unwrap();
    assert_eq!(fused.as_vec(), layered.as_vec());
    assert!(fused.as_vec().contains(&0.0), "some outputs cut by the ReLU");

    let g1 = (layered * rt.clone()).sum().backward();
    let g2 = (fused * rt).sum().backward();
    close(&g2.get(&conv.weight).as_vec(), &g1.get(&conv.weight).as_vec(), 1e-4);
    close(&g2.get(&conv.bias).as_vec(), &g1.get(&conv.bias).as_vec(), 1e-4);
}

/// LeNet's first layer, `Conv2D -> MaxPool2D` with no ReLU between them, in a stack (the fused
/// pass, on the direct kernels where the processor has them): the outputs of the two layers bit
/// for bit, negative ones included, and their weight and bias gradients within rounding.
#[test]
fn fused_first_layer_without_relu_matches_the_two_layers() {
    use mnist_cnn::layers::{Ctx, Flow, Layer, Ready};
    const N: usize = 11;
    let mut rng = StdRng::seed_from_u64(8);
    let (x, w, b) = (random(N * 28 * 28, &mut rng), random(20 * 25, &mut rng), random(20, &mut rng));
    let r = random(N * 20 * 12 * 12, &mut rng);
    let dev: Cpu = Default::default();
    let mut conv: Conv2D<1, 20, 5> = dev.build_module::<mnist_cnn::layers::builder::Conv2D<1, 20, 5>, f32>();
    conv.weight.copy_from(&w);
    conv.bias.copy_from(&b);
    let xt = dev.tensor_from_vec(x, (N, Const::<1>, Const::<28>, Const::<28>));
    let rt = dev.tensor_from_vec(r, (N, Const::<20>, Const::<12>, Const::<12>));

    let layered = MaxPool2D::<2>.forward(conv.forward(xt.leaky_trace()));
    let stack = (conv.clone(), MaxPool2D::<2>);
    let fused = stack.flow(Ready::input(xt.trace(conv.alloc_grads())), &mut Ctx::inference()).ready().tensor;
    assert_eq!(fused.as_vec(), layered.as_vec());
    assert!(fused.as_vec().iter().any(|v| *v < 0.0), "negative outputs kept (no ReLU)");

    let g1 = (layered * rt.clone()).sum().backward();
    let g2 = (fused * rt).sum().backward();
    close(&g2.get(&conv.weight).as_vec(), &g1.get(&conv.weight).as_vec(), 1e-4);
    close(&g2.get(&conv.bias).as_vec(), &g1.get(&conv.bias).as_vec(), 1e-4);
}

#[test]
fn the_models_fused_forward_equals_dfdxs_layer_by_layer_forward() {
    let net = mnist_cnn::model::build(&mnist_cnn::model::device(9));
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(5);
    let x = dev.tensor_from_vec(random(3 * 784, &mut rng), (3usize, Const::<1>, Const::<28>, Const::<28>));
    // The stack's forward (fused) against dfdx running the same tuple module by module.
    let fused = mnist_cnn::model::Network::forward(&net, x.clone()).as_vec();
    assert_eq!(fused, net.layers.forward(x).as_vec());
}

#[test]
fn dense_matches_dfdxs_linear_forward_and_backward() {
    let dev = Cpu::seed_from_u64(11);
    // The same initial weights from the same seed: model files and seeds carry over.
    let dense = dev.build_module::<mnist_cnn::layers::builder::Dense<50, 7>, f32>();
    let dev2 = Cpu::seed_from_u64(11);
    let linear = dev2.build_module::<dfdx::nn::builders::Linear<50, 7>, f32>();
    assert_eq!(dense.weight.as_vec(), linear.weight.as_vec());
    assert_eq!(dense.bias.as_vec(), linear.bias.as_vec());

    let mut rng = StdRng::seed_from_u64(5);
    let xs = random(5 * 50, &mut rng);
    let x: Tensor<(usize, Const<50>), f32, Cpu> = dev.tensor_from_vec(xs, (5, Const));
    close(&dense.forward(x.clone()).as_vec(), &linear.forward(x.clone()).as_vec(), 1e-5);

    // Gradients of the same loss through each layer.
    let weights: Tensor<(usize, Const<7>), f32, Cpu> = dev.tensor_from_vec(random(5 * 7, &mut rng), (5, Const));
    // A leaky tape keeps every gradient, the input's included.
    let gd = (dense.forward(x.clone().leaky_traced()) * weights.clone()).sum().backward();
    let gl = (linear.forward(x.clone().leaky_traced()) * weights).sum().backward();
    close(&gd.get(&dense.weight).as_vec(), &gl.get(&linear.weight).as_vec(), 1e-5);
    close(&gd.get(&dense.bias).as_vec(), &gl.get(&linear.bias).as_vec(), 1e-5);
    close(&gd.get(&x).as_vec(), &gl.get(&x).as_vec(), 1e-5);
}

/// Inference keeps a copy of a Dense layer's weights between calls; it must follow every change
/// of the weights (here: new values copied in, then the layer trained one step, then a clone).
#[test]
fn dense_inference_sees_changed_weights() {
    let dev = Cpu::seed_from_u64(12);
    let mut dense = dev.build_module::<mnist_cnn::layers::builder::Dense<6, 3>, f32>();
    let x: Tensor<(usize, Const<6>), f32, Cpu> = dev.tensor_from_vec(vec![1.0; 12], (2, Const));
    let plain = |d: &mnist_cnn::layers::Dense<6, 3, f32, Cpu>| {
        let (w, b) = (d.weight.as_vec(), d.bias.as_vec());
        (0..3).map(|o| b[o] + (0..6).map(|i| w[o * 6 + i]).sum::<f32>()).collect::<Vec<f32>>()
    };
    let first = dense.forward(x.clone()).as_vec();
    close(&first[..3], &plain(&dense), 1e-6);
    assert_eq!(dense.forward(x.clone()).as_vec(), first, "the same weights, the same answer");

    dense.weight.copy_from(&[0.5; 18]);
    close(&dense.forward(x.clone()).as_vec()[..3], &plain(&dense), 1e-6);

    let mut opt = mnist_cnn::train::Adam::new(0.1);
    let mut grads = dense.alloc_grads();
    grads = dense.forward(x.clone().traced(grads)).sum().backward();
    opt.update(&mut dense, &mut grads).unwrap();
    close(&dense.forward(x.clone()).as_vec()[..3], &plain(&dense), 1e-6);

    let mut other = dense.clone();
    other.bias.copy_from(&[9.0; 3]);
    close(&other.forward(x.clone()).as_vec()[..3], &plain(&other), 1e-6);
    close(&dense.forward(x).as_vec()[..3], &plain(&dense), 1e-6);
}

/// `sum(stack(x) * r)` and its gradient for the input, by backprop, against central differences
/// of the forward pass, for a stack of smooth layers.
fn input_gradient_matches_differences<In, L>(stack: &L, n: usize, seed: u64)
where
    In: mnist_cnn::layers::dims::ImageShape,
    L: mnist_cnn::layers::Layer<In>,
{
    use mnist_cnn::layers::{Ctx, Flow, Ready};
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let len = n * In::default().num_elements();
    let x = random(len, &mut rng);
    let out_len = n * <L::Out as Default>::default().num_elements();
    let r = random(out_len, &mut rng);
    let forward = |x: &[f32]| -> f64 {
        let t = dev.tensor_from_vec(x.to_vec(), In::batched(n));
        let y = stack.flow(Ready::input(t), &mut Ctx::inference()).ready().tensor.as_vec();
        y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
    };
    let xt = dev.tensor_from_vec(x.clone(), In::batched(n));
    let y = stack.flow(Ready::input(xt.leaky_trace()), &mut Ctx::inference()).ready().tensor;
    let rt = dev.tensor_from_vec(r.clone(), *y.shape());
    let grads = (y * rt).sum().backward();
    let got = grads.get(&xt).as_vec();
    let eps = 1e-2;
    for i in (0..len).step_by(7) {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += eps;
        down[i] -= eps;
        let want = (forward(&up) - forward(&down)) / (2.0 * eps as f64);
        assert!((got[i] as f64 - want).abs() <= 2e-2 * (1.0 + want.abs()), "input {i}: backprop {} vs differences {want}", got[i]);
    }
}

/// A strided, padded convolution and overlapping average pooling (stride 1), forward and back.
#[test]
fn strided_same_conv_and_avg_pool_gradients_match_differences() {
    use mnist_cnn::layers::{AvgPool2D, Same, Tanh};
    let dev = Cpu::seed_from_u64(21);
    type Stack = (Tanh, Conv2D<2, 3, 3, 2, Same>, Tanh, AvgPool2D<2, 1>);
    let stack: Stack = dfdx::nn::BuildModule::build(&dev);
    input_gradient_matches_differences::<(Const<2>, Const<7>, Const<6>), _>(&stack, 2, 3);
    // 7x6 with stride 2, "same": ceil(7/2) x ceil(6/2) = 4x3; pooled 2x2 with stride 1: 3x2.
    assert_eq!(<<Stack as mnist_cnn::layers::Layer<(Const<2>, Const<7>, Const<6>)>>::Out as Default>::default().concrete(), [3, 3, 2]);
}

/// Batch normalisation in training normalises each channel over the batch (mean 0, variance 1
/// before scale and bias), as dfdx's own training forward does, and keeps running averages.
#[test]
fn batch_norm_trains_on_batch_statistics_and_infers_on_running_ones() {
    use mnist_cnn::layers::{BatchNorm2D, Ctx, Flow, Layer, Ready};
    let dev = Cpu::seed_from_u64(22);
    let mut bn: BatchNorm2D<3> = dfdx::nn::BuildModule::build(&dev);
    let mut rng = StdRng::seed_from_u64(8);
    let x: Vec<f32> = random(4 * 3 * 5 * 5, &mut rng).iter().map(|v| v * 3.0 + 1.0).collect();
    let xt = dev.tensor_from_vec(x.clone(), (4usize, Const::<3>, Const::<5>, Const::<5>));
    let mut seed = StdRng::seed_from_u64(1);
    let mut ctx = Ctx::training(&mut seed);
    let ours = bn.flow(Ready::<(Const<3>, Const<5>, Const<5>), _>::input(xt.clone().leaky_trace()), &mut ctx).ready().tensor;
    let mut theirs = bn.clone();
    let want = dfdx::nn::ModuleMut::forward_mut(&mut theirs, xt.clone().leaky_trace());
    close(&ours.as_vec(), &want.as_vec(), 1e-5);
    let running = ctx.take_running();
    Layer::<(Const<3>, Const<5>, Const<5>)>::take_running(&mut bn, &mut running.into_iter());
    close(&bn.running_mean.as_vec(), &theirs.running_mean.as_vec(), 1e-6);
    close(&bn.running_var.as_vec(), &theirs.running_var.as_vec(), 1e-6);
    // Inference: the running statistics, as dfdx's forward.
    let ours = bn.flow(Ready::<(Const<3>, Const<5>, Const<5>), _>::input(xt.clone()), &mut Ctx::inference()).ready().tensor;
    close(&ours.as_vec(), &bn.forward(xt).as_vec(), 1e-5);
}
