"""The notebooks' Rust kernel (evcxr), as this project sets it up; used by setup-notebooks.sh,
run-notebooks.py and kernel-timings.py.

  kernel.py install EXE       registers EXE (evcxr_jupyter) as the "rust" kernel inside .venv/,
                              whose Jupyter prefers it to a user-wide one, started by `launch`
  kernel.py launch EXE FILE   what Jupyter runs to start a kernel (FILE: its connection file):
                              EVCXR_CONFIG_DIR=notebooks/evcxr (init.evcxr: the compilation
                              cache, offline, :opt 3; prelude.rs), and the kernel's build folder
                              in target/evcxr/kernels/<pid>/, below target/evcxr/.cargo/config.toml
                              (a copy of notebooks/evcxr/cargo-config.toml: the library optimised as
                              in a release build); folders of kernels that are gone are removed
  kernel.py warm              runs a notebook's first line (the library's `:dep`) in a new kernel,
                              which fills evcxr's cache with the library and its dependencies

The build folders sit under target/ because the kernel's code completion (rust-analyzer) reads
every folder of the library's checkout except target/ and .git/.
"""
import json, os, pathlib, shutil, subprocess, sys, time

root = pathlib.Path(__file__).resolve().parent.parent
evcxr_dir = root / "target" / "evcxr"
DEP = ':dep mnist-cnn = { path = "..", default-features = false }\nuse mnist_cnn::model;'


def install(exe):
    spec = root / ".venv" / "share" / "jupyter" / "kernels" / "rust"
    spec.mkdir(parents=True, exist_ok=True)
    kernel = {
        "argv": [sys.executable, str(pathlib.Path(__file__).resolve()), "launch", exe, "{connection_file}"],
        "display_name": "Rust",
        "language": "rust",
        "interrupt_mode": "message",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1) + "\n")


def prepare():
    """target/evcxr/ with the cargo settings, and without the folders of kernels that are gone."""
    (evcxr_dir / ".cargo").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / "notebooks" / "evcxr" / "cargo-config.toml", evcxr_dir / ".cargo" / "config.toml")
    kernels = evcxr_dir / "kernels"
    kernels.mkdir(exist_ok=True)
    for folder in kernels.iterdir():
        try:
            os.kill(int(folder.name), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's kernel, alive
    return kernels


def launch(exe, connection_file):
    mine = prepare() / str(os.getpid())
    mine.mkdir(exist_ok=True)
    os.environ["EVCXR_CONFIG_DIR"] = str(root / "notebooks" / "evcxr")
    os.environ["TMPDIR"] = str(mine)  # evcxr makes its build folder with tempfile, in here
    os.execv(exe, [exe, "--control_file", connection_file])  # the same process: <pid> stays its own


def start(quiet=False, **env):
    """A new kernel in notebooks/ (where the notebooks' `:dep` paths point from), with `env` added."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="rust")
    out = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
    km.start_kernel(cwd=str(root / "notebooks"), env=dict(os.environ, **env), **out)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel()


def run_cell(kc, code, timeout=1800):
    """Runs `code`; returns (seconds, printed text). Exits with the kernel's message if it fails."""
    out = []

    def hook(msg):
        c = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(c["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(c.get("traceback", [])) or c.get("evalue", ""))

    started = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    seconds = time.perf_counter() - started
    text = "".join(out)
    if reply["content"]["status"] != "ok":
        sys.exit(f"a cell failed in the kernel:\n{text[-3000:]}")
    return seconds, text


if __name__ == "__main__":
    if sys.argv[1:2] == ["install"] and len(sys.argv) == 3:
        install(sys.argv[2])
    elif sys.argv[1:2] == ["launch"] and len(sys.argv) == 4:
        launch(sys.argv[2], sys.argv[3])
    elif sys.argv[1:] == ["warm"]:
        km, kc = start(quiet=True)
        try:
            seconds, _ = run_cell(kc, DEP)
            print(f"the notebooks' kernel: the library is ready in {seconds:.0f} s")
        finally:
            stop(km, kc)
    else:
        sys.exit(__doc__)
