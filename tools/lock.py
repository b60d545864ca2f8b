"""Write the pinned environment: requirements.txt from .venv, then environment.yml from it.

Run after changing what the book needs (``pip install X`` into .venv, then
``.venv/bin/python tools/lock.py``). tests/test_config.py checks that the two files agree.
"""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEADER = """\
# The tested environment of the book (the lock), written by tools/lock.py from .venv.
# `make book` and `make test` install exactly this. torch is the CPU build on machines that
# have its wheel locally; elsewhere add --extra-index-url https://download.pytorch.org/whl/cpu.
"""


def main() -> None:
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    no_deps = {line.split("==")[0].lower() for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    pins = []
    for line in freeze:
        name = line.split("==")[0].lower()
        if "==" not in line or name in ("pip", "why-deep-networks-generalize") or name in no_deps:
            continue
        pins.append(line.split("+")[0])  # torch==2.13.0+cpu -> torch==2.13.0 (the local label is a build detail)
    pins.sort(key=str.lower)
    (ROOT / "requirements.txt").write_text(HEADER + "\n".join(pins) + "\n")
    env = ["# Conda environment equivalent to requirements.txt (Binder builds from it); written by tools/lock.py.",
           "name: why-deep-networks-generalize", "channels:", "  - conda-forge", "dependencies:",
           f"  - python={sys.version_info.major}.{sys.version_info.minor}", "  - pip", "  - pip:",
           "      - --extra-index-url https://download.pytorch.org/whl/cpu"]
    env += [f"      - {pin}" for pin in pins]
    (ROOT / "environment.yml").write_text("\n".join(env) + "\n")
    print(f"pinned {len(pins)} packages")


if __name__ == "__main__":
    main()
