"""The one way this provider opens an onnxruntime session.

Without a memory arena: a session's arena keeps its largest activations for the life of the
process, one arena per session, so the tagger's and open_nsfw's peaks add up. Measured on 8
corpus photos analysed twice (1 thread): resident 247 MB against 267-269 with arenas, peak
316-331 against 335-342, CPU per photo 625-659 ms against 633-645 (the same within noise).
RapidOCR opens its own sessions, also without an arena (its default).
"""

from __future__ import annotations

from typing import Any


def inference_session(model: str | bytes, threads: int = 0) -> Any:
    """A CPU session for `model` (a path or the file's bytes); `threads` 0: onnxruntime's
    default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = False
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
