"""A hostile corpus for the default tracking plan (packaging/plan/plan.json):
events that carry personal data in every position and encoding we could think
of, for a gateway with default_country_code = 49 (issue 13, DESIGN.md §4-§5).

    items = corpus()          # deterministic: a fixed seed, the same list every run
    for it in items:
        payload = it.payload("h-%04d" % i)   # bytes for MQTT or one ndjson line
        it.secrets                            # every string a leak would show

    python3 hostile_corpus.py                 # counts per category
    python3 hostile_corpus.py --validate build/venuegw packaging/plan/plan.json [--beyond]
                                              # each item through `venuegw validate`: what leaks

Each item records the raw secrets it contains: the exact strings as they stand
in the payload (decoded and, where the payload escapes them, as escaped), and
normalized forms — lowercased email (also NFKC, zero-width characters removed,
the domain in IDNA), digits-only card, the last 8 digits of each card (also in
the payload's own spacing), E.164 phone (with and without "+") and the phone's
national significant number.  A test searches for all of them, byte for byte,
JSON-escaped, and in every decoded JSON string, anywhere the gateway writes.

What the gateway promises, and so what the corpus may demand:
  - a member the plan does not declare never passes, whatever it holds, at any
    depth, including object keys (unknown = drop);
  - person.name/address/birth_date and unknown person fields are dropped; the
    email/phone/card classes are tokenized (or dropped) wherever they stand;
  - free text (x-pii text) is scanned for emails (any Unicode), phones ("+" or
    "00" and 8-15 digits, or a national number valid for 49) and cards (13-19
    digits passing Luhn, any scheme);
  - an id-class value that looks like an email, phone or card is quarantined
    (pii_in_identifier);
  - JSON numbers are never scanned: a card-like number in a declared numeric
    field passes untouched (the corpus checks it arrives intact).
What it cannot promise, and so what the corpus does not demand:
  - names and street addresses in free text are not recognisable; they appear
    only where a class or undeclared-drop decides (person.*, undeclared members);
  - a bare national number of another country ("612 345 678" for Spain,
    "(212) 555-0147" for the US) is not recognisable in free text against
    default_country_code 49; such numbers appear only in person.phone (class
    phone) and in undeclared members; their international forms appear in text;
  - a value split across two fields is not recognisable: see split_items().
Python 3 standard library only.
"""
import json
import random
import unicodedata

SEED = 0x13_4057
AT = "2026-11-28T10:00:00Z"
ID = "@@ID@@"          # replaced by the event id at send time
ZW = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")   # zero-width chars and soft hyphen
NBSP, THIN, NNBSP, FIGSP = "\u00a0", "\u2009", "\u202f", "\u2007"

# Harmless values that must arrive as sent: the test checks them at the CDP.
HARMLESS_LOCATION = "studio-b"


# --- secrets -------------------------------------------------------------------

def strip_zw(s):
    return "".join(c for c in s if c not in ZW)


def nfkc(s):
    return unicodedata.normalize("NFKC", s)


def json_escaped(s):
    """How an ASCII-only JSON encoder writes s, without the quotes."""
    return json.dumps(s, ensure_ascii=True)[1:-1]


def email_needles(raw):
    """raw: the email as it stands in the decoded string (perhaps wrapped: "<…>", "mailto:…", "(…).")."""
    out = set()
    bare = raw[len("mailto:"):] if raw.startswith("mailto:") else raw
    bare = bare.strip("<>()., ")
    for r in {raw, bare}:
        out |= email_needles_1(r)
    return out


def email_needles_1(raw):
    out = {raw, raw.lower()}
    plain = nfkc(strip_zw(raw))
    out |= {plain, plain.lower()}
    if "@" in plain:
        local, _, dom = plain.rpartition("@")
        try:
            out.add((local + "@" + dom.encode("idna").decode()).lower())
        except UnicodeError:
            pass
    return out


def digits_of(s):
    s = nfkc(s)
    return "".join(c for c in s if c.isdigit() and c.isascii())


def card_needles(raw):
    """raw: the card as it stands in the decoded string."""
    d = digits_of(raw)
    out = {raw, nfkc(raw), d, d[-8:]}
    # the last 8 digits in the payload's own spacing ("1111 1111", "1111-1111")
    n, i = 0, len(raw)
    while i > 0 and n < 8:
        i -= 1
        if nfkc(raw[i]).isdigit():
            n += 1
    out.add(raw[i:])
    out.add(nfkc(raw[i:]))
    # as a JSON number printed with 15 significant digits (cJSON's "%1.15g": the 16th
    # digit of a card is its Luhn check digit, so these 15 give the whole number away)
    if len(d) >= 15:
        out.add("%.15g" % float(d))
    # the usual printed groupings
    if len(d) == 16:
        g = [d[0:4], d[4:8], d[8:12], d[12:16]]
        out |= {" ".join(g), "-".join(g)}
    return out


def phone_needles(raw, e164, nsn):
    """raw as it stands; e164 "+<cc><nsn>"; nsn the national significant number."""
    out = {raw, nfkc(raw), nfkc(strip_zw(raw)), e164, e164[1:]}
    if len(nsn) >= 8:
        out.add(nsn)
    return out


def luhn_complete(prefix, length, rng):
    """A number of length digits starting with prefix that passes Luhn."""
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:      # every second digit from the right of the full number (check digit excluded)
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return body + str((10 - total % 10) % 10)


def luhn_ok(d):
    total = 0
    for i, ch in enumerate(reversed(d)):
        v = int(ch)
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return total % 10 == 0


# --- items ---------------------------------------------------------------------

class Item:
    """One hostile event (its "id" is ID unless the item is about the id).

    template: the payload text with ID where the event id goes (str), or raw
    bytes; secrets: needles; expect: "cdp" | "quarantine" | "either";
    tokens: tokens (kind, normalized) that must be at the CDP in this event's
    message when expect == "cdp"; intact: (dotted path, value) pairs the CDP
    message must hold as sent; mqtt_topic_device: publish to another device's
    topic (MQTT only); client_id: the MQTT client id to connect with; mqtt_args:
    more mosquitto_pub arguments (MQTT v5 properties); beyond: why this item asks more than DESIGN.md promises
    (its leaks are reported apart; None for an item inside the promise)."""

    def __init__(self, category, name, template, secrets, expect="either", tokens=(), intact=(),
                 mqtt_only=False, topic_device=None, beyond=None, client_id=None, mqtt_args=()):
        self.category = category
        self.fixed_id = None        # the event's own id, when it is not ID
        self.client_id = client_id
        self.mqtt_args = list(mqtt_args)
        self.beyond = beyond
        self.name = name
        self.template = template
        self.secrets = sorted({s for s in secrets if s})
        self.expect = expect
        self.tokens = list(tokens)
        self.intact = list(intact)
        self.mqtt_only = mqtt_only
        self.topic_device = topic_device

    def payload(self, event_id):
        if isinstance(self.template, bytes):
            return self.template.replace(ID.encode(), event_id.encode())
        return self.template.replace(ID, event_id).encode("utf-8")

    def has_id(self):
        t = self.template if isinstance(self.template, str) else self.template.decode("utf-8", "replace")
        return '"id": "%s"' % ID in t

    def __repr__(self):
        return "<%s/%s>" % (self.category, self.name)


def dumps(ev):
    return json.dumps(ev, ensure_ascii=False)


def with_escaped(ev, placeholder, escaped):
    """Serialize ev, then write the string placeholder as the given JSON-escaped text."""
    text = dumps(ev)
    q = json.dumps(placeholder)
    assert text.count(q) == 1, (text, q)
    return text.replace(q, '"' + escaped + '"')


def u_escape_all(s):
    return "".join("\\u%04x" % ord(c) if ord(c) < 0x10000 else json_escaped(c) for c in s)


