// Loaded by evcxr at kernel start when EVCXR_CONFIG_DIR points here (the test runner does so):
// a panic aborts the kernel's child process, so the cell fails instead of printing and going on.
std::panic::set_hook(Box::new(|info| {
    eprintln!("{info}");
    std::process::abort();
}));
