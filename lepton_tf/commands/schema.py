"""`lepton-tf schema FILE...`: check service schemas (SGD's schema.json format).

Prints one line per file (its services, intents and slots), or the first problem:
the file, the service, the field and what is wrong.
"""

from __future__ import annotations

from lepton_tf.dialogue.schema import load_schema


def run(args) -> int:
    for path in args.files:
        schema = load_schema(path)
        intents = sum(len(s.intents) for s in schema.values())
        slots = sum(len(s.slots) for s in schema.values())
        print(f"{path}: ok: {len(schema)} services, {intents} intents, {slots} slots")
    return 0


def register(sub) -> None:
    p = sub.add_parser("schema", help="check service schema files (SGD schema.json format)")
    p.add_argument("files", nargs="+", help="schema.json or schema.json.gz files")
    p.set_defaults(fn=run)