BASE = {
    "pos.order.completed": lambda: {"properties": {"order_id": "ORD-1001", "total_minor": 1250, "currency": "EUR"}},
    "payment.succeeded": lambda: {"properties": {"amount_minor": 900, "currency": "EUR", "payment_id": "pay_0001"}},
    "refund.issued": lambda: {"properties": {"amount_minor": 900, "currency": "EUR", "payment_id": "pay_0002"}},
    "booking.created": lambda: {"properties": {"booking_id": "bk-77", "class_id": "spin-0900"}},
    "booking.cancelled": lambda: {"properties": {"booking_id": "bk-78"}},
    "class.attended": lambda: {"properties": {"class_id": "yoga-1800"}},
    "checkin.scanned": lambda: {"person": {"customer_id": "MB-88121"}},
    "consent.updated": lambda: {"person": {"customer_id": "MB-88121"}, "consent": {"marketing_email": True}},
    "kiosk.session.started": lambda: {},
    "device.status": lambda: {"properties": {"battery": 80}},
}


def event(type_, **parts):
    ev = {"id": ID, "type": type_, "occurred_at": AT}
    base = BASE[type_]()
    for k, v in base.items():
        ev[k] = v
    for k, v in parts.items():
        if isinstance(v, dict) and isinstance(ev.get(k), dict):
            ev[k] = dict(ev[k], **v)
        else:
            ev[k] = v
    return ev


def set_path(ev, path, value):
    """path "properties.note", "properties.lines[].name", "consent.source"."""
    parts = path.split(".")
    cur = ev
    for p in parts[:-1]:
        if p.endswith("[]"):
            p = p[:-2]
            cur = cur.setdefault(p, [{"sku": "sku-1", "qty": 1}])
            cur = cur[0]
        else:
            cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return ev


# Declared text fields (x-pii text) of the default plan, with their maxLength.
TEXT_FIELDS = [
    ("pos.order.completed", "properties.note", 1024),
    ("pos.order.completed", "properties.location", 1024),
    ("pos.order.completed", "properties.lines[].name", 200),
    ("payment.succeeded", "properties.note", 1024),
    ("payment.succeeded", "properties.location", 1024),
    ("refund.issued", "properties.reason", 1024),
    ("refund.issued", "properties.note", 1024),
    ("booking.created", "properties.comment", 1024),
    ("booking.created", "properties.location", 1024),
    ("booking.cancelled", "properties.reason", 1024),
    ("checkin.scanned", "properties.location", 1024),
    ("checkin.scanned", "properties.source", 1024),
    ("checkin.scanned", "properties.kiosk", 1024),
    ("consent.updated", "consent.source", 1024),
    ("kiosk.session.started", "properties.kiosk", 1024),
    ("kiosk.session.started", "properties.screen", 1024),
    ("class.attended", "properties.location", 1024),
    ("device.status", "properties.note", 1024),
    ("device.status", "properties.status", 64),
]

FIRST = ["ana", "jonas", "lea", "mateo", "sofia", "luca", "chloe", "oliver", "emma", "daan", "noah", "mia",
         "liam", "giulia", "hugo", "zoe", "felix", "ines", "marta", "yusuf"]
