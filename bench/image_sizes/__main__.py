"""What each service image installs, measured without Docker.

Run: `.venv/bin/python -m bench.image_sizes [EXTRA ...]`. For each extra (default: every
service and the CLI) a fresh virtualenv gets exactly what its Dockerfile installs,
`pip install --constraint constraints.txt '.[<extra>]'`, and the size of its site-packages is
measured (`du`), with its largest distributions. The baseline in the same run is the image
every service used to share: the union of all extras (`.[all]`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import venv
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ("gateway", "auth", "billing", "processor", "vision", "retention", "cli")


def _kib(path: Path) -> int:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])  # fmt: skip


def install(extra: str, into: Path) -> Path:
    """A fresh venv with `.[extra]` from constraints.txt; returns its site-packages."""
    venv.EnvBuilder(with_pip=True).create(into)
    python = into / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--constraint", str(ROOT / "constraints.txt"), f"{ROOT}[{extra}]"],
        check=True,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(site)


def largest(site: Path, count: int = 4) -> list[tuple[str, int]]:
    """(distribution, KiB of its files) for the biggest distributions in `site`."""
    sizes = []
    for dist in metadata.distributions(path=[str(site)]):
        total = sum((site / f).stat().st_size for f in dist.files or () if (site / f).is_file())
        sizes.append((dist.metadata["Name"], total // 1024))
    return sorted(sizes, key=lambda item: -item[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.image_sizes")
    parser.add_argument("extras", nargs="*", default=[*EXTRAS, "all"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="picopt-sizes-") as tmp:
        for extra in args.extras:
            site = install(extra, Path(tmp) / extra)
            rows.append((extra, _kib(site), largest(site)))
            print(f"measured {extra}", file=sys.stderr, flush=True)
    print("\n| image (extra) | site-packages MB | largest distributions (MB) |\n|---|---:|---|")
    for extra, kib, big in rows:
        names = ", ".join(f"{name} {size / 1024:.0f}" for name, size in big)
        print(f"| {extra} | {kib / 1024:.0f} | {names} |")


if __name__ == "__main__":
    main()
