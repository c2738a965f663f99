"""`--runner` names of `lepton-tf index` -> Beam pipeline options.

| name       | Beam runner    | where it runs                                          |
|------------|----------------|--------------------------------------------------------|
| `local`    | (none)         | today's in-process build, no Beam                      |
| `direct`   | DirectRunner   | this machine; `--direct_num_workers=N` processes       |
| `prism`    | PrismRunner    | Beam's portable local runner (needs `--prism_location`)|
| `flink`    | FlinkRunner    | a Flink cluster (`--flink_master=HOST:8081`)           |
| `spark`    | SparkRunner    | a Spark cluster (`--spark_master_url=spark://HOST:7077`)|
| `dataflow` | DataflowRunner | Google Cloud Dataflow (`--project --region --temp_location`) |

Any other Beam option is passed through unchanged (see docs/deploy.md).
"""

from __future__ import annotations

RUNNERS = {"direct": "DirectRunner", "prism": "PrismRunner", "flink": "FlinkRunner",
           "spark": "SparkRunner", "dataflow": "DataflowRunner"}
CHOICES = ("local",) + tuple(RUNNERS)


def pipeline_options(runner: str, beam_args: list[str] | None = None, num_workers: int = 0):
    """`PipelineOptions` for a `--runner` name plus pass-through Beam flags.

    Args:
        runner: one of `RUNNERS`.
        beam_args: Beam command-line flags (`--flink_master=...`).
        num_workers: with `direct`, worker processes (multi-processing mode);
            0 keeps Beam's default (or what `beam_args` say).

    Raises:
        ValueError: an unknown runner.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    if runner not in RUNNERS:
        raise ValueError(f"Unknown runner {runner!r}: choose one of {', '.join(CHOICES)}.")
    flags = list(beam_args or [])
    extra = {}
    if runner == "direct" and num_workers:
        extra = {"direct_num_workers": num_workers,
                 "direct_running_mode": "multi_processing" if num_workers > 1 else "in_memory"}
    return PipelineOptions(flags, runner=RUNNERS[runner], save_main_session=False, **extra)
