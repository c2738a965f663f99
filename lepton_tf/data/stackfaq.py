"""Reader for the StackFAQ retrieval data.

File (vendored under ``data/stackfaq/``): ``stackExchange-FAQ.xml.gz``, a ``<root>`` of
``<qapair>`` threads, each with ``<rephr>`` paraphrased queries, one ``<question>`` and
``<answer>`` elements.
"""

from __future__ import annotations

import gzip
import os
import xml.etree.ElementTree as ET
import zlib

from lepton_tf.data._io import open_binary
from lepton_tf.data.errors import DataFormatError
from lepton_tf.data.paths import data_file
from lepton_tf.data.records import FaqThread

PLACEHOLDER = "*"


def _text(elem: ET.Element) -> str:
    # ElementTree has already decoded the XML entities (&lt; &gt; &amp; ...).
    return "".join(elem.itertext()).strip()


def _thread(elem: ET.Element, thread_id: int, path, line: int) -> FaqThread:
    queries, questions, answers = [], [], []
    for child in elem:
        text = _text(child)
        if child.tag == "rephr":
            if text and text != PLACEHOLDER:
                queries.append(text)
        elif child.tag == "question":
            questions.append(text)
        elif child.tag == "answer":
            if text:
                answers.append(text)
        else:
            raise DataFormatError(path, line, f"unexpected element <{child.tag}> in <qapair>")
    if len(questions) != 1 or not questions[0]:
        raise DataFormatError(path, line, f"expected one non-empty <question> in <qapair>, got {len(questions)}")
    return FaqThread(thread_id=thread_id, queries=tuple(queries), question=questions[0], answers=tuple(answers))


def read_stackfaq(path: str | os.PathLike | None = None) -> list[FaqThread]:
    """Read the StackFAQ threads.

    Args:
        path: an XML file, plain (``.xml``) or gzipped (``.xml.gz``), to read
            instead of the vendored ``data/stackfaq/stackExchange-FAQ.xml.gz``.

    Returns:
        The threads in file order (``thread_id`` = 0-based position). Texts are
        stripped of surrounding whitespace with XML entities decoded; placeholder
        rephrasings equal to ``"*"`` and empty ones are dropped. On the vendored
        file: 125 threads, 1,249 queries, 719 answers.

    Raises:
        FileNotFoundError: naming the file if it is missing.
        DataFormatError: naming the file and 1-based line of malformed XML or of
            a thread without exactly one question.
    """
    if path is None:
        path = data_file("stackfaq", "stackExchange-FAQ.xml.gz")
    parser = ET.XMLPullParser(events=("start", "end"))
    threads: list[FaqThread] = []
    depth = 0
    line = 0
    try:
        with open_binary(path) as fh:
            for line, raw in enumerate(fh, start=1):
                parser.feed(raw)
                for event, elem in parser.read_events():
                    depth += 1 if event == "start" else -1
                    if event == "start" and depth == 2 and elem.tag != "qapair":
                        raise DataFormatError(path, line, f"expected <qapair>, got <{elem.tag}>")
                    if event == "end" and depth == 1 and elem.tag == "qapair":
                        threads.append(_thread(elem, len(threads), path, line))
                        elem.clear()
        parser.close()
    except ET.ParseError as exc:
        err_line = exc.position[0] if getattr(exc, "position", None) else line
        raise DataFormatError(path, err_line, f"malformed XML: {exc}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(path, line + 1, f"cannot decode file: {exc}") from None
    return threads
