"""What counts as personal data: key classes (any spelling) and value detectors (inside free text).

Keys are compared after normalisation: lower case, without ``$``, ``-``, ``_``, ``.`` and spaces, so
``Email``, ``E-Mail``, ``email_address`` and ``$email`` are one key. ``key_class`` is memoised: a
real stream has few distinct keys. The lists are the documented promise (docs/privacy.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final

# Key classes.
NONE: Final = 0
SECRET: Final = 1  # dropped always: credentials and government ids
NETWORK: Final = 2  # network addresses: dropped
CONTACT: Final = 3  # contact details and device ad ids: the policy's action (hash by default)
IDENTIFIER: Final = 4  # user ids: HMAC with the same function as the envelope's user_key
PERSON: Final = 5  # names, postal addresses, birthdays: dropped where they describe a person
COORDINATE: Final = 6  # lat/lng: dropped in context (the envelope carries the coarsened point)
PERSON_CONTAINER: Final = 7  # an object describing a person: its names/addresses are person data
PII_KEY: Final = 8  # a key that is personal data itself (an email, phone or IP used as a key): renamed

_KEYS: dict[int, frozenset[str]] = {
    SECRET: frozenset({"password", "passwd", "passcode", "ssn", "socialsecuritynumber",
                       "creditcard", "creditcardnumber", "cardnumber", "cvv", "cvc", "iban", "taxid",
                       "passportnumber", "nationalid", "driverslicense"}),
    NETWORK: frozenset({"ip", "ipaddress", "ipaddr", "ipv4", "ipv6", "clientip", "remoteip", "remoteaddr",
                        "remoteaddress", "xforwardedfor", "forwardedfor", "forwarded", "xrealip",
                        "cfconnectingip", "trueclientip", "macaddress", "mac"}),
    CONTACT: frozenset({"email", "emailaddress", "mail", "useremail", "phone", "phonenumber", "mobile",
                        "mobilenumber", "mobilephone", "cellphone", "tel", "telephone", "fax", "msisdn",
                        "advertisingid", "adid", "idfa", "idfv", "gaid", "aaid", "username", "deviceid",
                        "imei"}),
    IDENTIFIER: frozenset({"userid", "uid", "user", "distinctid", "externalid", "externaluserid",
                           "customerid", "memberid", "accountid", "personid", "profileid", "anonymousid",
                           "anonid", "visitorid", "subjectid", "ownerid", "authorid", "senderid",
                           "recipientid", "followeduserid", "targetuserid"}),
    PERSON: frozenset({"name", "firstname", "lastname", "fullname", "givenname", "familyname", "surname",
                       "middlename", "displayname", "nickname", "address", "streetaddress", "street",
                       "address1", "address2", "addressline1", "addressline2", "postalcode", "zip",
                       "zipcode", "birthday", "dateofbirth", "dob", "birthdate", "age", "gender"}),
    COORDINATE: frozenset({"lat", "lng", "lon", "long", "latitude", "longitude"}),
    PERSON_CONTAINER: frozenset({"traits", "set", "setonce", "user", "person", "profile", "identity",
                                 "customer", "contact", "contacts", "owner", "member", "sender", "recipient",
                                 "author", "billing", "shipping", "billingaddress", "shippingaddress"}),
}
_STRIP = str.maketrans("", "", "$-_. ")
KEY_MEMO: dict[str, int] = {}
# The spellings seen of keys dropped under every policy (SECRET, NETWORK): the scrub removes them from
# the top of a context with one set intersection.
DROPPED_SPELLINGS: set[str] = set()
_MEMO_MAX = 50_000


def normalise_key(key: str) -> str:
    return key.translate(_STRIP).lower()


def key_class(key: str) -> int:
    """The class of a key (``NONE`` for ordinary keys); ``user`` is both IDENTIFIER and a container."""
    cls = KEY_MEMO.get(key)
    if cls is None:
        if len(key) >= 6 and suspect(key) and find_pii(key):
            return PII_KEY  # not memoised: every such key is someone's, and the memo must not keep it
        cls = _classify(normalise_key(key))
        if len(KEY_MEMO) < _MEMO_MAX:
            KEY_MEMO[key] = cls
            if cls in (SECRET, NETWORK):
                DROPPED_SPELLINGS.add(key)
    return cls


def _classify(norm: str) -> int:
    for cls, names in _KEYS.items():
        if norm in names:
            return cls
    if norm.endswith("userid") or norm.endswith("email") or norm.endswith("phone"):
        return IDENTIFIER if norm.endswith("userid") else CONTACT
    if norm.endswith("ipaddress") or norm.endswith("password"):
        return NETWORK if norm.endswith("ipaddress") else SECRET
    return NONE


# Value detectors. A cheap prefilter runs on every string; the exact patterns only on suspects.
# ``PREFILTER`` is a superset of every detector below, branch by branch (so a string it passes over
# cannot be changed by ``redact_text``; tests/privacy/test_scrub.py checks this on generated text):
#   QUERY_PARAM needs ``[?&;#]key=``; EMAIL an ``@`` or ``%40``; IPV4 four dotted octets, so
#   ``d.ddd.ddd.d``; IPV6 two colons with at most 4 hex digits between (``::``, ``fe80:1:``);
#   PHONE a digit followed by 5 of ``[digits space ().-]`` (both of its shapes contain that).
# URLs (``https://…``), versions (``2.1.3``) and short numbers are not suspects any more.
# Written as one character class then lookbehinds, so ``re`` skips to candidate characters at C
# speed (an alternation of classes would be tried at every position). ASCII text (``isascii`` is
# O(1)) uses an ASCII first class, scanned faster; other text also starts at Unicode digits, which
# PHONE and IPV4 match too.
_TAIL = (r"(?:(?<=@)|(?<=%)40|(?<=[?&;#])[^=&#;\s]+=|(?<=\d)\.\d{1,3}\.\d{1,3}\.\d|(?<=:)[0-9A-Fa-f]{0,4}:"
         r"|(?<=\d)[\d\s().-]{5})")
PREFILTER = re.compile(r"[@%?&;#:\d]" + _TAIL)
PREFILTER_ASCII = re.compile(r"[@%?&;#:0-9]" + _TAIL)


def suspect(text: str) -> bool:
    """Cheap prefilter: could ``text`` hold an email, IP, phone or identifying query parameter?"""
    return (PREFILTER_ASCII if text.isascii() else PREFILTER).search(text) is not None


EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}", re.IGNORECASE)
IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                  r"(?![\w]|\.\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
# Formatted numbers only (``+1 415 555 0132``, ``(415) 555-0132``, ``415-555-0132``): plain digit
# runs are ids, counters and epoch times far more often than phone numbers.
PHONE = re.compile(r"(?<![\w+@/])(?:\+\d[\d\s().-]{5,18}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?![\w@])")
QUERY_PARAM = re.compile(r"(?<=[?&;#])([^=&#;\s]+)=([^&#;\s]*)")

Replace = Callable[[str, str], str]  # (kind, matched text) -> replacement


def find_pii(text: str) -> bool:
    """True if ``text`` holds an email, phone number or IP address (the value detectors)."""
    return redact_text(text, lambda kind, value: "") != text


def redact_text(text: str, replace: Replace) -> str:
    """``text`` with each detected email, IP, phone and identifying query value passed to ``replace``."""
    if "=" in text and ("?" in text or "&" in text):
        text = QUERY_PARAM.sub(lambda m: _query_param(m, replace), text)
    if "@" in text or "%40" in text or "%40" in text.lower():
        text = EMAIL.sub(lambda m: replace("email", m.group(0)), text)
    if "." in text:
        text = IPV4.sub(lambda m: replace("ip", m.group(0)), text)
    if ":" in text:
        text = IPV6.sub(lambda m: _ipv6(m, replace), text)
    return PHONE.sub(lambda m: replace("phone", m.group(0)), text)


def _query_param(m: re.Match[str], replace: Replace) -> str:
    key, value = m.group(1), m.group(2)
    if value and key_class(key) in (SECRET, NETWORK, CONTACT, IDENTIFIER, PERSON):
        return f"{key}={replace('query', value)}"
    return m.group(0)


def _ipv6(m: re.Match[str], replace: Replace) -> str:
    try:
        ipaddress.IPv6Address(m.group(0))
    except ValueError:  # times like 10:00:00 and MAC-ish strings are not addresses
        return m.group(0)
    return replace("ip", m.group(0))


__all__ = [
    "CONTACT",
    "COORDINATE",
    "DROPPED_SPELLINGS",
    "IDENTIFIER",
    "KEY_MEMO",
    "NETWORK",
    "NONE",
    "PERSON",
    "PERSON_CONTAINER",
    "PII_KEY",
    "PREFILTER",
    "PREFILTER_ASCII",
    "SECRET",
    "find_pii",
    "key_class",
    "normalise_key",
    "redact_text",
    "suspect",
]
