"""Writes bench/data/pii_sample_holdout.jsonl: a labelled redaction sample written
apart from the detectors (its author did not read `lepton_tf/text/redaction.py`
nor the first sample), to measure them on strings they were not tuned on.

    python bench/make_pii_holdout.py && python bench/redaction.py \\
        --sample bench/data/pii_sample_holdout.jsonl

Each row: `{"text", "pii": [{"kind", "text"}]}` (`bench/redaction.py`'s format).
Sentences are hand-written templates; the values in them are drawn with a fixed
seed: card numbers of several networks with a valid Luhn digit (with spaces,
dashes or none), IBANs of several countries with valid mod-97 check digits
(grouped or not), phone numbers in national and international formats of
several countries (each drawn number kept only if the `phonenumbers`
metadata calls it a valid number of its country: the label is "a real phone
number", not "what the detector finds"), and e-mail addresses of many shapes.
Hard negatives carry numbers that look like personal data and are not: order
numbers, dates, versions, prices, ISBNs, tracking ids, IP addresses, hashes.
"""

import json
import os
import random

import phonenumbers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                   "pii_sample_holdout.jsonl")
rng = random.Random(20261207)


def digits(n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


# -- cards ------------------------------------------------------------------
def luhn_complete(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to the right of it
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


NETWORKS = {  # prefix choices, length, grouping
    "visa": (["4"], 16, (4, 4, 4, 4)),
    "visa13": (["4"], 13, (4, 4, 5)),
    "mastercard": (["51", "52", "53", "54", "55", "2221", "2500", "2720"], 16, (4, 4, 4, 4)),
    "amex": (["34", "37"], 15, (4, 6, 5)),
    "discover": (["6011", "644", "65"], 16, (4, 4, 4, 4)),
    "jcb": (["3528", "3540", "3589"], 16, (4, 4, 4, 4)),
    "diners": (["36", "38", "300"], 14, (4, 6, 4)),
    "unionpay": (["62"], 16, (4, 4, 4, 4)),
    "maestro": (["6759", "5018", "6304"], 19, (4, 4, 4, 4, 3)),
}


def card(network: str, separator: str) -> str:
    prefixes, length, groups = NETWORKS[network]
    prefix = rng.choice(prefixes)
    number = luhn_complete(prefix + digits(length - len(prefix) - 1))
    if not separator:
        return number
    out, at = [], 0
    for g in groups:
        out.append(number[at:at + g])
        at += g
    return separator.join(out)


# -- IBANs ------------------------------------------------------------------
def spanish_bban() -> str:
    """Bank, branch, the two national check digits (CCC), account."""
    def check(ten: str) -> str:
        d = 11 - sum(int(c) * w for c, w in zip(ten, (1, 2, 4, 8, 5, 10, 9, 7, 3, 6))) % 11
        return str({10: 1, 11: 0}.get(d, d))
    bank_branch, account = digits(8), digits(10)
    return bank_branch + check("00" + bank_branch) + check(account) + account


def belgian_bban() -> str:
    """Ten digits and their national mod-97 check (97 for 0)."""
    body = digits(10)
    return body + f"{int(body) % 97 or 97:02d}"


# Countries whose BBAN holds its own national check digits draw valid ones (a
# real account number has them); the others' national checks are not drawn.
IBAN_BBAN = {  # country: a function drawing its BBAN
    "DE": lambda: digits(18),
    "GB": lambda: rng.choice(["NWBK", "BARC", "LOYD", "MIDL"]) + digits(14),
    "FR": lambda: digits(10) + "".join(rng.choice("ABCDEFGHJK0123456789")
                                       for _ in range(11)) + digits(2),
    "ES": spanish_bban,
    "NL": lambda: rng.choice(["ABNA", "RABO", "INGB", "TRIO"]) + digits(10),
    "IT": lambda: rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + digits(10) + digits(12),
    "CH": lambda: digits(17),
    "BE": belgian_bban,
    "PL": lambda: digits(24),
    "AT": lambda: digits(16),
    "IE": lambda: rng.choice(["AIBK", "BOFI"]) + digits(14),
}


def iban(country: str, grouped: bool) -> str:
    bban = IBAN_BBAN[country]()
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    value = f"{country}{98 - number % 97:02d}{bban}"
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if grouped else value


# -- phones -----------------------------------------------------------------
# (region, drawer of the national significant number, formats to write it in)
PHONE_PLANS = {
    "US": lambda: rng.choice(["201", "212", "303", "312", "415", "512", "617", "646", "702",
                              "713", "718", "305", "404", "206", "503", "617"])
    + str(rng.randint(2, 9)) + digits(2) + digits(4),
    "CA": lambda: rng.choice(["416", "604", "514", "403"]) + str(rng.randint(2, 9))
    + digits(6),
    "GB": lambda: rng.choice(["20" + rng.choice("378") + digits(7), "7" + rng.choice("5789")
                              + digits(8), "161" + digits(7)]),
    "DE": lambda: rng.choice(["30" + digits(8), "89" + digits(7), "151" + digits(8),
                              "170" + digits(7)]),
    "FR": lambda: rng.choice("1679") + digits(8),
    "ES": lambda: rng.choice(["6", "91"]) + digits(8 if rng.random() < .5 else 7),
    "IT": lambda: rng.choice(["3" + rng.choice("234") + digits(8), "06" + digits(8)]),
    "NL": lambda: rng.choice(["6" + digits(8), "20" + digits(7)]),
    "IN": lambda: rng.choice("6789") + digits(9),
    "JP": lambda: rng.choice(["90", "80", "3"]) + digits(8),
    "AU": lambda: rng.choice(["4" + digits(8), "2" + digits(8), "3" + digits(8)]),
    "BR": lambda: rng.choice(["11", "21"]) + "9" + digits(8),
    "MX": lambda: rng.choice(["55", "33"]) + digits(8),
    "CH": lambda: rng.choice(["44", "79", "22"]) + digits(7),
    "SG": lambda: rng.choice("689") + digits(7),
}


def phone(region: str, style: str) -> str:
    """A valid number of `region` written in `style` (international | e164 | national |
    dotted | dashed | zero_zero)."""
    for _ in range(200):
        parsed = phonenumbers.parse(PHONE_PLANS[region](), region)
        if phonenumbers.is_valid_number(parsed):
            break
    else:
        raise RuntimeError(f"no valid {region} number drawn")
    intl = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if style == "international":
        return intl
    if style == "e164":
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if style == "national":
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    if style == "zero_zero":  # Europe's international prefix instead of "+"
        return "00" + intl[1:]
    national = str(parsed.national_number)
    if style == "dotted":  # 415.555.0199 (US style)
        return f"{national[:3]}.{national[3:6]}.{national[6:]}"
    if style == "dashed":  # +1-415-555-0199
        return f"+{parsed.country_code}-{national[:3]}-{national[3:6]}-{national[6:]}"
    raise ValueError(style)


# -- e-mails ----------------------------------------------------------------
FIRST = ["anna", "jose", "li.wei", "olu", "marie-claire", "j.smith", "kofi", "sven",
         "priya", "o'brien", "x", "t.nguyen", "m_rossi", "zoe+tickets", "HR.Team", "ahmed99"]
DOMAINS = ["gmail.com", "example.org", "mail.co.uk", "uni-heidelberg.de", "corp.example.io",
           "sub.dept.example.com", "outlook.fr", "web.de", "yahoo.co.jp", "clinic.health",
           "bank-example.ch", "a.museum", "EXAMPLE.COM", "xn--bcher-kva.example"]


def email() -> str:
    local = rng.choice(FIRST)
    if "'" in local and rng.random() < .5:
        local = local.replace("'", "")
    return f"{local}@{rng.choice(DOMAINS)}"


# -- sentences --------------------------------------------------------------
EMAIL_T = ["Please write to {v} about the refund.", "Contact: {v}", "my email is {v}",
           "CC {v}; they handle escalations.", "Reply-To: <{v}>", "mailto:{v}",
           "Send the invoice to {v}, not to me.", "({v}) is the new address",
           "Is {v} still the right contact?", "{v}"]
PHONE_T = ["Call me on {v} after six.", "Phone: {v}", "tel. {v}",
           "You can reach the ward at {v}.", "my number changed to {v}",
           "Mobile {v} (WhatsApp too)", "Emergency contact - {v}", "{v}",
           "Fax: {v}", "he said to ring {v} tomorrow morning"]
CARD_T = ["My card number is {v}.", "Charge {v} please", "card: {v} exp 09/27",
          "The payment with {v} failed twice.", "{v}", "Use the card ending... no wait, "
          "full number {v}", "PAN {v}", "Visa/MC: {v} - cvv I will tell you on the phone"]
IBAN_T = ["Please refund to IBAN {v}.", "IBAN: {v}", "Bank details {v} (BIC on request)",
          "transfer it to {v} by Friday", "{v}"]
NEGATIVES = [
    "Order #112-4837261-5092847 has not arrived yet.", "Your order number is 4000123456",
    "Order ID: ORD-2026-000418 shipped", "Invoice INV-20261207-0042 is attached.",
    "Ticket 884421 was closed on 2026-11-30.", "Reference number 7730-2219-4410",
    "The meeting is on 15/03/2027 at 10:45.", "Due date: 2026-12-31T23:59:59Z",
    "Born on 03.07.1985 in Lyon", "between 1999-2004 we used the old system",
    "Upgrade to version 2.10.3 fixed it.", "Running v1.2.3.4 on the router",
    "tensorflow==2.20.0 and keras 3.6.0", "Build 20261207.1532 failed",
    "Release 10.0.19045.5247 of Windows", "It costs $1,299.99 plus tax.",
    "Total: EUR 4.500,00", "The price went from 19.99 to 24.99 USD",
    "Salary band 85,000-95,000 per year", "Budget of 1 200 000 SEK approved",
    "ISBN 978-3-16-148410-0", "ISBN-13: 9780306406157", "ISBN 0-306-40615-2",
    "see ISBN 979-10-90636-07-1 in the catalogue", "UPS tracking 1Z999AA10123456784",
    "USPS tracking 9400 1000 0000 0000 0000 00", "FedEx 7489 2345 6789 is in transit",
    "DHL waybill 1234567890 out for delivery", "Parcel JD014600006281234567 (DHL)",
    "Server at 192.168.10.254 is down", "IPv6 2001:db8:85a3::8a2e:370:7334",
    "commit 3f9a2c1d4e5b6a7980c1d2e3f4a5b6c7d8e9f0a1", "uuid 123e4567-e89b-12d3-a456-426614174000",
    "SKU 400-1234-5678 back in stock", "Part number 5100-4433-2211 is discontinued",
    "Room 1204, building 3", "Flight LH 400 departs at 13:05", "Gate B22, seat 14C",
    "Serial no. SN-88231-AX-0042", "The ZIP code is 94103", "Postcode SW1A 1AA",
    "Coordinates 48.8566, 2.3522", "Pi is 3.14159265358979", "We processed 4,294,967,296 rows",
    "Batch sizes 16, 32, 64 and 128 were tried", "Error code 0x80070005 on install",
    "Temperatures of -40 to 85 degrees", "The stock rose 12.5% to 345.67",
    "Account page: https://example.com/help/1234567890", "See RFC 5322 and RFC 3986",
    "Call extension 4521 for support", "Opening hours 09:00-17:30, Mon-Fri",
    "Lottery numbers 4 8 15 16 23 42", "The year 2026 had 365 days",
    "Customer number 5512 3344 (not a card)", "Policy number POL-4412-993-01",
    "Case 2026-CV-004512 filed", "Timestamp 1733577600 in seconds",
    "Measured 1234 5678 9012 ms in total", "Table 4.3 on page 112",
    "Patent US 10,123,456 B2", "Model RTX-4090 and H100-80GB", "GTIN 00012345678905",
    "EAN 4006381333931 on the box", "Scores 0.987, 0.954 and 0.912",
    "ISO 8601 and ISO 3166-1 alpha-2", "Transaction id TXN8823419920034",
    "Member since 2011, tier 3", "version string 4.1.12-2-rc3",
    "hash sum 5d41402abc4b2a76b9719d911017c592",
    "user@host in the docs means your login", "write to support at our domain",
    "email me (address in my profile)", "Our phone line is open 24/7",
    "Card ending 4242 was declined", "last four digits 1881", "IBAN field was left empty",
    "CVV is the 3 digits on the back", "Route 66 and highway 101",
]


def rows():
    out = []

    def add(template: str, kind: str, value: str) -> None:
        out.append({"text": template.format(v=value), "pii": [{"kind": kind, "text": value}]})

    for i in range(50):
        add(EMAIL_T[i % len(EMAIL_T)], "EMAIL", email())
    styles = ["international", "e164", "national", "dashed", "dotted", "zero_zero"]
    regions = list(PHONE_PLANS)
    for i in range(75):
        region = regions[i % len(regions)]
        style = styles[(i // len(regions) + i) % len(styles)]
        if style in ("dotted", "dashed") and region not in ("US", "CA"):
            style = "international"
        if style == "national" and region not in ("US", "CA"):
            style = "e164"  # national formats need the region's own policy (--region)
        add(PHONE_T[i % len(PHONE_T)], "PHONE", phone(region, style))
    networks = list(NETWORKS)
    for i in range(60):
        add(CARD_T[i % len(CARD_T)], "CARD", card(networks[i % len(networks)],
                                                  ["", " ", "-"][i % 3]))
    countries = list(IBAN_BBAN)
    for i in range(32):
        add(IBAN_T[i % len(IBAN_T)], "IBAN", iban(countries[i % len(countries)], i % 2 == 0))
    for text in NEGATIVES:
        out.append({"text": text, "pii": []})
    # mixed: several kinds in one message, among look-alikes
    for _ in range(12):
        e, p, c = email(), phone(rng.choice(regions), "international"), card("visa", " ")
        out.append({"text": f"Order 2026-{digits(6)}: I'm {e}, phone {p}, card {c}, "
                            f"version 3.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
                    "pii": [{"kind": "EMAIL", "text": e}, {"kind": "PHONE", "text": p},
                            {"kind": "CARD", "text": c}]})
    return out


def main() -> None:
    data = rows()
    with open(OUT, "w", encoding="utf-8") as f:
        for row in data:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(data)} rows -> {OUT}")


if __name__ == "__main__":
    main()
