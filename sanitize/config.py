"""Run settings: one object built by the CLI and passed to every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sanitize.hashing import sha256_file

# OUT/.tmp: outputs are written here, then renamed into safe/ or review/ (one file
# system, so the rename is atomic); what a killed run left here goes at the next start.
TMP_DIR = ".tmp"


@dataclass(frozen=True)
class ExtraModel:
    """A user-supplied YOLO-format ONNX detector and its class map (YAML)."""

    onnx: Path
    classes: Path


@dataclass(frozen=True)
class Settings:
    mask: str = "blur"  # blur | pixelate | solid (sanitize.redact)
    max_pixels: int = 200_000_000  # decompression-bomb guard, per picture/frame
    max_video_seconds: float = 4 * 3600.0
    jpeg_quality: int = 92
    flags: bool = True  # run the policy-flag detectors (weapons, plates, uniforms, documents)
    mute: bool = False  # drop audio from videos
    policy_file: Path | None = None  # None → the packaged default policy.toml
    extra_models: tuple[ExtraModel, ...] = field(default_factory=tuple)
    # Intra-op threads per worker's model sessions: the cores the run has per
    # worker (0 = decide from the cores and workers, `threads_for`).  Not part of
    # the fingerprint: it changes speed, not the output.
    threads: int = 0

    def session_threads(self) -> int:
        """`threads`, or when 0: 1 inside a pool worker (the pool did not say), else
        every core (one file in this process)."""
        import os

        if self.threads > 0:
            return self.threads
        return 1 if os.environ.get("SANITIZE_WORKER") else threads_for(1)

    def fingerprint(self) -> str:
        """What changes the output bytes; the ledger re-processes a file when it changes:
        the options, the policy file's content, the tool version and every model's sha256."""
        import hashlib

        from sanitize import __version__
        from sanitize.detect.registry import model_digests

        parts = [
            __version__, *model_digests(self),
            self.mask, str(self.max_pixels), str(self.jpeg_quality), str(self.flags),
            str(self.mute),
            _file_digest(self.policy_file),
            *(f"{_file_digest(m.onnx)}:{_file_digest(m.classes)}" for m in self.extra_models),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """The settings and policy as the reports record them, so an auditor can see
        how each output was made (report.json `settings`, report.html header)."""
        from sanitize import __version__
        from sanitize.policy import DEFAULT_POLICY, load_policy

        policy_path = self.policy_file or DEFAULT_POLICY
        rules = load_policy(self.policy_file).rules
        return {
            "tool_version": __version__,
            "fingerprint": self.fingerprint(),
            "mask": self.mask,
            "flags": self.flags,
            "mute": self.mute,
            "max_megapixels": self.max_pixels / 1e6,
            "jpeg_quality": self.jpeg_quality,
            "policy": {
                "file": str(policy_path),
                "packaged_default": self.policy_file is None,
                "sha256": sha256_file(policy_path),
                "rules": {k: {"action": r.action, "blocking": r.blocking,
                              "threshold": r.threshold, "clauses": list(r.clauses)}
                          for k, r in sorted(rules.items())},
            },
            "extra_models": [{"onnx": str(m.onnx), "onnx_sha256": sha256_file(m.onnx),
                              "classes": str(m.classes), "classes_sha256": sha256_file(m.classes)}
                             for m in self.extra_models],
        }


def threads_for(workers: int, cores: int | None = None) -> int:
    """Cores per worker process: one worker on two cores gets 2, two workers 1 each."""
    import os

    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return sha256_file(path)[:16]
    except OSError:
        return "missing"
