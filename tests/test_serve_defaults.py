"""`lepton-tf serve` with no model flags, and the warning for models with no version."""

import logging
import os

from lepton_tf.cli import build_parser


def test_serve_without_model_flags_serves_the_main_jobs_models(tmp_path, monkeypatch, caplog):
    from lepton_tf.commands.serve import build_server
    from lepton_tf.server.config import load_model_server_config

    monkeypatch.chdir(tmp_path)
    os.makedirs("indexes/stackfaq")
    args = build_parser().parse_args(["serve", "--port", "0", "--rest_api_port", "0"])
    server = build_server(args)
    assert args.model_config_file == os.path.join("runs", "main", "models.config")
    assert args.search_index == os.path.join("indexes", "stackfaq")
    config = load_model_server_config(args.model_config_file)
    assert {(m.name, m.base_path) for m in config.model_config_list.config} == {
        (name, str(tmp_path / "saved_models" / name)) for name in ("encoder", "intent", "chat")}
    with caplog.at_level(logging.WARNING, logger="lepton_tf.server.app"):
        server.start()
    try:
        warned = [r.getMessage() for r in caplog.records if "has no version" in r.getMessage()]
        assert [w.split()[1] for w in warned] == ["encoder", "intent", "chat"]
        assert str(tmp_path / "saved_models" / "chat") in warned[2]
    finally:
        server.stop()


def test_no_warning_for_a_model_with_a_version(tmp_path, caplog):
    from lepton_tf.commands.product import write_models_config
    from lepton_tf.server.app import warn_models_without_versions
    from lepton_tf.server.config import load_model_server_config

    (tmp_path / "m" / "encoder" / "3").mkdir(parents=True)
    (tmp_path / "m" / "encoder" / "3" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "m" / "intent" / "tmp").mkdir(parents=True)  # not a version folder
    path = write_models_config(str(tmp_path / "m"), ("encoder", "intent"),
                               str(tmp_path / "models.config"))
    with caplog.at_level(logging.WARNING):
        assert warn_models_without_versions(load_model_server_config(path)) == ["intent"]


def test_a_version_folder_given_as_base_path_is_named(tmp_path, caplog):
    from lepton_tf.server.app import warn_models_without_versions
    from lepton_tf.server.config import single_model_config

    version = tmp_path / "intent" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        assert warn_models_without_versions(single_model_config("intent", str(version))) == [
            "intent"]
    assert f"give its parent, {tmp_path / 'intent'}" in caplog.text
