"""Redaction of secrets and personal data with typed placeholders (pure functions).

Every finding is replaced by ``[EMAIL]``, ``[PHONE]``, ``[IP]`` or ``[SECRET:<kind>]`` and
counted by kind. Rules run on the original text in priority order (specific token formats
first, keyword rules after them, personal data last); a later finding that overlaps an
earlier one is dropped, so ``Bearer <jwt>`` counts once as ``jwt`` and the ``pass@host`` of
``https://user:pass@host`` is not also an e-mail. Every rule first searches a cheap hint
(mostly a literal such as ``@``, ``://`` or ``aiza``) in the lower-cased text, so most
patterns never run on most texts. The formats follow the public rule sets of gitleaks and
detect-secrets.

Keyword rules redact the value only, so ``password=[SECRET:...]`` still tells a reader what
was there:

- ``password-assignment``: an identifier ending in ``password``, ``passwd``, ``passphrase``,
  ``secret`` (``consumerSecret``, ``DB_PASSWORD``), or ``pass``/``pwd`` at a word boundary
  (not ``bypass``), assigned with ``=``, ``:``, ``:=`` or ``=>`` (quoted values may hold
  spaces; in a URL query the value ends at ``&``); also ``<password>v</password>`` and
  ``set ...password v`` commands.
- ``generic-api-key``: an identifier ending in ``api_key``, ``access_token``, ``secret_key``,
  ``token``, ``credentials``, ... with a value of 12+ characters that mixes letters and
  digits with Shannon entropy of at least 3.5 bits per character (as gitleaks does).
- ``aws-secret-key``, ``bearer-token``, ``basic-auth``: the value after ``aws..secret..=``,
  ``Bearer`` or ``Authorization: Basic``; ``authorization-header``: the credentials of any
  other ``Authorization:`` scheme (``Token``, ``Digest``, ``ApiKey``, or none) of 12+
  characters mixing letters and digits.
- ``cli-credentials``: the password of ``-u user:password`` / ``--user user:password``
  (curl, httpie, ...); numeric ``uid:gid`` pairs (``docker run -u 1000:1000``) stay.

Values that are placeholders stay: empty, ``null``, ``xxx``, ``${VAR}``, ``SECRET_KEY``-style
constant names, ``this.password``-style references, ``your-...``/``consumer-secret``-style
names, and paths (so ``"PWD": "/Users/me"`` stays).

E-mail: a local part and a dotted domain with an alphabetic top-level label; ``git@host``
(the SSH user of a remote), retina asset names such as ``icon@2x.png`` and the user part of
``https://user@host`` are not e-mail.

IPv4 (the rule that keeps version numbers): four dot-separated decimal octets 0-255 without
leading zeros, standing alone: not part of a longer dotted run (``1.2.3.4.5``), not glued to
a word (``v1.8.0.2``) and not followed by a version suffix (``10.0.0.1-beta``,
``3.2.0.1.GA``). Such a quad is then

1. kept if its first octet is 0, 127 or 255 (unspecified, loopback, masks: not identifying);
2. kept if its first octet is below 100 and a version word (``version``, ``release``,
   ``sdk``, ``ti``, ``java``, ``git``, ``node``, ``running``, ...) or ``^``/``~``/``>=``
   directly precedes it, separated only by spaces, ``:``, ``=`` or ``(``;
3. redacted if network context surrounds it: ``://`` or ``@`` before it, a ``:port`` or
   ``/prefix`` after it, or a network word (``ip``, ``host``, ``server``, ``proxy``,
   ``connect``, ``listening``, ...) earlier on the same line within 40 characters;
4. otherwise kept when its first octet is below 10 (``1.8.0.2``: a bare version), else
   redacted (``192.168.0.101``).

IPv6: a colon-hex run that the ``ipaddress`` module accepts, with at least 5 hex digits (so
``A::B`` in code stays); ``::`` and ``::1`` stay.

Payment card (``[CARD]``): 13-19 digits, alone or grouped by single spaces or dashes (the
same separator throughout), with a card network's prefix (Visa 4, Mastercard 51-55 and
2221-2720, American Express 34/37, Discover 6011/644-649/65, JCB 3528-3589, Diners 36/38)
and a valid Luhn checksum; order numbers, timestamps and ids without both stay.

Phone: an international ``+CC`` number of 8-15 digits; a North American number
(``(415) 555-0132``, ``415-555-0132``, ``415.555.0132``, ``1-800-555-0199``: area code and
exchange start with 2-9, both separators alike); or 7-15 digits after ``phone``/``tel``/
``mobile``/``cell``/``fax``. Dates, times, versions, ports and plain numbers do not match.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

PII_KINDS = ("email", "phone", "ip", "card")
SECRET_KINDS = (
    "private-key",
    "url-credentials",
    "jwt",
    "aws-access-key",
    "aws-secret-key",
    "gcp-api-key",
    "github-token",
    "gitlab-token",
    "slack-webhook",
    "slack-token",
    "stripe-key",
    "bearer-token",
    "basic-auth",
    "authorization-header",
    "cli-credentials",
    "password-assignment",
    "generic-api-key",
)
KINDS = SECRET_KINDS + PII_KINDS


def placeholder(kind: str) -> str:
    """The text that replaces a finding of ``kind``: ``[EMAIL]`` or ``[SECRET:jwt]``."""
    return f"[{kind.upper()}]" if kind in PII_KINDS else f"[SECRET:{kind}]"


@dataclass(frozen=True)
class Finding:
    """A span of the original text to redact."""

    start: int
    end: int
    kind: str


Accept = Callable[[re.Match[str]], bool]


@dataclass(frozen=True)
class _Rule:
    """One detector: a cheap hint, a pattern and an optional validator.

    The redacted span is the pattern's last named group that matched (the value of a
    ``key = value`` rule), else the whole match.

    Attributes:
        kind: Finding kind.
        hint: Pattern that must occur in the lower-cased text before ``pattern`` runs. Hints
            start with a literal where possible, which ``re`` scans for quickly.
        pattern: Compiled pattern.
        accept: Extra check on a match; ``None`` accepts all.
    """

    kind: str
    hint: re.Pattern[str]
    pattern: re.Pattern[str]
    accept: Accept | None = None


# --- value checks -------------------------------------------------------------------------

_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:null|none|nil|undefined|true|false|yes|no|empty|required|optional|string|str"
    r"|int|number|bool|boolean|password|passwd|secret|token|changeme|redacted|hidden|masked"
    r"|your[\w-]*|my[-_][\w-]*|(.)\1*"
    r"|[$%].*|\{\{.*|.*\}\}|(?:/|~/|\./|\.\./|[A-Za-z]:\\).*"
    r"|(?:process\.env|os\.environ|env|settings|config|options|opts|args|this|self|params"
    r"|req|request|ENV)\b.*"
    r"|(?:[a-z]+[-_])*(?:secret|password|passwd|token|key|apikey)(?:[-_][a-z]+)*"
    r"|(?-i:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+))$"
)
_SHORT_KEYWORDS = ("pass", "pwd")
_IDENTIFIER_TAIL = re.compile(r"[\w.-]+\Z")
_GENERIC_KEY = re.compile(
    r"(?:api[_.-]?(?:key|token)|apikey|access[_.-]?(?:key|token)|auth[_.-]?(?:key|token)"
    r"|(?:secret|private|client|consumer|app|session|signing|encryption)[_.-]?key"
    r"|token|credentials?)$"
)


def _value(match: re.Match[str]) -> str:
    """The text a rule redacts: its last named group that matched, else the whole match."""
    return match.group(match.lastgroup or 0)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _is_placeholder(value: str) -> bool:
    return not value or value.startswith("[") or bool(_PLACEHOLDER_VALUE.match(value))


def _key_prefix(match: re.Match[str]) -> str | None:
    """The identifier characters glued before the keyword, or ``None`` after ``[``.

    ``[SECRET:...]`` placeholders must not read as a ``SECRET: ...`` assignment.
    """
    start = match.start("word")
    prefix = _IDENTIFIER_TAIL.search(match.string, max(0, start - 40), start)
    begin = prefix.start() if prefix else start
    if begin and match.string[begin - 1] == "[":
        return None
    return match.string[begin:start]


def _starts_token(match: re.Match[str]) -> bool:
    """The match starts a token: nothing word-like is glued before it."""
    start = match.start()
    return not start or not (match.string[start - 1].isalnum() or match.string[start - 1] in "_-")


def _password_key(match: re.Match[str]) -> bool:
    """An identifier ending in a password word at a word or camelCase boundary."""
    word, prefix = match.group("word"), _key_prefix(match)
    if prefix is None or _is_placeholder(_value(match)):
        return False
    if not any(word.lower().endswith(short) for short in _SHORT_KEYWORDS):
        return True
    boundary = not prefix or prefix[-1] in "_.-" or (prefix[-1].islower() and word[0].isupper())
    return boundary and not _value(match).isdigit()


def _generic_key(match: re.Match[str]) -> bool:
    """An API-key-like identifier (``api_key``, ``oauth_token``, ...) with a random value."""
    prefix = _key_prefix(match)
    key = f"{prefix}{match.group('word')}".lower() if prefix is not None else ""
    return bool(_GENERIC_KEY.search(key)) and _random_value(match)


def _random_value(match: re.Match[str]) -> bool:
    """A value that looks machine-made: letters and digits, high entropy, no reference."""
    value = _value(match)
    return (
        not _is_placeholder(value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and _entropy(value) >= 3.5
    )


def _mixed_base64(match: re.Match[str]) -> bool:
    """Base64 with both letter cases (an AWS secret), not a hex digest such as a git sha."""
    value = _value(match)
    return any(c.isupper() for c in value) and any(c.islower() for c in value)


def _token_value(match: re.Match[str]) -> bool:
    value = _value(match)
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _url_password(match: re.Match[str]) -> bool:
    return not _is_placeholder(match.group("password"))


def _cli_password(match: re.Match[str]) -> bool:
    """A ``user:password`` value, not a numeric ``uid:gid`` pair or a placeholder."""
    value = _value(match)
    return not value.isdigit() and not _is_placeholder(value)


def _luhn(digits: str) -> bool:
    total = 0
    for n, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if n % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|6011|64[4-9]|65|35(?:2[89]|[3-8]\d)"
    r"|3[68]"
)


def _payment_card(match: re.Match[str]) -> bool:
    """Same separator throughout, a card network's prefix and length, a valid checksum."""
    number = match.group(0)
    separators = set(re.findall(r"\D", number))
    digits = re.sub(r"\D", "", number)
    return (
        len(separators) <= 1
        and 13 <= len(digits) <= 19
        and bool(_CARD_PREFIX.match(digits))
        and _luhn(digits)
    )


_FILE_SUFFIXES = frozenset(
    re.findall(
        r"\w+",
        "png jpg jpeg gif svg webp bmp ico tif tiff js mjs cjs ts tsx jsx json xml tss css scss"
        " less html htm txt log java kt swift h m mm c cpp py rb yml yaml lock map gz tgz",
    )
)


ROLE_MAILBOXES = frozenset(
    {"abuse", "hostmaster", "info", "noc", "no-reply", "noreply", "postmaster", "security"}
    | {"support", "webmaster"}
)
"""Mailboxes of a role, not a person (RFC 2142): ``security@tidev.io`` is how to report a
vulnerability, not personal data, so it is kept."""


def _email(match: re.Match[str]) -> bool:
    local, _, domain = match.group(0).rpartition("@")
    return (
        local.lower() not in {"git", *ROLE_MAILBOXES}
        and domain.rpartition(".")[2].lower() not in _FILE_SUFFIXES
        and not match.string.endswith("://", 0, match.start())
    )


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _international_phone(match: re.Match[str]) -> bool:
    return 8 <= _digits(match.group(0)) <= 15


_DOTTED_VERSION = re.compile(r"\d+(?:\.\d+)+")


def _keyword_phone(match: re.Match[str]) -> bool:
    value = _value(match)
    return 7 <= _digits(value) <= 15 and not _DOTTED_VERSION.fullmatch(value)


_VERSION_WORD = re.compile(
    r"(?i)(?:\b(?:v|ver|version|versions|release|rel|sdk|ti|titanium|alloy|studio|node|nodejs"
    r"|npm|java|jdk|jre|git|xcode|ios|android|os|osx|macos|windows|win|blackberry|bb|firmware"
    r"|cli|build|update|upgrade|tag|running|appc|gradle|chrome|firefox|safari|python|ruby|php"
    r"|kernel|bios|platform|tools)[ \t]*[:=(]?[ \t]*|[\^~][ \t]*|[<>]=[ \t]*)$"
)
_NETWORK_WORD = re.compile(
    r"(?i)\b(?:ip|ipv4|address|addr|host|hostname|server|gateway|dns|proxy|ping|ssh|connect"
    r"|connected|connecting|listen|listening|bind|subnet|route|peer|remote|inet"
    r"|nameserver|endpoint|router|lan|wan|wifi|network)\b"
)
_PORT_OR_PREFIX = re.compile(r"(?::\d{1,5}|/\d{1,2})(?!\d)")


def _ipv4(match: re.Match[str]) -> bool:
    text, start, end = match.string, match.start(), match.end()
    octets = match.group(0).split(".")
    if any((len(o) > 1 and o[0] == "0") or int(o) > 255 for o in octets):
        return False
    first = int(octets[0])
    if first in (0, 127, 255):
        return False
    line_start = text.rfind("\n", 0, start) + 1
    before = text[max(line_start, start - 40) : start]
    if first < 100 and _VERSION_WORD.search(before):
        return False
    if (
        before.endswith(("://", "@"))
        or _PORT_OR_PREFIX.match(text, end)
        or _NETWORK_WORD.search(before)
    ):
        return True
    return first >= 10


def _ipv6(match: re.Match[str]) -> bool:
    value = match.group(0)
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    hex_digits = sum(c not in ":" for c in value)
    return hex_digits >= 5 and not address.is_loopback and not address.is_unspecified


# --- rules --------------------------------------------------------------------------------

_ASSIGN = r"""["']?[ \t]*(?::=|=>|=|:)[ \t]*"""
_PEM_LABEL = r"-----{}[A-Z0-9 _-]{{0,40}}PRIVATE KEY(?: BLOCK)?-----"


def _rule(kind: str, hint: str, pattern: str, accept: Accept | None = None) -> _Rule:
    return _Rule(kind, re.compile(hint), re.compile(pattern), accept)


_RULES: tuple[_Rule, ...] = (
    _rule(
        "private-key",
        r"private key",
        _PEM_LABEL.format("BEGIN")
        + r"(?:[\s\S]{0,20000}?"
        + _PEM_LABEL.format("END")
        + r"|(?:(?:\r?\n|\\n)(?:[A-Za-z0-9+/=]{8,}|[A-Za-z-]+:[^\n]*))*)",
    ),
    _rule(
        "url-credentials",
        r"://[^\s/@]*:[^\s/@]*@",
        r"(?<=[A-Za-z0-9])://(?P<cred>[^\s:/?#@'\"<>\[\]]*:(?P<password>[^\s/?#@'\"<>\[\]]+))@",
        _url_password,
    ),
    _rule(
        "jwt",
        r"eyj[a-z0-9_-]{15,}\.eyj",
        r"eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\.(?:[A-Za-z0-9_-]{10,}={0,2})?",
        _starts_token,
    ),
    _rule(
        "aws-access-key",
        r"(?:akia|asia|abia|acca|a3t)[a-z0-9]{16}",
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        _starts_token,
    ),
    _rule(
        "aws-secret-key",
        r"aws",
        r"(?i)aws[\w.-]{0,20}?(?:secret|sk)[\w.-]{0,20}?"
        + _ASSIGN
        + r"""["'`]?(?P<value>(?-i:[A-Za-z0-9/+=]{40}))(?![A-Za-z0-9/+=])""",
        _mixed_base64,
    ),
    _rule("gcp-api-key", r"aiza", r"AIza[0-9A-Za-z_-]{35}(?![\w-])", _starts_token),
    _rule(
        "github-token",
        r"gh[pousr]_|github_pat_",
        r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])",
        _starts_token,
    ),
    _rule(
        "gitlab-token",
        r"gl(?:pat|dt|rt|ptt|ft|cbt|imt|oas|soat|agent|feed)-|gr1348941",
        r"(?:gl(?:pat|dt|rt|ptt|ft|cbt|imt|oas|soat|agent|feed)-[A-Za-z0-9_-]{20,}"
        r"|GR1348941[A-Za-z0-9_-]{20,})(?![\w-])",
        _starts_token,
    ),
    _rule(
        "slack-webhook",
        r"hooks\.slack\.com/",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
    ),
    _rule(
        "slack-token",
        r"xox|xapp-",
        r"(?:xox[abposre](?:\.xox[bp])?-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})",
        _starts_token,
    ),
    _rule(
        "stripe-key",
        r"[sr]k_(?:test|live|prod)_",
        r"[sr]k_(?:test|live|prod)_[A-Za-z0-9]{10,99}(?![A-Za-z0-9])",
        _starts_token,
    ),
    _rule(
        "bearer-token",
        r"bearer[ \t]+[a-z0-9._~+/-]{16}",
        r"(?i)\bbearer[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)",
        _token_value,
    ),
    _rule(
        "basic-auth",
        r"basic[ \t]+[a-z0-9+/]{8}",
        r"(?i)\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+"
        r"(?P<value>[A-Za-z0-9+/]{8,}={0,2})",
    ),
    _rule(
        "authorization-header",
        r"authorization",
        r"(?i)\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?"
        r"(?:(?:token|digest|apikey|api-key|key)[ \t]+)?(?P<value>[A-Za-z0-9._~+/=-]{12,})",
        _token_value,
    ),
    _rule(
        "cli-credentials",
        r"(?:-u|--user)[ =]",
        r"(?<![\w-])(?:-u|--user)(?:[ \t]+|=)[\"']?[^\s:\"'@]{1,64}:(?P<value>[^\s\"']{1,128})",
        _cli_password,
    ),
    _rule(
        "password-assignment",
        r"pass|pwd|secret",
        r"(?i)(?P<word>pass(?:word|wd|wort|phrase)?|pwd|secret)(?![\w-])"
        + _ASSIGN
        + r"""(?:"(?P<dq>[^"\n]{1,200})"|'(?P<sq>[^'\n]{1,200})'|`?"""
        + r"(?P<value>(?:[^\s\"'`,;<>\[\](){}&]|&(?!\w+=)){1,200}))",
        _password_key,
    ),
    _rule(
        "password-assignment",
        r"<[\w.:-]*(?:pass|secret)",
        r"(?i)<(?P<word>[\w.:-]{0,40}?(?:password|passwd|passphrase|secret))>"
        r"(?P<value>[^<\s]{1,200})</",
        _password_key,
    ),
    _rule(
        "password-assignment",
        r"set[ \t]+[\w.-]*(?:pass|secret)",
        r"(?i)\bset[ \t]+[\w.-]{0,60}?(?P<word>password|passwd|passphrase|secret)"
        r"[ \t]+(?P<value>[^\s\"'`<>]+)",
        _password_key,
    ),
    _rule(
        "generic-api-key",
        r"(?:key|token|credential)s?[\"']?[ \t]*[:=]",
        r"(?i)(?P<word>key|token|credentials?)(?![\w-])"
        + _ASSIGN
        + r"""["'`]?(?P<value>[A-Za-z0-9_\-+/=.%~]{12,200})""",
        _generic_key,
    ),
    _rule(
        "card",
        r"\d{4}[ -]?\d{4}[ -]?\d",
        r"(?<![\w.+/-])\d{4}(?:[ -]?\d{2,7}){2,4}(?![\w]|[.-]\d)",
        _payment_card,
    ),
    _rule(
        "email",
        r"@[a-z0-9-]+\.[a-z]",
        r"(?<![\w.%+'-])[A-Za-z0-9][A-Za-z0-9._%+'-]{0,63}@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])",
        _email,
    ),
    _rule(
        "ip",
        r"::",
        r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::"
        r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?![\w:.])",
        _ipv6,
    ),
    _rule(
        "ip",
        r":[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:",
        r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:.])",
        _ipv6,
    ),
    _rule(
        "ip",
        r"\.\d{1,3}\.\d{1,3}\.\d",
        r"(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|[.-]?[A-Za-z0-9]|[+_])",
        _ipv4,
    ),
    _rule(
        "phone",
        r"\+[1-9]",
        r"(?<![\w+/=.-])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![\w]|[.-]\d)",
        _international_phone,
    ),
    _rule(
        "phone",
        r"[-. )]\d{3}[-. ]\d{4}(?!\d)",
        r"(?<![\w+/=.$-])(?:1([ .-]))?(?:\([2-9]\d{2}\)[ ]?[2-9]\d{2}[-. ]\d{4}"
        r"|[2-9]\d{2}([-. ])[2-9]\d{2}\2\d{4})(?![\w]|[.-]\d)",
    ),
    _rule(
        "phone",
        r"(?:phone|tel|mobile|cell|fax|whatsapp)[^\n\d]{0,16}\d",
        r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|whatsapp)\b\.?[ \t]*(?:no\.?|number|#)?"
        r"[ \t]*[:.-]?[ \t]*(?P<value>\+?\(?\d[\d ().-]{5,22}\d)(?![\w]|[.-]\d)",
        _keyword_phone,
    ),
)


def find_sensitive(text: str) -> list[Finding]:
    """Return the non-overlapping findings in ``text``, ordered by position."""
    lowered = text.lower()
    taken: list[Finding] = []
    for rule in _RULES:
        if not rule.hint.search(lowered):
            continue
        for match in rule.pattern.finditer(text):
            if rule.accept is not None and not rule.accept(match):
                continue
            start, end = match.span(match.lastgroup or 0)
            if start == end or any(f.start < end and start < f.end for f in taken):
                continue
            taken.append(Finding(start, end, rule.kind))
    return sorted(taken, key=lambda finding: finding.start)


def redact_text(text: str) -> tuple[str, Counter[str]]:
    """Replace every finding by its placeholder; return the text and the counts by kind."""
    counts: Counter[str] = Counter()
    findings = find_sensitive(text) if text else []
    if not findings:
        return text, counts
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts.append(text[position : finding.start])
        parts.append(placeholder(finding.kind))
        counts[finding.kind] += 1
        position = finding.end
    parts.append(text[position:])
    return "".join(parts), counts
