"""Runs every notebook in notebooks/ top to bottom in a fresh Rust (evcxr) kernel and fails on:
- any cell error, compile error or panic (a panic aborts the kernel here: see notebooks/evcxr/prelude.rs),
- a cell tagged `raises-exception` that does NOT fail, or fails without the expected message,
- a cell tagged `picture` without an image/png output,
- a stray `()` output, or this machine's path in an output (not in a compile error that is meant),
- no "Next:" (or "Back to the start:") link, or a link to a notebook that is not there.
Saved copies carry no terminal colour codes, and a cell tagged `answer` (one that shows an
exercise's answer) is saved without its output; a notebook that failed is never written back.

Usage: run-notebooks.py [--full] [--inplace] [NOTEBOOK...]
  default: quick mode (MNIST_CNN_QUICK=1), executed copies in target/notebooks/executed/
  --full:  the lesson's full settings; --inplace: write the outputs back into notebooks/
"""
import os
import re, sys, time, pathlib, shutil
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

root = pathlib.Path(__file__).resolve().parent.parent
args = [a for a in sys.argv[1:] if not a.startswith("--")]
full, inplace = "--full" in sys.argv, "--inplace" in sys.argv
books = [pathlib.Path(a).resolve() for a in args] or sorted((root / "notebooks").glob("*.ipynb"))
# The kernel is the one scripts/kernel.py registers (notebooks/evcxr: init.evcxr, prelude.rs, the
# cargo settings), with two changes for testing: a panic fails the cell (prelude.rs), and the
# kernels share one build folder (EVCXR_TMPDIR, one kernel at a time) that starts from this
# project's Cargo.lock, so that the notebooks build with the versions the tests ran with (cargo
# keeps locked versions). It lies under target/evcxr/ so that the cargo settings apply.
os.environ["MNIST_CNN_ABORT_ON_PANIC"] = "1"
os.environ.setdefault("EVCXR_TMPDIR", str(root / "target" / "evcxr" / "runner"))
os.makedirs(os.environ["EVCXR_TMPDIR"], exist_ok=True)
lock = pathlib.Path(os.environ["EVCXR_TMPDIR"]) / "Cargo.lock"
if not lock.exists():
    shutil.copy(root / "Cargo.lock", lock)
if full:
    os.environ.pop("MNIST_CNN_QUICK", None)
else:
    os.environ["MNIST_CNN_QUICK"] = "1"
out_dir = root / "target" / "notebooks" / "executed"
out_dir.mkdir(parents=True, exist_ok=True)

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

def plain_of(output):
    """What a cell's value shows as plain text (its text/plain), or ""."""
    return "".join(output.get("data", {}).get("text/plain", ""))

def text_of(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join([output.get("ename", ""), output.get("evalue", "")] + output.get("traceback", []))
    return ""

failures, passed = [], 0
for path in books:
    nb = nbformat.read(path, as_version=4)
    started = time.time()
    client = NotebookClient(nb, kernel_name="rust", timeout=1800, startup_timeout=1800, resources={"metadata": {"path": str(path.parent)}})
    problems = []
    try:
        client.execute()
    except CellExecutionError as e:
        problems.append(f"a cell failed: {str(e)[:3000]}")
    except Exception as e:  # the kernel died, timed out, ...
        problems.append(f"the notebook could not run: {type(e).__name__}: {str(e)[:2000]}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        text = "".join(text_of(o) for o in outputs)
        if cell.get("execution_count") is None and not outputs:
            problems.append(f"cell {i} was not run (an earlier cell failed)")
            continue
        if "raises-exception" in tags:
            if not errors:
                problems.append(f"cell {i} is expected to fail to compile, but it ran")
            elif not any(m in text for m in ("5408", "cannot take examples of shape", "Dense<I, O>: I must equal")):
                problems.append(f"cell {i} failed, but not with the expected shape error: {text[:500]}")
        elif errors:
            problems.append(f"cell {i} failed: {text[:1500]}")
        if "panicked" in text and "raises-exception" not in tags:
            problems.append(f"cell {i} panicked: {text[:1500]}")
        if "picture" in tags and not any("image/png" in o.get("data", {}) for o in outputs):
            problems.append(f"cell {i} should show a picture but has no image/png output")
        if any(plain_of(o) == "()" for o in outputs):
            problems.append(f"cell {i} shows a stray `()`: end its last statement with `;`")
        shown = "" if "raises-exception" in tags else text + "".join(plain_of(o) for o in outputs)
        if str(root) + os.sep in shown:
            problems.append(f"cell {i} shows this machine's path ({root}): print paths with notebook::shown")
    # The notebooks are read in order: each links to the next (the last back to the first), and
    # every link to a notebook finds it.
    prose = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for target in re.findall(r"\]\(([^)#]+\.ipynb)(?:#[^)]*)?\)", prose):
        if not (path.parent / target).exists():
            problems.append(f"a link to {target}, which is not there")
    if not re.search(r"(Next|Back to the start): \[", prose):
        problems.append("no \"Next:\" link to the following notebook")
    seconds = time.time() - started
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            # The compiler's colours, as escape codes, are noise in a saved notebook.
            if "text" in o:
                o["text"] = ANSI.sub("", o["text"])
            if "traceback" in o:
                o["traceback"] = [ANSI.sub("", t) for t in o["traceback"]]
            if "evalue" in o:
                o["evalue"] = ANSI.sub("", o["evalue"])
        # An answer revealed by running a cell stays for the student to run: the saved copy
        # keeps the cell (it ran and was checked above) but not what it printed.
        if "answer" in cell.metadata.get("tags", []):
            cell["outputs"] = []
            cell["execution_count"] = None
    # A notebook that failed is never written over the committed one.
    target = path if inplace and not problems else out_dir / path.name
    nbformat.write(nb, target)
    if problems:
        failures.append(path.name)
        print(f"FAIL {path.name} ({seconds:.0f} s)")
        for p in dict.fromkeys(problems):
            print("   ", p.replace("\n", "\n    "))
    else:
        passed += 1
        print(f"ok   {path.name} ({seconds:.0f} s) -> {target.relative_to(root)}")
print(f"notebooks: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
