"""A folder of real files of every supported format, and a counting encoder."""

from __future__ import annotations

import json
import re
import zlib

import numpy as np

from lepton_tf.index import EncoderInfo

MARKDOWN = """Intro before any heading.

# Installation

Install the package with pip. It needs Python 3.11 and a recent TensorFlow.

## On Linux

Use apt to get the system libraries, then pip install lepton-tf.

```
# this is a shell comment, not a heading
pip install lepton-tf
```

# Usage

Run the index command on a folder of notes about giraffes.
"""

HTML = """<!doctype html><html><head><title>Billing help</title>
<style>body { color: red }</style><script>var tracking = "ignore me";</script></head>
<body><nav>Home | About</nav>
<h1>Refunds</h1><p>Refunds for   annual plans are paid
within <b>ten</b> days.</p>
<h2>Partial refunds</h2><ul><li>Unused months are refunded.</li><li>Fees are kept.</li></ul>
<h1>Invoices</h1><p>Invoices are emailed monthly.</p>
</body></html>"""


def write_pdf(path, pages, title="The Manual"):
    """A PDF with one outline section per page (fpdf2: a maintained writer)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    pdf.set_title(title)
    for section, text in pages:
        pdf.add_page()
        pdf.start_section(section)
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))


def make_corpus(root):
    """Writes md, html, pdf, txt, jsonl, csv and one corrupt PDF under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "guides").mkdir(exist_ok=True)
    (root / "guides" / "install.md").write_text(MARKDOWN)
    (root / "billing.html").write_text(HTML)
    write_pdf(root / "manual.pdf", [("Animals", "Zebras have black and white stripes. " * 3),
                                    ("Geology", "Volcanoes erupt molten lava and ash.")])
    (root / "notes.txt").write_text("Meeting notes: the penguin migration study starts in May.")
    (root / "faq.jsonl").write_text(
        json.dumps({"_id": "f1", "title": "Reset a PIN", "text": "Open settings to reset the PIN.",
                    "metadata": {"category": "cards", "views": 12}}) + "\n" +
        json.dumps({"_id": "f2", "title": "Close account", "text": "Write to support."}) + "\n")
    (root / "table.csv").write_text('id,question,answer,category\n'
                                    'q1,What is a koala?,'
                                    '"A marsupial, it eats eucalyptus.",animals\n'
                                    'q2,Lava temperature?,Around 1000 degrees.,geology\n')
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    (root / ".hidden.md").write_text("# not indexed")
    (root / "image.png").write_bytes(b"\x89PNG not indexed")
    return root


class CountingEncoder:
    """Bag of hashed words -> a unit vector; counts the texts it encodes."""

    def __init__(self, dimension=64, fingerprint="fake-1"):
        self.dimension = dimension
        self.info = EncoderInfo("fake", 1, fingerprint)
        self.encoded = []

    def _embed(self, texts):
        out = np.zeros((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            text = text.decode() if isinstance(text, bytes) else text
            for word in re.findall(r"\w+", text.lower()):
                rng = np.random.default_rng(zlib.crc32(word.encode()))
                out[row] += rng.standard_normal(self.dimension)
        out += 1e-3  # never a zero row
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_documents(self, texts, **_):
        self.encoded.extend(texts)
        return self._embed(texts)

    def encode_queries(self, texts, **_):
        return self._embed(texts)


class HashHandler:
    """A RunInference handler embedding with `CountingEncoder` (no model to load);
    `refuse`: fail if asked to embed anything (an update that must re-encode nothing)."""

    def __new__(cls, encoder_path, refuse=False):
        from lepton_tf.pipelines.encoder_handler import EncoderModelHandler

        class Handler(EncoderModelHandler):
            def load_model(self):
                return BatchedCountingEncoder()

            def run_inference(self, batch, model, inference_args=None):
                if refuse:
                    raise AssertionError(f"the pipeline embedded {len(batch)} passages")
                return super().run_inference(batch, model, inference_args)
        return Handler(encoder_path)


class BatchedCountingEncoder(CountingEncoder):
    """`CountingEncoder` with the batch arguments the pipeline's handler passes."""

    def encode_documents(self, texts, batch_size=None, progress=False):
        return super().encode_documents(texts)


def stand_in_encoder(folder) -> str:
    """A fingerprinted SavedModel version folder under `folder` to name as the
    encoder of a Beam build whose `HashHandler` embeds (it computes nothing)."""
    import tensorflow as tf

    path = str(folder / "1")
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, path)
    return path
