"""`import services.gateway.app` loads no image or model library; its cost is printed.

Issue 18 measured 2.4 s and 177 MB before the gateway stopped importing the engine; the README
shows the figures this test prints (`pytest -s tests/boundaries/test_gateway_weight.py`).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.boundaries.import_graph import ROOT

HEAVY = ("cv2", "pyvips", "numpy", "onnxruntime", "PIL", "pillow_heif", "rapidocr", "sqlalchemy")
PROBE = """
import json, resource, sys, time
started = time.perf_counter()
import services.gateway.app
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "modules": len(sys.modules),
    "heavy": [m for m in json.loads(sys.argv[1]) if m in sys.modules],
}))
"""


def test_the_gateway_app_imports_no_heavy_library(record_property: pytest.RecordProperty) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for name, value in figures.items():
        record_property(name, value)
    print(
        f"import services.gateway.app: {figures['seconds']:.2f} s, "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB, {figures['modules']} modules"
    )
    assert figures["heavy"] == []
