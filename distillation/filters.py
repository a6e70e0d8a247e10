"""Triple filtering of generated critiques (AesCoT): leakage, alignment, factual. Pure functions, no Django.

Every rejection carries the filter, a machine reason, a message for the curator and the evidence span
(start, end, text) into the critique text, so the audit page can highlight exactly what was caught.

- Leakage (`cot_filter_leakage`): words tied to the hidden label ("the expert", "rating", "ground truth",
  "was given", "as provided", "hidden", ...), references to the instructions, numbers that look like the hidden
  label or score (signed verdicts, "x out of y", decimals in [0, 1] for scored items), and backward reasoning
  (a criterion whose analysis opens with the conclusion, or text that reasons towards "the verdict").
- Alignment (`cot_filter_alignment`): the critique's own verdicts against the consensus label: every dimension,
  and in `criteria_share` mode also a minimum share of the criteria.
- Factual (`cot_filter_factual`): claims about each video checked against the experts' checklist answers
  (camera motion, on-screen text, camera stability), the metadata (duration, resolution, orientation, frame
  rate) and which video is which (a "Video B" described inside A's analysis, a property of B attributed to A).

The answer format is parsed by rm_training.parsing (the one strict parser); this module only locates spans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from rm_training.parsing import AnswerParseError, ParsedAnswer, parse_cot_answer

LEAKAGE = "leakage"
ALIGNMENT = "alignment"
FACTUAL = "factual"
FILTERS = (LEAKAGE, ALIGNMENT, FACTUAL)


@dataclass(frozen=True)
class Rejection:
    filter: str
    reason: str
    message: str
    start: int
    end: int
    text: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VideoFacts:
    """What is known about one video. checklist: fact name -> bool, from the experts' majority answers.

    Fact names: "camera_moves", "has_text", "camera_stable" (absent when no expert answered).
    """

    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    checklist: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class FilterContext:
    """labels: {"criteria": {code: v}, "dimensions": {code: v}} (pairs); score in [0, 1] (scored videos).
    facts: {"A": VideoFacts, "B": VideoFacts} for pairs, {"V": VideoFacts} for a scored video."""

    labels: dict = field(default_factory=dict)
    score: float | None = None
    facts: dict[str, VideoFacts] = field(default_factory=dict)
    criteria_codes: tuple[str, ...] = ()
    alignment_mode: str = "dimensions"
    min_criteria_share: float = 0.8


@dataclass
class FilterResult:
    parsed: ParsedAnswer | None
    parse_error: str
    rejections: dict[str, list[Rejection]]
    consistency: float | None
    score: float | None = None  # the rating in <answer> of a scored item's critique

    def passed_filter(self, name: str) -> bool:
        return not self.rejections[name]

    @property
    def passed(self) -> bool:
        understood = self.parsed is not None or self.score is not None
        return understood and all(not found for found in self.rejections.values())

    def all_rejections(self) -> list[Rejection]:
        return [rejection for name in FILTERS for rejection in self.rejections[name]]

    def parsed_verdicts(self) -> dict | None:
        if self.score is not None:
            return {"score": self.score}
        if self.parsed is None:
            return None
        return {
            "criteria": {code: judgement.verdict for code, judgement in self.parsed.criteria.items()},
            "dimensions": dict(self.parsed.dimensions),
        }


# --- Locating the parts of an AesRM-CoT text -------------------------------------------------------------

_BLOCK_START = re.compile(r"^[ \t]*(?P<code>[A-Z]{2}\d+)\b", re.MULTILINE)
_SIDE_MARK = re.compile(r"(?<![\w])(?P<side>[AB]):")
_VERDICT_SLOT = re.compile(r"Verdict:\s*(?P<value>-1|0|1)")
_ANSWER = re.compile(r"<answer>.*?</answer>", re.DOTALL)
_ANSWER_DIMENSION = re.compile(r"(?P<code>V[AFP])\s*:\s*(?P<value>-1|0|1)")


@dataclass(frozen=True)
class Block:
    code: str
    start: int
    end: int
    sides: dict[str, tuple[int, int]]  # "A"/"B" -> (start, end) of that video's analysis
    verdict: tuple[int, int] | None  # span of "Verdict: v"


def blocks_of(text: str) -> list[Block]:
    """Criterion blocks inside <think>, with the spans of the A and B analyses and of the verdict."""
    think_start = text.find("<think>")
    think_end = text.find("</think>")
    if think_start < 0:
        return []
    region_start = think_start + len("<think>")
    region_end = think_end if think_end > region_start else len(text)
    starts = [m for m in _BLOCK_START.finditer(text, region_start, region_end)]
    blocks = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else region_end
        verdict = None
        verdict_matches = list(_VERDICT_SLOT.finditer(text, match.start(), end))
        verdict_match = verdict_matches[-1] if verdict_matches else None
        if verdict_match is not None:
            verdict = (verdict_match.start(), verdict_match.end())
        analysis_end = verdict[0] if verdict else end
        marks = {m.group("side"): m for m in _SIDE_MARK.finditer(text, match.end(), analysis_end)}
        sides: dict[str, tuple[int, int]] = {}
        mark_a, mark_b = marks.get("A"), marks.get("B")
        if mark_a is not None and mark_b is not None and mark_a.start() < mark_b.start():
            first_b = next(m for m in _SIDE_MARK.finditer(text, mark_a.end(), analysis_end) if m.group("side") == "B")
            sides["A"] = (mark_a.end(), first_b.start())
            sides["B"] = (first_b.end(), analysis_end)
        blocks.append(Block(code=match.group("code"), start=match.start(), end=end, sides=sides, verdict=verdict))
    return blocks


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The text with the given spans blanked out, offsets unchanged."""
    characters = list(text)
    for start, end in spans:
        for position in range(start, end):
            if characters[position] != "\n":
                characters[position] = " "
    return "".join(characters)


