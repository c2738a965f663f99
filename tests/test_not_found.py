"""The not-found calibration: whole threads left out of the index, in folds."""

import numpy as np

from lepton_tf.evaluation.not_found import calibrate, fold_scores, thread_of


def test_left_out_threads_make_unanswerable_questions_and_a_held_out_threshold():
    # 4 threads, one document and one question each; a question is its thread's
    # document plus a little noise, so it finds it at ~1 and the others at ~0.
    docs = np.eye(4, dtype=np.float32)
    questions = docs + 0.05
    questions /= np.linalg.norm(questions, axis=1, keepdims=True)
    threads = [thread_of(f"t{i}-a0") for i in range(4)]
    scores = fold_scores(docs, threads, questions, threads, [{"t0"}, {"t1"}, {"t2", "t3"}])
    answerable, unanswerable = scores[0]
    assert len(answerable) == 3 and len(unanswerable) == 1
    assert answerable.min() > 0.9 and unanswerable.max() < 0.2
    result = calibrate(scores, fit_folds=2)
    assert 0.2 < result["threshold"] <= answerable.min()
    assert result["held_out"] == {"unanswerable_flagged": 1.0, "answerable_flagged": 0.0,
                                  "answerable": 2, "unanswerable": 2}
