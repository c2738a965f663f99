"""Writes bench/data/pii_sample.jsonl: the labelled sample the redaction is measured on.

Each line is `{"text": ..., "pii": [{"kind": "EMAIL|PHONE|CARD|IBAN", "text": ...}]}`;
`pii` lists every piece of personal data in `text` (empty for a negative).
Values are hand-picked (published test card numbers and IBAN examples from
the card networks' and banks' documentation, real switchboard numbers of
public institutions, made-up mailboxes) and the sentences are the support and
booking turns the assistant sees; negatives are the look-alikes that appear
in the same turns (order and tracking numbers, dates, amounts, versions,
postcodes, IBANs and card numbers with a wrong check digit).

    python bench/make_pii_sample.py      # deterministic: the same file each run
"""

import json
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pii_sample.jsonl")

EMAILS = ["jane.doe@example.com", "J.Smith+billing@Example.co.uk", "ops-team@mail.acme.io",
          "first_last@sub.domain.org", "x9@test.dev", "maria.garcia@correo.es",
          "support@lepton-tf.ai", "o'brien@irish.ie".replace("'", ""), "a.b.c.d@e-f.museum",
          "user%route@relay.net", "HELPDESK@UNIVERSITY.EDU", "li.wei2024@qq.com",
          "dr.k.mueller@klinik-berlin.de", "noreply@notifications.github.com",
          "sam@localhost.localdomain", "tom.k@gmail.com", "info@bäckerei.de".replace("ä", "ae"),
          "travel.desk@agency.travel", "p.o.box@post.ch", "kim_lee-88@hanmail.net"]
PHONES = ["+44 20 7946 0958", "(212) 736-5000", "+1 650-253-0000", "212.736.5000",
          "+49 30 901820", "+33 1 42 68 53 00", "+91 98765 43210", "+61 2 9374 4000",
          "+81 3-3224-9999", "1-800-275-2273", "+1 (415) 867-5309", "415 867 5309",
          "+34 912 345 678", "+39 06 6988 4857", "+31 20 624 1111", "+46 8 405 10 00",
          "+353 1 671 1222", "+41 44 633 11 11", "+1 202-456-1111", "202 456 1414",
          "+27 21 403 2911", "+55 11 3003-3030", "+852 2523 1234", "+65 6225 5577"]
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005", "6011 1111 1111 1117",
         "3530111333300000", "4000 0566 5566 5556", "5200828282828210", "3714 496353 98431",
         "6011-0009-9013-9424", "30569309025904", "4222222222222", "4012 8888 8888 1881",
         "5105105105105100", "2223 0031 2200 3222", "6200000000000005", "4988 4388 4388 4305"]
IBANS = ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606",
         "ES9121000418450200051332", "IT60 X054 2811 1010 0000 0123 456", "NL91ABNA0417164300",
         "BE71 0961 2345 6769", "CH9300762011623852957", "AT61 1904 3002 3457 3201",
         "PL61109010140000071219812874", "SE45 5000 0000 0583 9825 7466", "NO9386011117947",
         "DK50 0040 0440 1162 43", "FI2112345600000785", "IE29 AIBK 9311 5212 3456 78",
         "LU280019400644750000"]

TEMPLATES = {
    "EMAIL": ["Please send the invoice to {v}.", "My email is {v}", "Contact: <{v}>",
              "cc {v}, thanks!", "Reply to {v} before Friday.", "({v})",
              "email me at {v} or call later", "Login: {v}; password reset failed."],
    "PHONE": ["Call me on {v} after 6pm.", "My number is {v}.", "Reach the desk at {v}",
              "phone: {v}", "Tel. {v} (mobile)", "If it drops, dial {v} again.",
              "You can text {v} anytime", "Hotel front desk {v}, ask for Ana."],
    "CARD": ["My card number is {v}.", "Charge {v} for the deposit", "card: {v} exp 09/27",
             "Use {v} for the booking please", "It was billed to {v}!",
             "The last payment on {v} failed."],
    "IBAN": ["Refund to IBAN {v} please.", "Our account: {v}", "IBAN: {v}, BIC COBADEFFXXX",
             "Wire the deposit to {v}.", "Transfer to {v} (savings)"],
}
# Harder forms seen in chat: shouting, prefixes and trunk digits, lowercase IBANs,
# numbers glued to punctuation.
HARD = [("EMAIL", "Write to JANE.DOE@EXAMPLE.COM asap", "JANE.DOE@EXAMPLE.COM"),
        ("EMAIL", "mail:bob.smith@mail.example.co.jp.", "bob.smith@mail.example.co.jp"),
        ("EMAIL", "<Ana.Lopez+travel@outlook.com>;", "Ana.Lopez+travel@outlook.com"),
        ("PHONE", "London office +44 (0)20 7946 0958 ext. 12", "+44 (0)20 7946 0958"),
        ("PHONE", "tel:+14158675309", "+14158675309"),
        ("PHONE", "my cell is 415.867.5309, thanks", "415.867.5309"),
        ("PHONE", "Call 011 44 20 7946 0958 from the US", "011 44 20 7946 0958"),
        ("PHONE", "Number:(212)736-5000", "(212)736-5000"),
        ("CARD", "card:4111111111111111, cvv later", "4111111111111111"),
        ("CARD", "Visa 4012-8888-8888-1881.", "4012-8888-8888-1881"),
        ("CARD", "amex 3782 822463 10005 please", "3782 822463 10005"),
        ("IBAN", "iban de89370400440532013000 thanks", "de89370400440532013000"),
        ("IBAN", "IBAN:GB82WEST12345698765432.", "GB82WEST12345698765432"),
        ("IBAN", "to NL91 ABNA 0417 1643 00, ref 7", "NL91 ABNA 0417 1643 00")]
