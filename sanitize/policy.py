"""The policy: clause catalogue and the rules that turn regions into blur actions
and findings.  Rules live in a TOML file (packaged default: policy.toml) so a
media cell can change thresholds and what blocks without touching code."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sanitize.types import Finding, MetadataItem, Region

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")
ACTIONS = ("blur", "flag", "removed")


class PolicyError(ValueError):
    """The policy file is malformed; raised at start-up, before any file is touched."""


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
        return any(f.blocking for f in self.findings)


@dataclass(frozen=True)
class Policy:
    clauses: dict[str, Clause]
    rules: dict[str, Rule]

    def extended(self, extra: dict[str, Rule]) -> Policy:
        """This policy plus rules for kinds it lacks; the policy file wins on conflicts."""
        if not extra:
            return self
        return Policy(self.clauses, {**extra, **self.rules})

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
    if "face" not in rules or rules["face"].action != "blur":
        # Faces are the one thing no edited policy may stop blurring (cl. 27, 30, 13, 14).
        raise PolicyError("rule 'face' must exist with action = \"blur\"")
    return Policy(clauses, rules)


@lru_cache(maxsize=8)
def load_policy(path: Path | None = None) -> Policy:
    path = path or DEFAULT_POLICY
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise PolicyError(f"cannot read policy file {path}: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"policy file {path} is not valid TOML: {e}") from e
    return _parse(data)
