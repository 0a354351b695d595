"""The policy: clause catalogue and the rules that turn regions into blur actions
and findings.  Rules live in a TOML file (packaged default: policy.toml) so a
media cell can change thresholds and what blocks without touching code."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sanitize.errors import SanitizeError
from sanitize.types import Finding, MetadataItem, Region

if TYPE_CHECKING:
    from sanitize.config import Settings
    from sanitize.detect.yolo import ClassSpec

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")
ACTIONS = ("blur", "flag", "removed")
# Kinds that are always masked, with the built-in threshold no policy may raise:
# faces (cl. 27, 30, 13, 14) and number plates (cl. 30) are redaction, not flags.
MASKED_KINDS = {"face": 0.0, "plate": 0.0}
# Kinds a person must see or that must be masked: "removed" (the metadata action)
# would make them neither masked nor blocking, silently.
FLAGGED_KINDS = ("weapon", "seized_items", "uniform", "document")


class PolicyError(SanitizeError, ValueError):
    """The policy file is malformed or refused; raised at start-up, before any file is
    touched (exit 3).  A SanitizeError too, so a policy edited under a running `watch`
    costs a file a clear reason, never an "internal error"."""


@dataclass(frozen=True)
class Clause:
    number: str
    hi: str
    en: str


@dataclass(frozen=True)
class Rule:
    kind: str
    action: str
    blocking: bool
    threshold: float
    clauses: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """What the policy made of one picture (or one video's tracks)."""

    blur: list[Region]
    findings: list[Finding]

    @property
    def needs_review(self) -> bool:
        return needs_review(self.findings)


def needs_review(findings: list[Finding]) -> bool:
    """The one rule that sends a file to review/: any finding that blocks."""
    return any(f.blocking for f in findings)


@dataclass(frozen=True)
class Policy:
    clauses: dict[str, Clause]
    rules: dict[str, Rule]

    def extended(self, extra: dict[str, Rule]) -> Policy:
        """This policy plus rules for kinds it lacks; the policy file wins on conflicts,
        except that a kind a user's model finds can never be merely "removed"."""
        if not extra:
            return self
        self.check_model_kinds(extra)
        return Policy(self.clauses, {**extra, **self.rules})

    def check_model_kinds(self, kinds: Iterable[str]) -> None:
        """Refuse "removed" for kinds a detector finds in the picture (user models)."""
        for kind in kinds:
            rule = self.rules.get(kind)
            if rule is not None and rule.action == "removed":
                raise PolicyError(f"rule {kind!r}: a detector finds this kind in the picture, "
                                  'so action must be "blur" or "flag", not "removed"')

    def rule(self, kind: str) -> Rule:
        # Unknown kinds (from a user's own model) are flagged for review, never dropped.
        return self.rules.get(kind) or Rule(kind, "flag", True, 0.0, ())

    def decide(self, regions: list[Region], metadata: list[MetadataItem] | None = None) -> Decision:
        blur: list[Region] = []
        findings: list[Finding] = []
        for r in regions:
            rule = self.rule(r.kind)
            if r.score < rule.threshold:
                continue
            if rule.action == "blur":
                blur.append(r)
            findings.append(Finding(
                kind=r.kind, clauses=rule.clauses, confidence=round(float(r.score), 3),
                action="blurred" if rule.action == "blur" else "flagged",
                blocking=rule.blocking, box=r.box.as_list(),
                t_start=r.t_start, t_end=r.t_end, detail=r.label, detector=r.detector,
            ))
        findings.extend(self.metadata_findings(metadata or []))
        return Decision(blur=blur, findings=findings)

    def metadata_findings(self, items: list[MetadataItem]) -> list[Finding]:
        """One finding per metadata class found in the input (names only, never values)."""
        by_cls: dict[str, list[str]] = {}
        for m in items:
            by_cls.setdefault(m.cls, []).append(m.name or m.where)
        out = []
        for cls, names in sorted(by_cls.items()):
            rule = self.rules.get(cls) or self.rule("metadata")
            out.append(Finding(
                kind=f"metadata:{cls}", clauses=rule.clauses, confidence=1.0,
                action="removed", blocking=False,
                detail=", ".join(sorted(set(names)))[:300],
            ))
        return out


def _parse(data: dict) -> Policy:
    try:
        clauses = {
            str(n): Clause(str(n), str(c["hi"]), str(c["en"]))
            for n, c in data.get("clauses", {}).items()
        }
        rules = {}
        for kind, r in data.get("rules", {}).items():
            action = str(r.get("action", "flag"))
            if action not in ACTIONS:
                raise PolicyError(f"rule {kind!r}: action must be one of {ACTIONS}, not {action!r}")
            threshold = float(r.get("threshold", 0.0))
            if not 0.0 <= threshold <= 1.0:
                raise PolicyError(f"rule {kind!r}: threshold must be within 0..1")
            rule_clauses = tuple(str(c) for c in r.get("clauses", ()))
            unknown = [c for c in rule_clauses if c not in clauses]
            if unknown:
                raise PolicyError(f"rule {kind!r}: clauses {unknown} are not in [clauses]")
            rules[kind] = Rule(kind, action, bool(r.get("blocking", action == "flag")),
                               threshold, rule_clauses)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, PolicyError):
            raise
        raise PolicyError(f"policy file is malformed: {e}") from e
    _validate(rules)
    return Policy(clauses, rules)


def _validate(rules: dict[str, Rule]) -> None:
    """Refuse, at start, any policy under which a face or plate could stay visible or
    a flag could be silently dropped (fail closed: never "neither masked nor blocking")."""
    for kind, threshold in MASKED_KINDS.items():
        rule = rules.get(kind)
        if rule is None or rule.action != "blur":
            raise PolicyError(f'rule {kind!r} must exist with action = "blur" '
                              "(faces and number plates are always masked)")
        if rule.threshold != threshold:
            raise PolicyError(f"rule {kind!r}: threshold must stay {threshold} (every "
                              f"{kind} the detectors report is masked; when unsure, blur)")
    for kind in FLAGGED_KINDS:
        rule = rules.get(kind)
        if rule is not None and rule.action == "removed":
            raise PolicyError(f'rule {kind!r}: action must be "flag" or "blur", not "removed" '
                              '("removed" is for metadata only)')


def policy_for(settings: Settings, user_classes: Iterable[ClassSpec] = ()) -> Policy:
    """The settings' policy file, plus a rule that flags for review each kind only a
    user's own model knows (threshold and clauses from its class map)."""
    extra: dict[str, Rule] = {}
    for spec in user_classes:
        extra.setdefault(spec.kind, Rule(spec.kind, "flag", True, spec.threshold, spec.clauses))
    return load_policy(settings.policy_file).extended(extra)


def load_policy(path: Path | None = None) -> Policy:
    """The validated policy in `path` (default: the packaged one).  Read on every call
    and cached on its content, so an edited file (a running `watch`) takes effect."""
    path = path or DEFAULT_POLICY
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise PolicyError(f"cannot read policy file {path}: {e.strerror}") from e
    return _load(str(path), data)


@lru_cache(maxsize=8)
def _load(path: str, data: bytes) -> Policy:
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PolicyError(f"policy file {path} is not UTF-8 text") from e
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"policy file {path} is not valid TOML: {e}") from e
    try:
        return _parse(parsed)
    except PolicyError as e:
        raise PolicyError(f"policy file {path}: {e}") from e