def _structure_spans(text: str) -> list[tuple[int, int]]:
    """Verdict slots, the answer block and criterion codes: format, not prose."""
    spans = [m.span() for m in _VERDICT_SLOT.finditer(text)]
    spans += [m.span() for m in _ANSWER.finditer(text)]
    spans += [m.span("code") for m in _BLOCK_START.finditer(text)]
    return spans


def _rejection(filter_name: str, reason: str, message: str, text: str, start: int, end: int) -> Rejection:
    return Rejection(filter=filter_name, reason=reason, message=message, start=start, end=end, text=text[start:end])


# --- Leakage -----------------------------------------------------------------------------------------------

_LABEL_WORDS = re.compile(
    r"\b(?:the|an?|our|their|three|two|most|several|all)\s+(?:experts?|annotators?|raters?|judges?)\b"
    r"|\bexperts?'?\s+(?:label|verdict|rating|judge?ment|opinion|consensus|preference)s?\b"
    r"|\bannotators?\b|\braters?\b"
    r"|\bratings?\b|\brated\b"
    r"|\bground[- ]truth\b"
    r"|\b(?:was|were|been|is|are)\s+given\b"
    r"|\bas\s+(?:provided|given|stated|specified|expected)\b"
    r"|\bhidden\b"
    r"|\bconsensus\b"
    r"|\b(?:the|given|true|correct|assigned|provided|target|reference)\s+labels?\b"
    r"|\bprivate\s+(?:information|label|verdict|score)s?\b"
    r"|\b(?:pre-?determined|expected|required|target|known)\s+(?:verdicts?|outcomes?|answers?|results?)\b",
    re.IGNORECASE,
)
_INSTRUCTION_WORDS = re.compile(
    r"\b(?:these|the|my|your|above|following|given|provided)\s+instructions?\b"
    r"|\bas\s+instructed\b|\bsystem\s+prompt\b"
    r"|\bI\s+(?:was|am|have\s+been)\s+(?:told|asked|instructed|given|supposed)\b"
    r"|\b(?:not\s+(?:allowed|supposed|permitted)\s+to|must\s+not|cannot)\s+(?:mention|reveal|disclose)\b"
    r"|\bwithout\s+(?:mentioning|revealing|disclosing)\b",
    re.IGNORECASE,
)
_SIGNED_VERDICT = re.compile(r"(?<![\w.])[+\-\u2212]\s?1\b(?!\.\d)")
_SCALE = re.compile(r"\b\d+(?:\.\d+)?\s*(?:out\s+of|/)\s*(?:3|5|10|100)\b(?!\.\d)", re.IGNORECASE)
_SCORED_AS = re.compile(
    r"\b(?:score[sd]?|verdict|rated|grade[sd]?|marks?)\s+(?:of|at|as|is|was|=|:)?\s*[+\-\u2212]?\d+(?:\.\d+)?\b",
    re.IGNORECASE,
)
_UNIT_DECIMAL = re.compile(r"(?<![\w.])(?:0?\.\d{1,2}|1\.0{1,2})(?![\w.]|\d)")
_PERCENT = re.compile(r"\b\d{1,3}(?:\.\d+)?\s?(?:%|percent\b)", re.IGNORECASE)
_CONCLUSION = re.compile(
    r"\b(?:video\s+)?[AB]\s+(?:is|was|comes\s+out|ends\s+up)\s+(?:clearly\s+|slightly\s+|much\s+|the\s+|overall\s+)?"
    r"(?:better|worse|superior|inferior|stronger|weaker|preferred|winner|loser)\b"
    r"|\b(?:video\s+)?[AB]\s+(?:wins|outperforms|underperforms|beats|loses)\b"
    r"|\b(?:the\s+two|both(?:\s+videos)?)\s+are\s+(?:comparable|equal|tied|equivalent)\b",
    re.IGNORECASE,
)
_BACKWARD = re.compile(
    r"\b(?:to|so\s+as\s+to)\s+(?:match|reach|arrive\s+at|justify|support|fit|agree\s+with|be\s+consistent\s+with)\s+"
    r"(?:the|this|that|my)\s+(?:final\s+|expected\s+|given\s+|required\s+|target\s+|intended\s+)?"
    r"(?:verdict|conclusion|answer|outcome|result|label|score)s?\b"
    r"|\bworking\s+backwards?\b|\breason(?:ing)?\s+backwards?\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n")


