"""The notebooks' Rust kernel (evcxr), as this project sets it up; used by setup-notebooks.sh,
run-notebooks.py and kernel-timings.py.

  kernel.py install EXE       registers EXE (evcxr_jupyter) as the "rust" kernel inside .venv/,
                              whose Jupyter prefers it to a user-wide one, started by `launch`
  kernel.py launch EXE FILE   what Jupyter runs to start a kernel (FILE: its connection file):
                              EVCXR_CONFIG_DIR=target/evcxr/kernels/<pid>/config, a copy of
                              notebooks/evcxr (init.evcxr: the compilation cache, offline, :opt 3;
                              prelude.rs) whose init.evcxr also loads the library (`:dep` with its
                              absolute path, as evcxr writes a notebook's `:dep ... path = ".."`)
                              when the template below is current, so that the kernel builds and
                              reads it while the notebook opens and a notebook's own `:dep` finds
                              it done; and the kernel's build folder in
                              target/evcxr/kernels/<pid>/crate/, below target/evcxr/.cargo/config.toml
                              (a copy of notebooks/evcxr/cargo-config.toml: the library optimised as
                              in a release build); folders of kernels that are gone are removed
  kernel.py warm              runs a notebook's first line (the library's `:dep`) in a new kernel,
                              which fills evcxr's cache with the library and its dependencies, and
                              keeps that kernel's build folder as the template of the next ones

The build folders sit under target/ because the kernel's code completion (rust-analyzer) reads
every folder of the library's checkout except target/ and .git/.

A new kernel's build folder starts as a copy of the template (target/evcxr/template/, or
$MNIST_CNN_KERNEL_TEMPLATE), so that cargo finds the library and its dependencies built and up to
date, and its first cell neither copies them out of evcxr's cache nor runs their build scripts
again. The copy is used only while the library's source is the one the template was built from
(a fingerprint of it is kept beside the template); otherwise the kernel starts empty, as evcxr
does, and builds from the cache. Compiled files are hard links to the template's (as it is
current, cargo rebuilds none of them); cargo's records, which it rewrites, are copied.
"""
import hashlib, json, os, pathlib, shutil, subprocess, sys, time

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


def template():
    return pathlib.Path(os.environ.get("MNIST_CNN_KERNEL_TEMPLATE", evcxr_dir / "template"))


def library_fingerprint():
    """What a kernel's build of the library depends on: its source and build settings."""
    h = hashlib.sha256()
    files = [root / "build.rs", root / "Cargo.toml", root / "Cargo.lock", root / "notebooks" / "evcxr" / "cargo-config.toml"]
    for path in sorted(files + [p for p in (root / "src").rglob("*") if p.is_file()]):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def template_is_current():
    """Whether the template was built from the library as it is now (so it also compiles)."""
    try:
        return (template() / "fingerprint").read_text() == library_fingerprint()
    except OSError:
        return False


def from_template(crate):
    """Fills `crate` (a new kernel's build folder) from the (current) template."""
    tpl = template()
    for src in (tpl / "target").rglob("*"):
        dst = crate / "target" / src.relative_to(tpl / "target")
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.parent.name == "deps":
            try:
                os.link(src, dst)
                continue
            except OSError:
                pass  # another file system: copy
        shutil.copy2(src, dst)


def keep_as_template(pid):
    """The build folder of the kernel `pid` (stopped) becomes the template, without the cells'
    own files (crate `ctx`, `code_<n>`)."""
    crate = evcxr_dir / "kernels" / str(pid) / "crate"
    tpl = template()
    fresh = tpl.with_name(tpl.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    shutil.move(str(crate / "target"), str(fresh / "target"))
    for p in list(fresh.rglob("*")):
        if p.name.startswith(("ctx-", "ctx.", "libctx", "libcode_", "code_")) and p.exists():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    (fresh / "fingerprint").write_text(library_fingerprint())
    shutil.rmtree(tpl, ignore_errors=True)
    fresh.rename(tpl)


def config(with_library):
    """A folder for this kernel with notebooks/evcxr's init.evcxr and prelude.rs, and the
    library's `:dep` added to init.evcxr if `with_library` (a library that does not compile
    would stop the kernel at its start, so it is loaded there only when the template shows that it
    compiles; otherwise a notebook's first cell builds it and shows any error, as evcxr does)."""
    folder = evcxr_dir / "kernels" / str(os.getpid()) / "config"
    folder.mkdir(parents=True, exist_ok=True)
    source = root / "notebooks" / "evcxr"
    init = (source / "init.evcxr").read_text()
    if with_library:
        init += DEP.splitlines()[0].replace('".."', json.dumps(str(root))) + "\n"
    (folder / "init.evcxr").write_text(init)
    shutil.copyfile(source / "prelude.rs", folder / "prelude.rs")
    return folder


def launch(exe, connection_file):
    mine = prepare() / str(os.getpid())
    mine.mkdir(exist_ok=True)
    current = template_is_current()
    os.environ["EVCXR_CONFIG_DIR"] = str(config(current))
    if not os.environ.get("EVCXR_TMPDIR"):  # (the test runner gives its kernels one shared folder)
        crate = mine / "crate"
        crate.mkdir(exist_ok=True)
        if current:
            from_template(crate)
        os.environ["EVCXR_TMPDIR"] = str(crate)
    os.execv(exe, [exe, "--control_file", connection_file])  # the same process: <pid> stays its own


def start(quiet=False, **env):
    """A new kernel in notebooks/ (where the notebooks' `:dep` paths point from), with `env` added."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="rust")
    out = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
    km.start_kernel(cwd=str(root / "notebooks"), env=dict(os.environ, **env), **out)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=1800)  # the start builds the library: minutes on an empty cache
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
        started = time.perf_counter()
        km, kc = start(quiet=True, EVCXR_TMPDIR="")
        try:
            run_cell(kc, DEP)
            print(f"the notebooks' kernel: the library is ready in {time.perf_counter() - started:.0f} s")
        finally:
            pid = km.provisioner.process.pid
            stop(km, kc)
        keep_as_template(pid)
    else:
        sys.exit(__doc__)
