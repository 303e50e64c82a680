// Run by evcxr at kernel start, after init.evcxr (scripts/kernel.py copies both for each kernel,
// with the library's `:dep` added to init.evcxr). Under the
// notebook test runner (scripts/run-notebooks.py sets MNIST_CNN_ABORT_ON_PANIC) a panic aborts
// the kernel's child process, so that the cell fails instead of printing and going on; in class,
// a panic keeps evcxr's behaviour (the message, and the variables kept).
if std::env::var_os("MNIST_CNN_ABORT_ON_PANIC").is_some() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{info}");
        std::process::abort();
    }));
}
// evcxr infers the type of each variable with rust-analyzer, which reads the library and every
// crate it uses the first time a cell defines one: several seconds, once per kernel. One throwaway
// variable here does it while the notebook opens instead of in a student's first cell (dropped,
// so that no name is left behind).
let mnist_cnn_warm = String::new();
drop(mnist_cnn_warm);