def _first_sentence(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    stop = _SENTENCE_END.search(text, start, end)
    return start, (stop.start() + 1 if stop else end)


def cot_filter_leakage(*, text: str, context: FilterContext) -> list[Rejection]:
    """Spans that reveal the hidden label, the instructions, or reasoning from the conclusion back."""
    prose = _mask(text, _structure_spans(text))
    found: list[Rejection] = []

    for match in _LABEL_WORDS.finditer(prose):
        found.append(
            _rejection(LEAKAGE, "label_reference", "Refers to the hidden label or its source.", text, *match.span())
        )
    for match in _INSTRUCTION_WORDS.finditer(prose):
        found.append(_rejection(LEAKAGE, "instruction_reference", "Refers to the instructions.", text, *match.span()))

    number_patterns = [(_SIGNED_VERDICT, "a signed verdict"), (_SCALE, "a score on a scale"), (_SCORED_AS, "a score")]
    if context.score is not None:
        number_patterns += [(_UNIT_DECIMAL, "a score in [0, 1]"), (_PERCENT, "a percentage score")]
    claimed: list[tuple[int, int]] = []
    for pattern, what in number_patterns:
        for match in pattern.finditer(prose):
            if any(start < match.end() and match.start() < end for start, end in claimed):
                continue
            claimed.append(match.span())
            found.append(_rejection(LEAKAGE, "label_number", f"A number that looks like {what}.", text, *match.span()))

    for block in blocks_of(text):
        if "A" not in block.sides:
            continue
        start, end = _first_sentence(text, *block.sides["A"])
        conclusion = _CONCLUSION.search(prose, start, end)
        if conclusion:
            found.append(
                _rejection(
                    LEAKAGE,
                    "backward_reasoning",
                    f"{block.code} states the conclusion before any evidence.",
                    text,
                    *conclusion.span(),
                )
            )
    for match in _BACKWARD.finditer(prose):
        found.append(
            _rejection(LEAKAGE, "backward_reasoning", "Reasons towards a known conclusion.", text, *match.span())
        )
    return sorted(found, key=lambda rejection: (rejection.start, rejection.end))


# --- Alignment ---------------------------------------------------------------------------------------------


def cot_filter_alignment(*, text: str, parsed: ParsedAnswer, context: FilterContext) -> list[Rejection]:
    """The critique's verdicts against the consensus label (None labels are not checked)."""
    found: list[Rejection] = []
    labels = context.labels or {}
    answer = _ANSWER.search(text)
    answer_spans = {}
    if answer:
        answer_spans = {m.group("code"): m.span() for m in _ANSWER_DIMENSION.finditer(text, *answer.span())}
    for code, label in (labels.get("dimensions") or {}).items():
        if label is None or code not in parsed.dimensions or parsed.dimensions[code] == label:
            continue
        start, end = answer_spans.get(code, answer.span() if answer else (0, 0))
        found.append(
            _rejection(
                ALIGNMENT,
                "dimension_mismatch",
                f"{code}: the critique concludes {parsed.dimensions[code]:+d}, the experts {label:+d}.",
                text,
                start,
                end,
            )
        )
    if context.alignment_mode == "criteria_share":
        verdict_spans = {block.code: block.verdict for block in blocks_of(text) if block.verdict}
        checked = mismatched = 0
        mismatches = []
        for code, label in (labels.get("criteria") or {}).items():
            if label is None or code not in parsed.criteria:
                continue
            checked += 1
            if parsed.criteria[code].verdict != label:
                mismatched += 1
                mismatches.append((code, parsed.criteria[code].verdict, label))
        share = (checked - mismatched) / checked if checked else 1.0
        if share < context.min_criteria_share:
            for code, given, label in mismatches:
                start, end = verdict_spans.get(code, (0, 0))
                found.append(
                    _rejection(
                        ALIGNMENT,
                        "criterion_mismatch",
                        f"{code}: the critique gives {given:+d}, the experts {label:+d} "
                        f"({share:.0%} of criteria match, {context.min_criteria_share:.0%} needed).",
                        text,
                        start,
                        end,
                    )
                )
    return found


def consistency_with_labels(*, parsed: ParsedAnswer, labels: dict) -> float | None:
    """Share of the labelled criteria (and dimensions) on which the critique agrees with the experts."""
    pairs = [
        (judgement.verdict, (labels.get("criteria") or {}).get(code)) for code, judgement in parsed.criteria.items()
    ]
    pairs += [(value, (labels.get("dimensions") or {}).get(code)) for code, value in parsed.dimensions.items()]
    pairs = [(given, label) for given, label in pairs if label is not None]
    if not pairs:
        return None
    return sum(given == label for given, label in pairs) / len(pairs)


# --- Factual -----------------------------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(?:no|not|without|lacks?|lacking|absence\s+of|free\s+of|never|nor)\b[^.;,]{0,20}$", re.I)


@dataclass(frozen=True)
class ClaimRule:
    """A phrase that claims `fact` is `value` about the video whose analysis it appears in."""

    fact: str
    value: bool
    pattern: re.Pattern
    describe: str
    negatable: bool = False


CLAIM_RULES: tuple[ClaimRule, ...] = (
    ClaimRule(
        "camera_moves",
        False,
        re.compile(
            r"\b(?:static|locked[- ]off|fixed|stationary|motionless|unmoving)\s+(?:camera|shot|frame|framing|view)\b"
            r"|\bcamera\s+(?:is|remains|stays|was)\s+(?:completely\s+|entirely\s+|perfectly\s+)?"
            r"(?:static|still|fixed|stationary|locked(?:[- ]off)?|motionless)\b"
            r"|\bcamera\s+(?:does\s+not|doesn't|never)\s+move\b",
            re.I,
        ),
        "calls the camera static",
    ),
    ClaimRule(
        "camera_moves",
        True,
        re.compile(
            r"\bcamera\s+(?:slowly\s+|smoothly\s+|gently\s+)?(?:pans|tilts|dollies|tracks|moves|orbits|glides|sweeps|"
            r"pushes\s+in|pulls\s+back|cranes|zooms)\b"
            r"|\b(?:slow|smooth|steady|gentle)\s+(?:pan|tilt|dolly|push-in|tracking\s+shot|camera\s+move(?:ment)?)\b",
            re.I,
        ),
        "describes camera movement",
    ),
    ClaimRule(
        "has_text",
        True,
        re.compile(
            r"\b(?:on-screen\s+text|captions?|subtitles?|lettering|title\s+card|visible\s+text|text\s+overlay|"
            r"written\s+text|letters)\b",
            re.I,
        ),
        "mentions on-screen text",
        negatable=True,
    ),
    ClaimRule(
        "camera_stable",
        False,
        re.compile(r"\b(?:shaky|jittery|wobbly|unstable)\s+(?:camera|footage|framing|shot)\b|\bcamera\s+shake\b", re.I),
        "describes a shaky camera",
    ),
)

_DURATION = re.compile(
    r"\b(?P<n>\d+(?:\.\d+)?)[- ]?(?:seconds?|secs?|s)[- ](?:long|clip|video|shot)\b"
    r"|\blasts?\s+(?:about\s+|roughly\s+|only\s+|just\s+)?(?P<n2>\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s)\b"
    r"|\bduration\s+of\s+(?:about\s+|roughly\s+)?(?P<n3>\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s)\b",
    re.I,
)
_RESOLUTION_NAME = re.compile(r"\b(?P<name>4k|uhd|2160p|1440p|1080p|full\s+hd|720p|480p|360p)\b", re.I)
_RESOLUTION_NAMED_HEIGHT = {
    "4k": 2160, "uhd": 2160, "2160p": 2160, "1440p": 1440, "1080p": 1080, "full hd": 1080, "720p": 720,
    "480p": 480, "360p": 360,
}  # fmt: skip
_RESOLUTION_PIXELS = re.compile(r"\b(?P<w>\d{2,4})\s*[x\u00d7]\s*(?P<h>\d{2,4})\b")
_ORIENTATION = re.compile(
    r"\b(?P<portrait>vertical|portrait)\s+(?:orientation|format|frame|video|clip|aspect)\b"
    r"|\b(?P<landscape>widescreen|landscape)\s+(?:orientation|format|frame|video|clip|aspect)?\b",
    re.I,
)
_FPS = re.compile(r"\b(?P<n>\d{1,3}(?:\.\d+)?)\s*(?:fps|frames\s+per\s+second)\b", re.I)
_OTHER_VIDEO = re.compile(r"\b(?:video|clip)\s+(?P<side>[AB])\b(?!['\u2019]s)", re.I)
_COMPARATIVE_BEFORE = re.compile(
    r"\b(?:than|to|with|unlike|versus|vs\.?|over|against|like|and|from|as|of|whereas|while|compared)\W*$", re.I
)


def _side_facts_claims(text: str, start: int, end: int) -> list[tuple[str, bool, int, int, str]]:
    claims = []
    for rule in CLAIM_RULES:
        for match in rule.pattern.finditer(text, start, end):
            if rule.negatable and _NEGATION.search(text[max(start, match.start() - 30) : match.start()]):
                fact_value = not rule.value
            else:
                fact_value = rule.value
            claims.append((rule.fact, fact_value, match.start(), match.end(), rule.describe))
    return claims


def _metadata_checks(text: str, start: int, end: int, facts: VideoFacts) -> list[tuple[str, int, int]]:
    """(message, start, end) for each metadata claim the facts contradict."""
    problems = []
    if facts.duration_seconds:
        for match in _DURATION.finditer(text, start, end):
            claimed = float(match.group("n") or match.group("n2") or match.group("n3"))
            if abs(claimed - facts.duration_seconds) > max(0.5, 0.25 * facts.duration_seconds):
                problems.append(
                    (f"claims {claimed:g} s; the video lasts {facts.duration_seconds:.1f} s", *match.span())
                )
    if facts.width and facts.height:
        short_side, long_side = sorted((facts.width, facts.height))
        for match in _RESOLUTION_NAME.finditer(text, start, end):
            claimed = _RESOLUTION_NAMED_HEIGHT[re.sub(r"\s+", " ", match.group("name").lower())]
            if abs(claimed - short_side) > 0.1 * claimed:
                problems.append(
                    (f"claims {match.group('name')}; the video is {facts.width}x{facts.height}", *match.span())
                )
        for match in _RESOLUTION_PIXELS.finditer(text, start, end):
            claimed_pair = sorted((int(match.group("w")), int(match.group("h"))))
            if claimed_pair != [short_side, long_side]:
                problems.append((f"claims {match.group(0)}; the video is {facts.width}x{facts.height}", *match.span()))
        for match in _ORIENTATION.finditer(text, start, end):
            if match.group("portrait") and facts.width > facts.height:
                problems.append((f"calls it portrait; it is {facts.width}x{facts.height}", *match.span()))
            if match.group("landscape") and facts.height > facts.width:
                problems.append((f"calls it landscape; it is {facts.width}x{facts.height}", *match.span()))
    if facts.fps:
        for match in _FPS.finditer(text, start, end):
            claimed = float(match.group("n"))
            if abs(claimed - facts.fps) > 1.0:
                problems.append((f"claims {claimed:g} fps; the video has {facts.fps:g} fps", *match.span()))
    return problems


def cot_filter_factual(*, text: str, context: FilterContext) -> list[Rejection]:
    """Claims about each video checked against its checklist facts, its metadata and its identity (A or B)."""
    found: list[Rejection] = []
    sides_of_text: list[tuple[str, int, int]] = []
    if "A" in context.facts and "B" in context.facts:
        for block in blocks_of(text):
            for side, (start, end) in block.sides.items():
                sides_of_text.append((side, start, end))
    elif "V" in context.facts:
        think_start, think_end = text.find("<think>"), text.find("</think>")
        sides_of_text.append(("V", max(think_start, 0), think_end if think_end > 0 else len(text)))

    seen: set[tuple[int, int]] = set()
    for side, start, end in sides_of_text:
        own = context.facts[side]
        other_side = {"A": "B", "B": "A"}.get(side)
        other = context.facts.get(other_side) if other_side else None
        for fact, value, claim_start, claim_end, describe in _side_facts_claims(text, start, end):
            known = own.checklist.get(fact)
            if known is None or known == value or (claim_start, claim_end) in seen:
                continue
            seen.add((claim_start, claim_end))
            if other is not None and other.checklist.get(fact) == value:
                found.append(
                    _rejection(
                        FACTUAL,
                        "ab_swapped",
                        f"{side}'s analysis {describe}, which is true of Video {other_side}, not of Video {side}.",
                        text,
                        claim_start,
                        claim_end,
                    )
                )
            else:
                found.append(
                    _rejection(
                        FACTUAL,
                        "checklist_contradiction",
                        f"{side}'s analysis {describe}; the experts' checklist says otherwise.",
                        text,
                        claim_start,
                        claim_end,
                    )
                )
        for message, claim_start, claim_end in _metadata_checks(text, start, end, own):
            found.append(
                _rejection(FACTUAL, "metadata_contradiction", f"{side}: {message}.", text, claim_start, claim_end)
            )
        if other_side:
            for match in _OTHER_VIDEO.finditer(text, start, end):
                if match.group("side").upper() != other_side:
                    continue
                if _COMPARATIVE_BEFORE.search(text[max(start, match.start() - 25) : match.start()]):
                    continue
                found.append(
                    _rejection(
                        FACTUAL,
                        "ab_identity",
                        f"Video {other_side} is described inside Video {side}'s analysis.",
                        text,
                        *match.span(),
                    )
                )
    return sorted(found, key=lambda rejection: (rejection.start, rejection.end))


# --- All three ---------------------------------------------------------------------------------------------


def critique_filter(*, text: str, context: FilterContext) -> FilterResult:
    """Parse (the strict AesRM-CoT parser for pairs, the rating answer for scored videos), then run the three
    filters. Never raises on bad text."""
    if context.score is not None:
        return _score_critique_filter(text=text, context=context)
    rejections: dict[str, list[Rejection]] = {name: [] for name in FILTERS}
    try:
        parsed = parse_cot_answer(text, context.criteria_codes or None)
        parse_error = ""
    except AnswerParseError as error:
        parsed, parse_error = None, str(error)
    rejections[LEAKAGE] = cot_filter_leakage(text=text, context=context)
    if parsed is None:
        rejections[ALIGNMENT] = [
            _rejection(ALIGNMENT, "unparseable", f"Not in the AesRM-CoT format: {parse_error}.", text, 0, 0)
        ]
        consistency = None
    else:
        rejections[ALIGNMENT] = cot_filter_alignment(text=text, parsed=parsed, context=context)
        consistency = consistency_with_labels(parsed=parsed, labels=context.labels)
    rejections[FACTUAL] = cot_filter_factual(text=text, context=context)
    return FilterResult(parsed=parsed, parse_error=parse_error, rejections=rejections, consistency=consistency)


# --- Scored videos (Aes-R1 style) -----------------------------------------------------------------------------

_SCORE_ANSWER = re.compile(
    r"\A\s*<think>(?P<think>.+?)</think>\s*<answer>\s*(?P<score>(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+))\s*</answer>\s*\Z",
    re.DOTALL,
)
# Words that, in the closing sentence of the critique, contradict the score's bin.
_CONTRADICTING_CLOSE = {
    "bad": re.compile(r"\b(?:excellent|outstanding|superb|exceptional|masterful|stunning|strong|beautiful)\b", re.I),
    "fair": re.compile(r"\b(?:excellent|outstanding|superb|exceptional|masterful|terrible|awful|very poor)\b", re.I),
    "good": re.compile(r"\b(?:poor|weak|bad|mediocre|unappealing|amateurish|awful|terrible)\b", re.I),
}


def score_bin(score: float) -> str:
    return "bad" if score < 0.4 else "fair" if score < 0.7 else "good"


def parse_score_answer(text: str) -> tuple[float, tuple[int, int]]:
    """(rating, span of the critique) of '<think>critique</think><answer>0.62</answer>'; ValueError otherwise."""
    match = _SCORE_ANSWER.match(text or "")
    if match is None:
        raise ValueError("expected '<think>critique</think><answer>rating in [0, 1]</answer>'")
    return float(match.group("score")), match.span("think")


def _score_critique_filter(*, text: str, context: FilterContext) -> FilterResult:
    rejections: dict[str, list[Rejection]] = {name: [] for name in FILTERS}
    rejections[LEAKAGE] = cot_filter_leakage(text=text, context=context)
    rejections[FACTUAL] = cot_filter_factual(text=text, context=context)
    try:
        rating, (think_start, think_end) = parse_score_answer(text)
    except ValueError as error:
        rejections[ALIGNMENT] = [_rejection(ALIGNMENT, "unparseable", f"Not a rated critique: {error}.", text, 0, 0)]
        return FilterResult(parsed=None, parse_error=str(error), rejections=rejections, consistency=None)
    expected = score_bin(context.score)
    answer = _ANSWER.search(text)
    if score_bin(rating) != expected:
        rejections[ALIGNMENT].append(
            _rejection(ALIGNMENT, "score_bin_mismatch", f"Rated {rating:g} ({score_bin(rating)}); the hidden score is "
                       f"{expected}.", text, *answer.span())
        )  # fmt: skip
    sentences = [m for m in re.finditer(r"[^.!?\n]+[.!?]?", text[think_start:think_end]) if m.group(0).strip()]
    if sentences:
        last = sentences[-1]
        clash = _CONTRADICTING_CLOSE[expected].search(text, think_start + last.start(), think_start + last.end())
        if clash:
            rejections[ALIGNMENT].append(
                _rejection(ALIGNMENT, "closing_tone_mismatch", f"The closing judgement reads unlike a {expected} "
                           "video.", text, *clash.span())
            )  # fmt: skip
    consistency = max(0.0, 1.0 - abs(rating - context.score))
    return FilterResult(parsed=None, parse_error="", rejections=rejections, consistency=consistency, score=rating)


# --- Optional LLM-judge pass ---------------------------------------------------------------------------------

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def judge_verdict_parse(*, answer: str, text: str, filter_name: str) -> Rejection | None:
    """A judge's JSON reply turned into a rejection (span located by exact quote), or None when it flags nothing.

    A reply that is not the expected JSON flags nothing: a judge failing is not evidence against the critique.
    """
    import json

    match = _JSON_OBJECT.search(answer or "")
    if match is None:
        return None
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("flag") is not True:
        return None
    quote = str(data.get("quote") or "")
    start = text.find(quote) if quote else -1
    start, end = (start, start + len(quote)) if start >= 0 else (0, 0)
    reason = str(data.get("reason") or "flagged by the judge model")[:300]
    return _rejection(filter_name, "llm_judge", f"Judge model: {reason}", text, start, end)