LAST = ["lopez", "schmidt", "rossi", "martin", "smith", "devries", "garcia", "bianchi", "dubois", "jansen",
        "mueller", "novak", "kowalski", "silva", "nguyen", "weber", "moreau", "costa", "ferrari", "bakker"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.de", "example.co.uk", "corp.example.es"]


class Gen:
    def __init__(self, seed=SEED):
        self.rng = random.Random(seed)
        self.n = 0

    def uniq(self):
        self.n += 1
        return self.n

    # emails ---------------------------------------------------------------
    def email(self, domain=None):
        r = self.rng
        return "%s.%s%d@%s" % (r.choice(FIRST), r.choice(LAST), self.uniq(), domain or r.choice(DOMAINS))

    def email_variants(self):
        """(decoded form as it stands, escaped JSON text or None, expected token normalized or None)."""
        r = self.rng
        out = []
        e = self.email()
        out.append(("plain", e, None, e.lower()))
        e = self.email()
        mixed = "".join(c.upper() if r.random() < 0.5 else c for c in e)
        out.append(("mixed case", mixed, None, mixed.lower()))
        e = self.email()
        tagged = e.replace("@", "+gym@")
        out.append(("plus tag", tagged, None, tagged.lower()))
        out.append(("subdomain", "%s%d@members.studio.example.com" % (r.choice(FIRST), self.uniq()), None, None))
        out.append(("apostrophe", "o'%s%d@example.ie" % (r.choice(LAST), self.uniq()), None, None))
        out.append(("angle brackets", "<%s>" % self.email(), None, None))
        out.append(("mailto", "mailto:%s" % self.email(), None, None))
        out.append(("in parentheses", "(%s)." % self.email(), None, None))
        out.append(("upper", self.email().upper(), None, None))
        n = self.uniq()
        for name, e in [("utf8 de", "ana%d@münchen.de" % n), ("utf8 ru", "имя%d@пример.рф" % n),
                        ("utf8 es", "josé.garcía%d@correo.example.es" % n), ("utf8 zh", "用户%d@例子.广告" % n),
                        ("utf8 el", "δοκιμή%d@παράδειγμα.δοκιμή" % n), ("utf8 de2", "jürgen.weiß%d@straße.example" % n),
                        ("utf8 ar", "مستخدم%d@مثال.إختبار" % n), ("utf8 hi", "उपयोगकर्ता%d@उदाहरण.परीक्षा" % n)]:
            out.append((name, e, None, None))
        e = self.email()
        out.append(("fullwidth at", e.replace("@", "＠"), None, None))
        e = self.email()
        out.append(("fullwidth all", "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in e), None, None))
        for i, z in enumerate(ZW):
            e = self.email()
            local, _, dom = e.partition("@")
            cut = max(1, len(local) // 2)
            out.append(("zero-width %04x in local" % ord(z), local[:cut] + z + local[cut:] + "@" + dom, None, None))
        e = self.email()
        out.append(("zero-width before at", e.replace("@", "\u200b@"), None, None))
        e = self.email()
        out.append(("zero-width in domain", e.replace(".", "\u200b.", 1) if e.count(".") > 1 else e, None, None))
        e = self.email()
        out.append(("u-escaped every char", e, u_escape_all(e), e.lower()))
        e = self.email()
        out.append(("escaped at only", e, json_escaped(e).replace("@", "\\u0040"), e.lower()))
        e = self.email()
        out.append(("escaped uppercase hex", e, "".join("\\u%04X" % ord(c) for c in e), e.lower()))
        e = "ana%d@münchen.de" % self.uniq()
        out.append(("utf8 domain u-escaped", e, u_escape_all(e), None))
        n = self.uniq()
        out.append(("punycode domain", "ana%d@xn--e1afmkfd.xn--p1ai" % n, None, "ana%d@xn--e1afmkfd.xn--p1ai" % n))
        out.append(("punycode label", "ana%d@xn--mnchen-3ya.de" % self.uniq(), None, None))
        e = self.email()
        out.append(("escaped solidus and at", e, json_escaped(e).replace("@", "\\u0040").replace(".", "\\u002e"), e.lower()))
        return out

    # phones ---------------------------------------------------------------
    def dd(self, n):
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def phones_national(self):
        """(country, raw in national form, e164, nsn): numbers with random subscriber parts."""
        out = []
        m = "151" + self.dd(8)
        out.append(("DE", "0%s %s" % (m[:3], m[3:]), "+49" + m, m))
        b = "30" + self.dd(7)
        out.append(("DE", "0%s %s" % (b[:2], b[2:]), "+49" + b, b))
        mu = "89" + self.dd(8)
        out.append(("DE", "(0%s) %s %s" % (mu[:2], mu[2:5], mu[5:]), "+49" + mu, mu))
        b = "30" + self.dd(8)
        out.append(("DE", "0%s/%s" % (b[:2], b[2:]), "+49" + b, b))
        m = "176" + self.dd(8)
        out.append(("DE", "0%s-%s-%s" % (m[:3], m[3:7], m[7:]), "+49" + m, m))
        m = "160" + self.dd(7)
        out.append(("DE", "0%s.%s.%s" % (m[:3], m[3:6], m[6:]), "+49" + m, m))
        b = "40" + self.dd(8)
        out.append(("DE", "0%s%s" % (b[:2], b[2:]), "+49" + b, b))
        m = "172" + self.dd(7)
        out.append(("DE", "0%s%s%s" % (m[:3], NBSP, m[3:]), "+49" + m, m))
        m = "157" + self.dd(8)
        out.append(("DE", "0%s%s%s%s%s" % (m[:3], THIN, m[3:7], THIN, m[7:]), "+49" + m, m))
        # other countries' own national forms (not recognisable in text against 49)
        m = "6" + self.dd(8)
        out.append(("ES", "%s %s %s" % (m[:3], m[3:6], m[6:]), "+34" + m, m))
        m = "3" + self.dd(9)
        out.append(("IT", "%s %s %s" % (m[:3], m[3:6], m[6:]), "+39" + m, m))
        l = "06" + self.dd(8)
        out.append(("IT", "%s %s" % (l[:2], l[2:]), "+39" + l, l))
        m = "6" + self.dd(8)
        out.append(("FR", "0%s %s %s %s %s" % (m[0], m[1:3], m[3:5], m[5:7], m[7:]), "+33" + m, m))
        m = "7" + self.dd(9)
        out.append(("GB", "0%s %s" % (m[:4], m[4:]), "+44" + m, m))
        m = "212555" + "01" + self.dd(2)
        out.append(("US", "(%s) %s-%s" % (m[:3], m[3:6], m[6:]), "+1" + m, m))
        m = "6" + self.dd(8)
        out.append(("NL", "0%s-%s" % (m[0], m[1:]), "+31" + m, m))
        return out

    def phones_international(self):
        """(country, raw international, e164, nsn): every country, every written form."""
        out = []
        plans = [("49", "DE", "151" + self.dd(8), True), ("49", "DE", "30" + self.dd(7), True),
                 ("34", "ES", "6" + self.dd(8), False), ("39", "IT", "06" + self.dd(8), False),
                 ("39", "IT", "3" + self.dd(9), False), ("33", "FR", "6" + self.dd(8), True),
                 ("44", "GB", "7" + self.dd(9), True), ("44", "GB", "20" + self.dd(8), True),
                 ("1", "US", "212555" + "01" + self.dd(2), False), ("31", "NL", "6" + self.dd(8), True),
                 ("31", "NL", "20" + self.dd(7), True)]
        forms = ["plus spaced", "plus compact", "00", "plus (0)", "dots", "slashes", "dashes", "nbsp", "thin",
                 "narrow nbsp", "parenthesised cc"]
        for i, (cc, country, nsn, trunk) in enumerate(plans):
            for j, form in enumerate(forms):
                if (i + j) % 3:      # a spread of forms per country, not the full product
                    continue
                a, b = nsn[:3], nsn[3:]
                if form == "plus spaced":
                    raw = "+%s %s %s" % (cc, a, b)
                elif form == "plus compact":
                    raw = "+%s%s" % (cc, nsn)
                elif form == "00":
                    raw = "00%s %s %s" % (cc, a, b)
                elif form == "plus (0)":
                    if not trunk:
                        continue
                    raw = "+%s (0)%s %s" % (cc, a, b)
                elif form == "dots":
                    raw = "+%s.%s.%s" % (cc, a, b)
                elif form == "slashes":
                    raw = "+%s/%s/%s" % (cc, a, b)
                elif form == "dashes":
                    raw = "+%s-%s-%s" % (cc, a, b)
                elif form == "nbsp":
                    raw = "+%s%s%s%s%s" % (cc, NBSP, a, NBSP, b)
                elif form == "thin":
                    raw = "+%s%s%s%s%s" % (cc, THIN, a, THIN, b)
                elif form == "narrow nbsp":
                    raw = "+%s%s%s%s%s" % (cc, NNBSP, a, NNBSP, b)
                else:
                    raw = "(+%s) %s %s" % (cc, a, b)
                out.append((country + " " + form, raw, "+" + cc + nsn, nsn))
        return out

    # cards ----------------------------------------------------------------
    SCHEMES = [  # (scheme, prefixes, lengths)
        ("visa", ["4"], [13, 16, 19]),
        ("mastercard", ["51", "52", "53", "54", "55"], [16]),
        ("mastercard-2series", ["2221", "2300", "2500", "2720"], [16]),
        ("amex", ["34", "37"], [15]),
        ("discover", ["6011", "644", "649", "65"], [16, 19]),
        ("jcb", ["3528", "3530", "3589"], [16, 19]),
        ("diners", ["300", "305", "36", "38"], [14, 16]),
        ("maestro", ["5018", "5020", "5038", "6304", "6759", "6761", "6763"], [13, 16, 19]),
        ("unionpay", ["62"], [16, 17, 18, 19]),
        ("mir", ["2200", "2201", "2204"], [16]),
        ("rupay", ["6070", "6521", "6522", "508"], [16]),
        ("elo", ["401178", "431274", "438935", "451416", "457631", "504175", "627780", "636297", "636368",
                 "650487", "651652"], [16]),
        ("verve", ["506099", "506198", "650002", "650027", "507865"], [16, 19]),
        ("no scheme", ["1", "7", "8", "9", "0"], [13, 14, 17, 18]),
    ]

    def card(self, scheme=None, length=None):
        r = self.rng
        name, prefixes, lengths = next(s for s in self.SCHEMES if s[0] == scheme) if scheme else r.choice(self.SCHEMES)
        d = luhn_complete(r.choice(prefixes), length or r.choice(lengths), r)
        assert luhn_ok(d)
        return name, d

    @staticmethod
    def group(d, sep, sizes=None):
        if sizes is None:
            sizes = {15: [4, 6, 5], 14: [4, 6, 4]}.get(len(d))
        out, i = [], 0
        if sizes:
            for s in sizes:
                out.append(d[i:i + s])
                i += s
        while i < len(d):
            out.append(d[i:i + 4])
            i += 4
        return sep.join(x for x in out if x)


def text_items(g):
    """PII inside declared free-text fields: scanned, each value replaced by its token."""
    items = []
    fi = [0]

    def field(maxlen=200):
        while True:
            t, path, ml = TEXT_FIELDS[fi[0] % len(TEXT_FIELDS)]
            fi[0] += 1
            if ml >= maxlen:
                return t, path

    def add(cat, name, text, needles, escaped=None, tokens=(), maxlen=None, beyond=None):
        t, path = field(maxlen or len(text) + 10)
        ev = event(t)
        if escaped is not None:
            ph = "@@ESC%d@@" % g.uniq()
            set_path(ev, path, ph)
            tpl = with_escaped(ev, ph, escaped)
        else:
            set_path(ev, path, text)
            tpl = dumps(ev)
        # a token is certain only where the whole field is the value
        items.append(Item(cat, "%s in %s %s" % (name, t, path), tpl, needles, tokens=tokens, beyond=beyond))

    wrappers = ["%s", "please call back: %s", "%s, thanks!", "mail %s / tel", "Kunde: %s\nBitte zurückrufen"]
    for k, (name, e, esc, norm) in enumerate(g.email_variants()):
        w = wrappers[k % len(wrappers)]
        needles = set(email_needles(e))
        if esc is not None:
            needles.add(esc)
            esc = json_escaped(w.split("%s")[0]) + esc + json_escaped(w.split("%s")[1])
        add("text_email", name, w % e, needles, escaped=esc)
    for country, raw, e164, nsn in g.phones_national():
        if country != "DE":
            continue     # other countries' national forms: see person_phone_items (not promised in text)
        add("text_phone", "national %s %s" % (country, raw), "Rückruf unter %s bitte" % raw,
            phone_needles(raw, e164, nsn), tokens=[("ph", e164)])
    # A phone in text becomes its phone token (E.164), never a card's: "+" or "00" says phone,
    # even when its digits happen to pass Luhn.
    for country, raw, e164, nsn in g.phones_international():
        add("text_phone", "international %s" % country, "tel. %s (mobile)" % raw, phone_needles(raw, e164, nsn),
            tokens=[("ph", e164)])
    # +49 1511 2345678: its 13 digits pass Luhn
    for raw in ("+4915112345678", "+49 1511 2345678", "0049 1511 2345678", "+49 (0)1511 2345678"):
        assert luhn_ok("4915112345678")
        # A "+" number holding a card from its first digit is masked as the card
        # (no digit left raw); a "00" one is the phone.
        tok = [("ph", "+4915112345678")] if raw.startswith("00") or "(0)" in raw else []
        add("text_phone", "a phone whose digits pass Luhn %r" % raw, "bitte %s anrufen" % raw,
            phone_needles(raw, "+4915112345678", "15112345678"), tokens=tok)
    # cards of every scheme, spaces / dashes / none
    seps = [" ", "-", ""]
    k = 0
    for scheme, _, lengths in Gen.SCHEMES:
        for L in lengths[:2]:
            for sep in seps:
                _, d = g.card(scheme, L)
                raw = Gen.group(d, sep)
                k += 1
                add("text_card", "%s %d digits sep %r" % (scheme, L, sep), ["paid with %s", "%s", "card %s exp 12/29"][k % 3] % raw,
                    card_needles(raw))
    # exotic separators and encodings
    for name, sep in [("nbsp", NBSP), ("thin space", THIN), ("narrow nbsp", NNBSP), ("figure space", FIGSP),
                      ("zero-width space", "\u200b"), ("soft hyphen", "\u00ad"), ("dots", "."), ("slash", "/"),
                      ("two spaces", "  "), ("tab", "\t"), ("mixed", None)]:
        _, d = g.card()
        if sep is None:
            raw = d[:4] + " " + d[4:8] + "-" + d[8:12] + NBSP + d[12:]
        else:
            raw = Gen.group(d, sep)
        # DESIGN §5 (and pii.h): digits with single spaces or dashes between them; Unicode
        # spaces (NBSP, thin, figure) and zero-width characters are spaces or nothing to a reader.
        beyond = None
        if name in ("dots", "slash", "two spaces", "tab"):
            beyond = "card separator %s: DESIGN allows single spaces or dashes" % name
        add("text_card", "separator %s" % name, "Karte %s" % raw, card_needles(raw), beyond=beyond)
    for i in range(3):
        _, d = g.card()
        raw = "\u200b".join(d)          # a zero-width space between every digit
        add("text_card", "zero-width between every digit", raw, card_needles(raw))
    for i in range(3):
        _, d = g.card()
        raw = Gen.group("".join(chr(ord(c) + 0xFEE0) for c in d), " ")   # fullwidth digits
        add("text_card", "fullwidth digits", "Ｃａｒｄ：%s" % raw, card_needles(raw))
    _, d = g.card()
    raw = "".join(chr(ord(c) + 0x0630) for c in d)       # Arabic-Indic digits ٠١٢…
    add("text_card", "arabic-indic digits", raw, card_needles(raw), beyond="digits other than ASCII and fullwidth")
    _, d = g.card()
    raw = "".join(chr(ord(c) + 0x0936) for c in d)       # Devanagari digits
    add("text_card", "devanagari digits", raw, card_needles(raw), beyond="digits other than ASCII and fullwidth")
    for i in range(2):
        _, d = g.card()
        add("text_card", "u-escaped digits", d, card_needles(d) | {u_escape_all(d)}, escaped=u_escape_all(d))
    _, d = g.card()
    raw = Gen.group(d, " ")
    add("text_card", "u-escaped spaces only", raw, card_needles(raw), escaped=raw.replace(" ", "\\u0020"))
    # several secrets in one long text
    _, d1 = g.card()
    e1 = g.email()
    _, raw_p, e164, nsn = g.phones_international()[0]
    text = ("Kundin rief an: %s, Karte %s, Rückruf %s. " % (e1, Gen.group(d1, " "), raw_p)) * 3
    add("text_mixed", "three secrets repeated", text, email_needles(e1) | card_needles(Gen.group(d1, " ")) |
        phone_needles(raw_p, e164, nsn), maxlen=1024)
    # an email glued to a card glued to a phone, no separators
    _, d2 = g.card("visa", 16)
    e2 = g.email("example.com")
    text = "%s%s+49151%s" % (e2, d2, g.dd(8))
    # (whichever way a scanner splits "…@example.com4111…", a raw email must not remain)
    add("text_mixed", "glued", text, email_needles(e2) | card_needles(d2) | {text}, maxlen=200)
    for tail in ("2", "2024", "_1", "-7"):
        e3 = g.email("example.com")
        add("text_email", "a digit or mark right after the domain %r" % tail, "%s%s" % (e3, tail), email_needles(e3))
    return items


def person_items(g):
    """person.*: declared classes (email/phone tokenized), name/address/birth_date and unknown fields dropped."""
    items = []
    r = g.rng
    # declared email/phone: every variant stands in the field of its class
    for name, e, esc, norm in g.email_variants()[:12]:
        ev = event("checkin.scanned", person={"customer_id": "MB-%d" % g.uniq(), "email": e})
        sure = norm and esc is None and name in ("plain", "mixed case", "plus tag")
        items.append(Item("person_email", name, dumps(ev), email_needles(e), expect="cdp" if sure else "either",
                          tokens=[("em", norm)] if sure else ()))
    for country, raw, e164, nsn in g.phones_national() + g.phones_international()[:8]:
        ev = event("checkin.scanned", person={"customer_id": "MB-%d" % g.uniq(), "phone": raw})
        items.append(Item("person_phone", "%s %s" % (country, raw), dumps(ev), phone_needles(raw, e164, nsn)))
    # names, addresses, birth dates, unknown person fields
    for i in range(16):
        fn, ln = r.choice(FIRST).capitalize(), r.choice(LAST).capitalize() + "-Q%d" % g.uniq()
        street = "%s %d" % (r.choice(["Friedrichstraße", "Calle de Alcalá", "Via Roma", "Rue de Rivoli",
                                      "Baker Street", "Keizersgracht"]), g.uniq() + 100)
        bd = "19%02d-%02d-%02d" % (r.randint(40, 99), r.randint(1, 12), r.randint(1, 28))
        postal = "%05d" % r.randint(10000, 99999)
        city = r.choice(["Berlin-Mitte", "Madrid Centro", "Roma Est", "Paris 1er", "London NW1", "Amsterdam Zuid"])
        iban = "DE%02d%s" % (r.randint(10, 99), g.dd(18))
        person = {"customer_id": "MB-%d" % g.uniq()}
        variants = [
            {"name": "%s %s" % (fn, ln)},
            {"first_name": fn + "ia", "last_name": ln},
            {"full_name": "%s %s" % (fn, ln)},
            {"birth_date": bd},
            {"date_of_birth": bd},
            {"address": "%s, %s %s" % (street, postal, city)},
            {"address": {"street": street, "city": city, "postal_code": postal}},
            {"street": street, "city": city, "postal_code": postal},
            {"nickname": "%s %s" % (fn, ln)},
            {"iban": iban},
            {"ssn": "%s-%s-%s" % (g.dd(3), g.dd(2), g.dd(4))},
            {"emails": [g.email(), g.email()]},
            {"contact": {"mobile": "+49151%s" % g.dd(8), "mail": g.email()}},
            {"Name": "%s %s" % (fn, ln), "NAME": ln},
            {"name": ["%s %s" % (fn, ln)]},
            {"birth_date": {"y": bd[:4], "iso": bd}},
        ]
        v = variants[i]
        person.update(v)
        needles = set()

        def walk(x):
            if isinstance(x, dict):
                for k2, v2 in x.items():
                    walk(v2)
            elif isinstance(x, list):
                for v2 in x:
                    walk(v2)
            elif isinstance(x, str) and len(x) >= 6:
                needles.add(x)
                if "@" in x:
                    needles.update(email_needles(x))
                if x.startswith("+49"):
                    needles.update(phone_needles(x, x, x[3:]))
        walk(v)
        needles.discard(postal)
        ev = event("checkin.scanned", person=person)
        items.append(Item("person_fields", "person %s" % ",".join(v), dumps(ev), needles))
    return items


def undeclared_items(g):
    """Members the plan does not declare, at every depth: never pass."""
    items = []
    r = g.rng
    for i in range(30):
        e, (_, d), ph = g.email(), g.card(), "+34 6%s %s %s" % (g.dd(2), g.dd(3), g.dd(3))
        nsn = digits_of(ph)[2:]
        name = "%s %s-U%d" % (r.choice(FIRST).capitalize(), r.choice(LAST).capitalize(), g.uniq())
        secrets = email_needles(e) | card_needles(d) | phone_needles(ph, "+" + digits_of(ph), nsn) | {name}
        t = list(BASE)[i % len(BASE)]
        shapes = [
            {"properties": {"phone": ph, "customer_name": name, "card": d if t != "pos.order.completed" else None,
                            "mail": e}},
            {"customer": {"email": e, "phone": ph, "name": name, "pan": d}},
            {"properties": {"customer": {"contact": {"email": e, "phones": [ph, {"mobile": ph}]}, "name": name,
                                         "cards": [[d]]}}},
            {"extra": [e, [ph, [d, [name]]]]},
            {"context": {"traits": {"email": e, "phone": ph, "name": name, "card": d}}},
            {"traits": {"email": e, "phone": ph, "firstName": name}, "userId": e, "anonymousId": d},
            {"properties": {"meta": {"a": {"b": {"c": {"d": {"e": {"f": {"email": e, "card": d, "who": name, "tel": ph}}}}}}}}},
            {"properties": {"payload": json.dumps({"email": e, "phone": ph, "card": d, "name": name})}},
            {"person": {"customer_id": "MB-%d" % g.uniq(), "notes": "%s %s %s %s" % (e, ph, d, name)}},
            {"properties": {"lines": [{"sku": "sku-%d" % i, "qty": 1, "customer_email": e, "holder": name,
                                       "pan": d, "phone": ph}]}},
        ]
        parts = shapes[i % len(shapes)]
        if t != "pos.order.completed" and "lines" in parts.get("properties", {}):
            t = "pos.order.completed"
        if parts.get("properties", {}).get("card", 1) is None:
            parts["properties"]["card_number"] = d
            del parts["properties"]["card"]
        ev = event(t, **parts)
        items.append(Item("undeclared", "%s shape %d" % (t, i % len(shapes)), dumps(ev), secrets))
    return items


def key_items(g):
    """Personal data as object keys: never pass (undeclared keys; additionalProperties keys that look like PII)."""
    items = []
    for i in range(24):
        e, (_, d) = g.email(), g.card()
        m = "15" + g.dd(9)
        ph_raw, e164 = "+49%s" % m, "+49%s" % m
        nat = "0%s" % m
        kind = i % 12
        if kind == 0:
            ev, s = event("pos.order.completed", properties={e: True}), email_needles(e)
        elif kind == 1:
            ev, s = event("consent.updated", consent={ph_raw: True}), phone_needles(ph_raw, e164, m)
        elif kind == 2:
            ev, s = event("consent.updated", consent={e: False, "marketing_sms": True}), email_needles(e)
        elif kind == 3:
            ev, s = event("consent.updated", consent={"x" + d: True}), card_needles(d)
        elif kind == 4:
            ev, s = event("consent.updated", consent={"tel" + nat: True}), phone_needles(nat, e164, m)
        elif kind == 5:
            local = e.split("@")[0].replace(".", "_")
            ev, s = event("consent.updated", consent={"m" + local + "_" + d: True}), card_needles(d)
        elif kind == 6:
            ev, s = event("pos.order.completed", properties={"lines": [{"sku": "s1", e: 1, d: ph_raw}]}), \
                email_needles(e) | card_needles(d) | phone_needles(ph_raw, e164, m)
        elif kind == 7:
            ev, s = event("checkin.scanned", person={"customer_id": "MB-%d" % g.uniq(), e: "x", ph_raw: True}), \
                email_needles(e) | phone_needles(ph_raw, e164, m)
        elif kind == 8:
            ph = "@@ESC%d@@" % g.uniq()
            ev = event("pos.order.completed", properties={ph: True})
            tpl = dumps(ev).replace(json.dumps(ph), '"%s"' % u_escape_all(e))
            items.append(Item("keys", "u-escaped email key", tpl, email_needles(e) | {u_escape_all(e)}))
            continue
        elif kind == 9:
            ev, s = event("device.status", **{e: {d: [ph_raw]}}), \
                email_needles(e) | card_needles(d) | phone_needles(ph_raw, e164, m)
        elif kind == 10:
            u = "ana%d@münchen.de" % g.uniq()
            ev, s = event("consent.updated", consent={u: True, "имя%d@пример.рф" % i: True}), \
                email_needles(u) | email_needles("имя%d@пример.рф" % i)
        else:
            ev, s = event("consent.updated", consent={Gen.group(d, " "): True}), card_needles(Gen.group(d, " "))
        items.append(Item("keys", "key shape %d" % kind, dumps(ev), s))
    return items


def nested_items(g):
    """Nested arrays and objects under declared members."""
    items = []
    for i in range(16):
        e, (_, d) = g.email(), g.card()
        m = "17" + g.dd(8)
        ph = "+49 %s %s" % (m[:3], m[3:])
        s = email_needles(e) | card_needles(d) | phone_needles(ph, "+49" + m, m)
        kind = i % 8
        if kind == 0:   # text field inside an array item: scanned
            ev = event("pos.order.completed", properties={"lines": [{"sku": "a", "name": "for %s" % e},
                                                                    {"sku": "b", "name": "card %s" % d},
                                                                    {"sku": "c", "name": "tel %s" % ph}]})
        elif kind == 1:  # an array where the plan declares a string (wrong type, personal text)
            ev = event("pos.order.completed", properties={"note": [e, ph, d]})
        elif kind == 2:  # an object where the plan declares a string
            ev = event("booking.created", properties={"comment": {"email": e, "card": d, "tel": ph}})
        elif kind == 3:  # lines as strings instead of objects
            ev = event("pos.order.completed", properties={"lines": [e, d, ph]})
        elif kind == 4:  # nested arrays inside an item
            ev = event("pos.order.completed", properties={"lines": [{"sku": "a", "name": "x",
                                                                     "tags": [[e], [[d]], [[[ph]]]]}]})
        elif kind == 5:  # declared object replaced by an array
            ev = event("checkin.scanned", person=[{"email": e}, ph, d])
        elif kind == 6:  # consent values that are not booleans
            ev = event("consent.updated", consent={"marketing_email": e, "marketing_sms": d, "source": ph})
        else:           # properties as an array
            ev = event("kiosk.session.started", properties=[e, {"card": d}, ph])
        items.append(Item("nested", "nested kind %d" % kind, dumps(ev), s))
    return items


def identifier_items(g):
    """id-class fields holding PII: quarantined as pii_in_identifier (never rewritten)."""
    items = []
    for i in range(30):
        e, (_, d) = g.email(), g.card()
        m = "151" + g.dd(8)
        ph = "+49%s" % m
        val, s = [(e, email_needles(e)), (ph, phone_needles(ph, ph, m)), (d, card_needles(d)),
                  (Gen.group(d, "-"), card_needles(Gen.group(d, "-"))), ("0" + m, phone_needles("0" + m, ph, m))][i % 5]
        where = i % 6
        expect = "quarantine"
        if where == 0:
            ev = event("pos.order.completed")
            ev["id"] = val
            tpl = dumps(ev)
        else:
            path = ["properties.order_id", "properties.class_id", "properties.booking_id", "properties.payment_id",
                    "properties.lines[].sku"][where - 1]
            t = {"properties.order_id": "pos.order.completed", "properties.class_id": "class.attended",
                 "properties.booking_id": "booking.cancelled", "properties.payment_id": "refund.issued",
                 "properties.lines[].sku": "pos.order.completed"}[path]
            ev = set_path(event(t), path, val)
            tpl = dumps(ev)
        items.append(Item("identifier", "%s as %s" % (["email", "phone", "card", "card dashes", "national phone"][i % 5],
                                                     ["id", "order_id", "class_id", "booking_id", "payment_id",
                                                      "lines[].sku"][where]), tpl, s, expect=expect))
    # other id-class common fields: type, occurred_at; and the currency pattern field
    e, (_, d) = g.email(), g.card("visa", 16)
    for name, ev, s in [
        ("type is an email", dict(event("device.status"), type=e), email_needles(e)),
        ("type is a card", dict(event("device.status"), type=d), card_needles(d)),
        ("occurred_at is an email", dict(event("device.status"), occurred_at=g.email("example.org")), None),
        ("occurred_at is a phone", dict(event("device.status"), occurred_at="+4915112%s" % g.dd(6)), None),
        ("currency is a card", set_path(event("payment.succeeded"), "properties.currency", Gen.group(g.card()[1], " ")), None),
        ("starts_at is an email", set_path(event("booking.created"), "properties.starts_at", g.email()), None),
    ]:
        if s is None:
            v = ev.get("occurred_at") if "occurred_at" in name else (
                ev["properties"].get("currency") or ev["properties"].get("starts_at"))
            s = email_needles(v) if "@" in v else (phone_needles(v, v, v[3:]) if v.startswith("+") else card_needles(v))
        items.append(Item("identifier", name, dumps(ev), s, expect="quarantine"))
    return items


def split_items(g):
    """A value split across two fields.

    What the gateway can and cannot promise here: a split value is not
    recognisable — each half alone is not an email, a phone or a card.  In
    undeclared members it is stopped because undeclared members never pass
    (so here the halves are secrets too).  In two declared text fields each
    half passes as sent, which is harmless only because a half is not the
    value: the CDP receives "ana.lopez" and "example.com" apart; only the
    joined forms are recorded as secrets then (the last 8 digits of a card
    split 8+8 are exactly its second half and would pass: they are not
    recorded)."""
    items = []
    for i in range(6):
        e = g.email("example.com")
        local, _, dom = e.partition("@")
        _, d = g.card("mastercard", 16)
        # declared text fields: halves pass, the whole must not appear
        ev = event("pos.order.completed", properties={"note": local + "@", "location": dom})
        items.append(Item("split", "email halves in note/location", dumps(ev), {e}))
        ev = event("pos.order.completed", properties={"note": d[:8], "location": d[8:]})
        items.append(Item("split", "card halves in note/location", dumps(ev), {d, Gen.group(d, " ")}))
        # undeclared members: nothing passes, halves included
        ev = event("payment.succeeded", properties={"email_user": local + "-split", "email_domain": "split-" + dom,
                                                     "pan_a": d[:8] + "x", "pan_b": "y" + d[8:]})
        items.append(Item("split", "halves in undeclared members", dumps(ev),
                          {e, d, local + "-split", "split-" + dom, d[:8] + "x", "y" + d[8:]}))
    return items


def numeric_items(g):
    """JSON numbers are never scanned: card-like numbers in declared numeric fields pass untouched."""
    items = []
    # Luhn-valid, < 2**53 so a double holds them exactly
    # (5105105105105159 and 6011000990139481: above 2**52, where printing with "%1.15g" and
    # accepting it by a relative comparison, as cJSON does, gives ...160 and ...480)
    nums = ["4012888888881881", "5105105105105100", "6011000990139424", "3566002020360505", "2223003122003222",
            "4000056655665556", "5105105105105159", "6011000990139481", "4929000000006"]
    for i, n in enumerate(nums):
        assert luhn_ok(n) and int(n) < 2 ** 53
        if i % 3 == 0:
            ev = event("pos.order.completed", properties={"total_minor": int(n), "location": HARMLESS_LOCATION})
            intact = [("properties.total_minor", int(n)), ("properties.location", HARMLESS_LOCATION)]
        elif i % 3 == 1:
            ev = event("payment.succeeded", properties={"amount_minor": int(n)})
            intact = [("properties.amount_minor", int(n))]
        else:
            ev = event("pos.order.completed", properties={"lines": [{"sku": "s-%d" % i, "unit_minor": int(n),
                                                                     "qty": 1}]})
            intact = [("properties.lines[0].unit_minor", int(n))]
        items.append(Item("numeric", "card-like number %s" % n, dumps(ev), (), expect="cdp", intact=intact))
    # ... but a number where the plan declares a phone or a card string is not a number field
    for i in range(3):
        m = "151" + g.dd(8)
        ev = event("checkin.scanned", person={"customer_id": "MB-%d" % g.uniq(), "phone": int("49" + m)})
        items.append(Item("numeric", "phone as a JSON number in person.phone", dumps(ev), {"49" + m, m}))
        _, d = g.card("visa", 16)
        ev = event("pos.order.completed", properties={"card": int(d[:15])} if int(d) >= 2 ** 53 else {"card": int(d)})
        items.append(Item("numeric", "card as a JSON number in properties.card", dumps(ev), card_needles(d) if int(d) < 2 ** 53 else {d[:15]}))
    return items


def structural_items(g):
    """Duplicate keys, NUL escapes, over-long fields, undecodable payloads with PII inside."""
    items = []
    for i in range(3):
        e, (_, d) = g.email(), g.card()
        m = "151" + g.dd(8)
        ph = "+49 " + m
        s = email_needles(e) | card_needles(d) | phone_needles(ph, "+49" + m, m)
        base = dumps(event("pos.order.completed"))
        # a duplicate "properties" (the second with PII), duplicate "note", duplicate "person"
        tpl = base[:-1] + ', "properties": {"order_id": "o", "total_minor": 1, "currency": "EUR", "mail": "%s", ' \
                          '"note": "%s %s"}}' % (e, d, ph)
        items.append(Item("structural", "duplicate properties member", tpl, s))
        tpl = base.replace('"currency": "EUR"', '"currency": "EUR", "note": "harmless", "note": "%s / %s / %s"'
                           % (e, d, ph))
        items.append(Item("structural", "duplicate note member", tpl, s))
        tpl = dumps(event("checkin.scanned"))[:-1] + ', "person": {"customer_id": "MB-1", "name": "%s", "email": "%s"}}' \
            % ("Dup Licate%d" % g.uniq(), e)
        items.append(Item("structural", "duplicate person member", tpl, email_needles(e)))
        tpl = dumps(event("pos.order.completed", properties={"note": "@@N@@"})).replace(
            '"@@N@@"', '"ok\\u0000 %s %s"' % (e, d))
        items.append(Item("structural", "NUL escape then PII", tpl, email_needles(e) | card_needles(d)))
        long_note = ("x" * 1100) + " " + e + " " + d
        items.append(Item("structural", "note over maxLength with PII", dumps(event("pos.order.completed",
                                                                                    properties={"note": long_note})),
                          email_needles(e) | card_needles(d)))
    # undecodable: only metadata may be kept
    e, (_, d) = g.email(), g.card()
    s = email_needles(e) | card_needles(d)
    undecodable = [
        ("truncated json", ('{"id": "%s", "type": "pos.order.completed", "properties": {"note": "%s %s"' % (ID, e, d)).encode()),
        ("invalid utf-8", ('{"id": "%s", "type": "device.status", "properties": {"note": "%s \xff %s"}}'
                           % (ID, e, d)).encode("latin-1").replace(b"\xc3\xbf", b"\xff")),
        ("lone surrogate escape", ('{"id": "%s", "type": "device.status", "properties": {"note": "\\ud800 %s %s"}}'
                                   % (ID, e, d)).encode()),
        ("too deep", ('{"id": "%s", "type": "device.status", "properties": %s"%s %s"%s}'
                      % (ID, '{"a": [' * 12, e, d, ']}' * 12)).encode()),
        ("top-level array", ('[{"id": "%s", "email": "%s", "card": "%s"}]' % (ID, e, d)).encode()),
        ("not json at all", ("email=%s card=%s" % (e, d)).encode()),
        ("trailing garbage", ('{"id": "%s", "type": "device.status"} %s %s' % (ID, e, d)).encode()),
        ("too large", ('{"id": "%s", "type": "device.status", "properties": {"note": "%s", "pad": "%s"}}'
                       % (ID, e + " " + d, "p" * 70000)).encode()),
    ]
    for name, tpl in undecodable:
        items.append(Item("undecodable", name, tpl, s | {e, d}, expect="quarantine"))
    # a byte order mark before the object (skipped or refused; either way nothing raw)
    items.append(Item("structural", "byte order mark first",
                      ('\ufeff{"id": "%s", "type": "device.status", "properties": {"note": "%s %s"}}'
                       % (ID, e, d)).encode(), s | {e, d}))
    return items


def baseline_items(g):
    """The positive side: declared fields that must arrive tokenized, and harmless values intact."""
    items = []
    for i in range(6):
        e = "%s.%s.base%d@example.com" % (FIRST[i], LAST[i], i)
        m = "151" + g.dd(8)
        ph = "+49 %s %s" % (m[:3], m[3:])
        _, d = g.card(["visa", "mastercard", "amex", "mir", "unionpay", "jcb"][i], None)
        raw_card = Gen.group(d, " ")
        ev = event("pos.order.completed",
                   person={"email": e, "phone": ph},
                   properties={"card": raw_card, "location": HARMLESS_LOCATION,
                               "note": "receipt to %s" % e.upper(),
                               "lines": [{"sku": "sku-%d" % i, "name": "Protein bar", "qty": 2, "unit_minor": 250}]})
        items.append(Item("baseline", "declared email/phone/card %d" % i, dumps(ev),
                          email_needles(e) | email_needles(e.upper()) | phone_needles(ph, "+49" + m, m) |
                          card_needles(raw_card),
                          expect="cdp", tokens=[("em", e), ("ph", "+49" + m), ("pan", d)],
                          intact=[("properties.location", HARMLESS_LOCATION), ("properties.lines[0].name", "Protein bar")]))
    return items


def topic_items(g):
    """MQTT only: personal data in the topic (another device's events topic, which the ACL lets through)."""
    items = []
    for i in range(2):
        e = g.email()
        ev = event("device.status")
        items.append(Item("topic", "email as the topic's device id", dumps(ev), email_needles(e),
                          expect="quarantine", mqtt_only=True, topic_device=e))
    return items


def context_items(g):
    """Emails, phones and cards in the company free text keeps: URLs, JSON and CSV in a string,
    brackets, quotes, labels glued with punctuation, other scripts right after a value."""
    items = []
    forms = [
        ("url query", "https://pay.example.com/r?pan={card}&mail={email}&tel={phone}", None),
        ("json in a string", '{{"email": "{email}", "card": "{card}", "phone": "{phone}"}}', None),
        ("csv line", "{email};{card};{phone};Berlin", None),
        ("brackets", "[{card}] <{email}> ({phone})", None),
        ("quotes", "'{email}' \"{card}\" «{phone}»", None),
        ("labels with colon", "PAN:{card} E-Mail:{email} Tel.:{phone}", None),
        ("hash and equals", "#{card} mail={email} tel={phone}", None),
        ("cjk right after", "{email}请回电{phone}谢谢{card}。", None),
        ("arabic right after", "{email}،{phone}،{card}", None),
        ("newlines and tabs", "\n{email}\t{phone}\r\n{card}\n", None),
        ("card glued to letters", "PAN{card_plain} Kartennr{card_plain}", "a card glued to letters: the boundary that keeps "
                                                                        "UUIDs from being taken for cards"),
    ]
    for k, (name, fmt, beyond) in enumerate(forms):
        for variant in range(2):
            e = g.email()
            _, d = g.card()
            card = Gen.group(d, " " if variant else "-")
            m = ("151" if variant else "30") + g.dd(8 if variant else 7)
            phone = ("+49 %s %s" % (m[:3], m[3:])) if variant else ("0%s %s" % (m[:2], m[2:]))
            text = fmt.format(email=e, card=card, card_plain=d, phone=phone)
            needles = email_needles(e) | card_needles(card if "{card}" in fmt else d)
            if "{phone}" in fmt:
                needles |= phone_needles(phone, "+49" + m, m)
            t, path = [("pos.order.completed", "properties.note"), ("booking.created", "properties.comment"),
                       ("refund.issued", "properties.reason"), ("checkin.scanned", "properties.location")][(k + variant) % 4]
            ev = set_path(event(t), path, text)
            items.append(Item("text_context", "%s (%s)" % (name, path), dumps(ev), needles, beyond=beyond))
    return items


def card_reader_items(g):
    """What card readers and tills put in free text: magnetic-stripe track data (a reader in
    keyboard-wedge mode types it), a card with its expiry, CVV and holder."""
    items = []
    for i in range(2):
        holder = "%s/%s" % (LAST[i * 3].upper() + "X%d" % g.uniq(), FIRST[i * 5].upper())
        exp = "%02d%02d" % (27 + i, 1 + i * 5)
        forms = [
            # Glued to text: the scanner's boundaries (which keep UUIDs intact) exclude these.
            ("track 1", "%%B{d}^%s^%s1010000000000000?" % (holder, exp),
             "track data glues the card to letters: the boundary rule that keeps UUIDs whole excludes it"),
            ("track 2", ";{d}=%s1011234567890?" % exp,
             "track data glues the card to '=' and digits: excluded by the boundary rule"),
            ("card slash expiry", "{d}/%s" % exp, "a card joined to digits by '/' is excluded by the boundary rule"),
            ("card, expiry and cvv", "PAN {g} EXP %s/%s CVV %03d" % (exp[2:], exp[:2], 100 + i), None),
            ("card dash expiry", "{d}-%s" % exp,
             "20 digits joined by a dash: DESIGN's 13-19 digits with dashes allowed does not cover it"),
            ("card glued to expiry", "{d}%s" % exp, "a run of 20 digits is no card by DESIGN's definition"),
        ]
        for name, fmt, beyond in forms:
            _, d = g.card("visa", 16)      # one card per item: a leak names its item
            text = fmt.replace("{d}", d).replace("{g}", Gen.group(d, " "))
            ev = event("payment.succeeded", properties={"note": text})
            items.append(Item("card_reader", name, dumps(ev), card_needles(d), beyond=beyond))
    return items


def issue_items(g):
    """Issue 13's own reports, verbatim: what a new user saw stored and forwarded raw."""
    ev = event("pos.order.completed", properties={
        "phone": "+34 612 345 678", "ana.lopez@example.com": True, "customer_name": "Ana Lopez",
        "note": "call +49 151 2345678", "card": "2200 0000 0000 0004", "mail": "ana@münchen.de"})
    s = (phone_needles("+34 612 345 678", "+34612345678", "612345678") | email_needles("ana.lopez@example.com") |
         {"Ana Lopez"} | phone_needles("+49 151 2345678", "+491512345678", "1512345678") |
         card_needles("2200 0000 0000 0004") | email_needles("ana@münchen.de"))
    items = [Item("issue", "the issue's pos.order.completed", dumps(ev), s)]
    ev = event("consent.updated", consent={"+4915112345678": True, "marketing_sms": False})
    items.append(Item("issue", "consent keyed by a phone", dumps(ev), phone_needles("+4915112345678", "+4915112345678",
                                                                                     "15112345678")))
    ev = event("pos.order.completed")
    ev["id"] = "ea43b481-6079-4596-86bd-76238811f195"
    it = Item("issue", "the UUID once taken for a card", dumps(ev), (), expect="cdp",
              intact=[("context.venuegw.device_event_id", "ea43b481-6079-4596-86bd-76238811f195")])
    it.fixed_id = ev["id"]
    items.append(it)
    return items


def mqtt_items(g):
    """MQTT only: personal data in MQTT v5 properties of an event (dropped, never passed on: DESIGN
    §2) and in the client id (which mosquitto writes to its log when a client connects)."""
    items = []
    for i in range(4):
        e, (_, d) = g.email(), g.card("visa", 16)
        m = "151" + g.dd(8)
        ph = "+49 %s %s" % (m[:3], m[3:])
        args = ["-V", "mqttv5", "-D", "publish", "user-property", "email", e,
                "-D", "publish", "user-property", "card", Gen.group(d, " "),
                "-D", "publish", "correlation-data", d,
                "-D", "publish", "content-type", "text/plain; phone=%s" % ph,
                "-D", "publish", "response-topic", "venue/v1/pos-1/%s" % e]
        if i % 2:
            args += ["-D", "connect", "user-property", "owner", e]
        ev = event("device.status")
        items.append(Item("mqtt_v5", "v5 properties %d" % i, dumps(ev),
                          email_needles(e) | card_needles(d) | phone_needles(ph, "+49" + m, m),
                          mqtt_only=True, mqtt_args=args))
    e = g.email()
    items.append(Item("mqtt_v5", "email as the MQTT client id", dumps(event("device.status")), email_needles(e),
                      mqtt_only=True, client_id=e,
                      beyond="the client id is the device's own choice and mosquitto logs it on connect"))
    return items


def wrong_type_items(g):
    """A JSON number where the plan declares a free-text string: a type violation (quarantined,
    or dropped) — the number must not stay in the stored or held body as it was sent."""
    items = []
    for i, path_t in enumerate([("pos.order.completed", "properties.note"), ("pos.order.completed", "properties.lines[].name"),
                                ("consent.updated", "consent.source"), ("booking.created", "properties.comment"),
                                ("device.status", "properties.status"), ("refund.issued", "properties.reason")]):
        _, d = g.card("visa", 16)
        m = "151" + g.dd(8)
        t, path = path_t
        ev = set_path(event(t), path, int(d) if i % 2 == 0 else int("49" + m))
        s = card_needles(d) if i % 2 == 0 else {"49" + m, m}
        items.append(Item("wrong_type", "number in text field %s" % path, dumps(ev), s))
    return items


def beyond_items(g):
    """Forms a reader recognises but DESIGN's definitions do not cover: reported apart."""
    items = []
    n = g.uniq()
    for name, text, needles in [
        ("quoted local part", '"ana lopez%d"@example.com' % n, {'"ana lopez%d"@example.com' % n}),
        ("ip literal domain", "ana%d@[192.168.17.4]" % n, {"ana%d@[192.168.17.4]" % n}),
        ("spaces around at", "ana.lopez%d @ example.com" % n, {"ana.lopez%d @ example.com" % n}),
        ("at spelled out", "ana.lopez%d (at) example (dot) com" % n, {"ana.lopez%d (at) example (dot) com" % n}),
        ("phone with letters for digits", "+49 151 FOUR 1234567", {"+49 151 FOUR 1234567"}),
    ]:
        ev = event("pos.order.completed", properties={"note": "contact: %s" % text})
        items.append(Item("beyond", name, dumps(ev), needles, beyond=name))
    return items


def corpus(seed=SEED):
    g = Gen(seed)
    items = (baseline_items(g) + text_items(g) + person_items(g) + undeclared_items(g) + key_items(g) +
             nested_items(g) + identifier_items(g) + split_items(g) + numeric_items(g) + structural_items(g) +
             topic_items(g) + wrong_type_items(g) + beyond_items(g) + mqtt_items(g) + issue_items(g) +
             context_items(g) + card_reader_items(g))
    check(items)
    return items


# Strings the gateway legitimately sends or stores: no needle may be inside one.
FIXED_ALLOWED = ["berlin-mitte-01", "pos-1", "kiosk-nd", AT, "2026-11-28T10:00:00.000Z", HARMLESS_LOCATION,
                 "Protein bar", "MB-88121", "ORD-1001", "pay_0001", "pay_0002", "spin-0900", "yoga-1800", "bk-77",
                 "bk-78"]


def check(items):
    """The corpus is usable: needles long enough to mean something, none inside a value that may pass."""
    allowed = list(FIXED_ALLOWED)
    for it in items:
        for _, v in it.intact:
            allowed.append(str(v))
    for it in items:
        for s in it.secrets:
            assert len(s) >= 6 or not s.isascii(), (it, s)
            for a in allowed:
                assert s not in a, (it, s, a)


def summary(items):
    cats = {}
    for it in items:
        cats[it.category] = cats.get(it.category, 0) + 1
    return cats


def validate(venuegw, plan, show_beyond=False):
    """Each item through `venuegw validate` (no gateway: the pipeline alone, with a
    gateway config of default_country_code 49 and DESIGN's K1): the items whose
    output (stored or quarantined form, reasons, dropped paths) holds a secret."""
    import os
    import subprocess
    import tempfile
    bad = 0
    plan = os.path.abspath(plan)
    with tempfile.TemporaryDirectory(prefix="vg-hc-") as d:
        keys, conf = os.path.join(d, "keys"), os.path.join(d, "venuegw.conf")
        with open(keys, "w") as f:
            f.write("1 %s\n" % bytes(range(32)).hex())
        with open(conf, "w") as f:
            f.write("[gateway]\nvenue_id = berlin-mitte-01\ndata_dir = %s\ndefault_country_code = 49\n"
                    "[tokens]\nkey_file = %s\n[contracts]\nplan = %s\n" % (d, keys, plan))
        for i, it in enumerate(corpus()):
            if it.beyond and not show_beyond:
                continue
            r = subprocess.run([venuegw, "--config", conf, "validate", "--device", "pos-1", "-"],
                               input=it.payload("hv-%04d" % i), capture_output=True, timeout=30)
            out = r.stdout + r.stderr
            if r.returncode not in (0, 3):
                raise RuntimeError("venuegw validate: exit %d: %s" % (r.returncode, out.decode(errors="replace")))
            hits = [s for s in it.secrets if s.encode() in out or json_escaped(s).encode() in out]
            if hits:
                bad += 1
                print("%s/%s%s: %s" % (it.category, it.name, " [beyond]" if it.beyond else "", hits[:4]))
                print("    in:  %s" % it.payload("hv-%04d" % i)[:300].decode("utf-8", "replace"))
                print("    out: %s" % out.decode("utf-8", "replace").replace("\n", " | ")[:400])
    return bad


if __name__ == "__main__":
    import sys
    if len(sys.argv) >= 4 and sys.argv[1] == "--validate":
        # python3 hostile_corpus.py --validate BUILD/venuegw packaging/plan/plan.json [--beyond]
        sys.exit(1 if validate(sys.argv[2], sys.argv[3], "--beyond" in sys.argv) else 0)
    items = corpus()
    print(len(items), "items;", sum(len(i.secrets) for i in items), "needles")
    for k, v in sorted(summary(items).items()):
        print("  %-14s %d" % (k, v))
