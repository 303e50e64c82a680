// Run by evcxr at kernel start (EVCXR_CONFIG_DIR points here: see scripts/kernel.py). Under the
// notebook test runner (scripts/run-notebooks.py sets MNIST_CNN_ABORT_ON_PANIC) a panic aborts
// the kernel's child process, so that the cell fails instead of printing and going on; in class,
// a panic keeps evcxr's behaviour (the message, and the variables kept).
if std::env::var_os("MNIST_CNN_ABORT_ON_PANIC").is_some() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{info}");
        std::process::abort();
    }));
}