MIXED = [("Email {a} or call {b}.", "EMAIL", "PHONE"),
         ("Card {a}, receipt to {b}", "CARD", "EMAIL"),
         ("Pay {a} from {b}.", "IBAN", "CARD"),
         ("Phone {a}; IBAN {b}", "PHONE", "IBAN")]
NEGATIVES = [
    "Order 1234567812345678 shipped yesterday.", "Tracking number 1Z999AA10123456784",
    "The meeting is on 2024-03-15 at 10:30.", "Total: $1,234,567.89 incl. VAT",
    "Upgrade to version 2.20.0 or 3.15.1.", "Postcode 94103, building 12, room 1204.",
    "ISBN 978-0-306-40615-7 is out of print.", "Call me at noon tomorrow.",
    "Between 1999-2004 we had 3 offices.", "The flight leaves at 10:30-11:45.",
    "Reference DE89 3704 0044 0532 0130 01 was rejected.",  # wrong IBAN check digits
    "Card 4111 1111 1111 1112 was declined.",  # fails Luhn
    "Invoice #20240315-0042 is attached.", "Coordinates 48.8566, 2.3522",
    "Server 192.168.1.254 port 8501", "Ticket INC0012345 is still open",
    "Batch size 8192, 64 threads, 30000 ms timeout", "Room for 4 people, 2 nights, 3 rooms",
    "Your booking code is XK7-99-QT", "Temperature 36.6, pulse 72, BP 120/80",
    "Follow us @leptonsupport", "The answer is 42, not 41.", "Pay 250 EUR by 31.12.",
    "SKU 00012345678905 restocked", "My order 5555 5555 5555 5555 never arrived.",  # fails Luhn
    "GB00WEST12345698765432 is not a real account", "Step 1: open settings. Step 2: save.",
    "The 2023 report covers 1,204 clinics in 17 countries.", "Use promo code SPRING2024",
    "Zip code 10001 and area 212", "Ward 7B, bed 14, since 03/02/2025",
    "Serial no. 4G2-1193-XX5", "Approx. 15-20 minutes", "Chapter 3.4.1, page 212",
    "Gate B22, seat 14C", "Counter 0800 opens at 08:00", "Model LTF-2048-X",
    "Invoice 000123456789 due", "1 2 3 4 5 6 7 8 9 10", "Sum 4+11+16+23 = 54",
    "Call duration 00:12:45", "Price per unit 0.0042", "ID 10293847", "PIN changed on 12/11",
    "Build 20251207.3", "Hash 9f86d081884c7d65", "See RFC 5322 section 3.4",
    "Our hotline hours are 9-17", "Line 42 of config.yaml", "Reading 3.14159265358979",
    "Quarter Q3 2025 revenue", "Contact form at example.com/contact",
    "user at example dot com", "Dial the extension ext. 204", "The code 4111 is a branch id",
    "Version 1.2.3.4.5", "It is 5 past 12", "Lot 7-1122-3344", "Apartment 12/3, floor 4",
    "Flight LH 400 departs 14:05", "In an emergency call 911", "Tel. ext 2045",
    "version 4.111.1111", "Take route 66 north", "Order no. 4111-1111-1111-1111-9",
    "Reference NL00ABNA0417164300", "1,000,000 users in 2024", "ticket #77777",
    "Seat 12A, flight BA 117, gate 5", "ISO 3166 code DE, IBAN country code too",
]


def main() -> None:
    rng = random.Random(28)
    rows = []
    for kind, values in (("EMAIL", EMAILS), ("PHONE", PHONES), ("CARD", CARDS),
                         ("IBAN", IBANS)):
        for value in values:
            for template in rng.sample(TEMPLATES[kind], 2):
                rows.append({"text": template.format(v=value),
                             "pii": [{"kind": kind, "text": value}]})
    pools = {"EMAIL": EMAILS, "PHONE": PHONES, "CARD": CARDS, "IBAN": IBANS}
    for _ in range(3):
        for template, a, b in MIXED:
            va, vb = rng.choice(pools[a]), rng.choice(pools[b])
            rows.append({"text": template.format(a=va, b=vb),
                         "pii": [{"kind": a, "text": va}, {"kind": b, "text": vb}]})
    rows += [{"text": text, "pii": [{"kind": kind, "text": value}]} for kind, text, value in HARD]
    rows += [{"text": t, "pii": []} for t in NEGATIVES]
    rng.shuffle(rows)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} strings ({sum(1 for r in rows if r['pii'])} with personal data) "
          f"-> {OUT}")


if __name__ == "__main__":
    main()
