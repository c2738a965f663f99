"""Training progress: step lines with an ETA when stdout is a file or a pipe."""

import io
import re

from lepton_tf.training.step_progress import StepProgress, format_seconds


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _run(progress, clock, steps, seconds_per_step):
    for i in range(steps):
        clock.now += seconds_per_step
        progress.on_train_batch_end(i, {"loss": 1.0 / (i + 1)})


def test_lines_by_time_with_the_eta_from_the_measured_step_time():
    clock, out = FakeClock(), io.StringIO()
    progress = StepProgress("encoder", total_steps=60, every_seconds=20, stream=out,
                            clock=clock)
    _run(progress, clock, 60, 7.0)
    lines = out.getvalue().splitlines()
    # After step 1 (no rate yet), then every 3 steps (21 s >= 20 s), and the last step.
    assert lines[0] == "encoder step 1/60 (2%), loss 1.0000"
    assert lines[1] == "encoder step 4/60 (7%), loss 0.2500, 7.00 s/step, ETA 6:32"
    assert lines[-1].startswith("encoder step 60/60 (100%)") and lines[-1].endswith("ETA 0:00")
    assert len(lines) == 2 + (60 - 4) // 3 + 1


def test_lines_by_steps_and_a_resumed_run_counts_from_its_first_step():
    clock, out = FakeClock(), io.StringIO()
    progress = StepProgress("intent", total_steps=600, first_step=500, every_steps=25,
                            every_seconds=0, stream=out, clock=clock)
    _run(progress, clock, 100, 0.5)
    steps = [int(re.search(r"step (\d+)/", line).group(1)) for line in out.getvalue().splitlines()]
    assert steps == [501, 526, 551, 576, 600]


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 75, 3725)] == ["0:00", "1:15", "1:02:05"]


def test_trainer_prints_step_lines_when_stdout_is_not_a_terminal(tmp_path, capsys):
    from lepton_tf.training import TrainConfig, Trainer
    from tiny_task import TinyTask

    config = TrainConfig(name="tiny", output_dir=str(tmp_path), seed=7, epochs=2,
                         steps_per_epoch=6, batch_size=16, learning_rate=1e-2,
                         warmup_steps=2, backup_every_steps=100)
    Trainer(config, progress_every_seconds=0.0001).fit(TinyTask())
    out = capsys.readouterr().out
    steps = re.findall(r"^tiny step (\d+)/12 \(\d+%\), loss [\d.]+", out, re.M)
    assert [int(s) for s in steps] == list(range(1, 13))
    assert "ETA" in out
    # Our lines only: no Keras epoch blocks ("Epoch 2/2", "6/6 - 0s - loss: ...").
    assert [line for line in out.splitlines() if not line.startswith("tiny step ")] == [], out


def test_stage_clock_announces_expected_times_and_sums_up_with_the_load():
    from lepton_tf.progress_bars import StageClock

    out = io.StringIO()
    times = iter([0.0, 100.0, 100.0, 130.5])
    clock = StageClock(stream=out, clock=lambda: next(times))
    with clock.stage("encoder", expected="2-8 min on 2 CPU cores", what="training") as r:
        r["note"] = "built"
    with clock.stage("index"):
        pass
    printed = out.getvalue()
    assert "== encoder: training (expected 2-8 min on 2 CPU cores)" in printed
    summary = clock.summary()
    assert re.search(r"encoder\s+100.0 s  built", summary)
    assert re.search(r"index\s+30.5 s", summary) and re.search(r"total\s+130.5 s", summary)
    assert "load average" in summary and "CPU cores" in summary


def test_bars_off_a_terminal_are_plain_lines():
    from lepton_tf.progress_bars import batch_starts
    import lepton_tf.progress_bars as progress_module

    out = io.StringIO()  # not a terminal
    real = progress_module.progress
    starts = list(batch_starts(10, 4, "demo"))
    assert starts == [0, 4, 8]
    bar = real(desc="demo", total=3, stream=out, log_interval=0)
    for _ in range(3):
        bar.update(1)
    bar.close()
    lines = out.getvalue().split("\n")
    assert "\r" not in out.getvalue() and any("3/3" in line for line in lines)
