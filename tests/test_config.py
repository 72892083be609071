import copy
import sys
import threading

import pytest

from pardata import config as pconfig


@pytest.fixture(autouse=True)
def isolated_config(monkeypatch, tmp_path):
    """Hide the user's files and PARDATA_* variables; restore the global config after."""
    saved = copy.deepcopy(pconfig.config)
    saved_defaults = copy.deepcopy(pconfig.defaults)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(__import__("os").environ):
        if name.startswith("PARDATA_"):
            monkeypatch.delenv(name)
    pconfig.refresh()
    yield home
    pconfig.defaults.clear()
    pconfig.defaults.update(saved_defaults)
    pconfig.config.clear()
    pconfig.config.update(saved)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_are_loaded():
    assert pconfig.get("scheduler") is None
    assert pconfig.get("num-workers") is None
    assert pconfig.get("array.chunk-size") == "128MiB"
    assert pconfig.get("optimization.fuse.active") is True
    assert pconfig.get("worker.memory.target") == 0.6
    assert pconfig.get("worker.memory.terminate") == 0.95
    assert pconfig.get("distributed.scheduler.worker-saturation") == 1.1
    assert pconfig.get("distributed.scheduler.allowed-failures") == 3
    assert pconfig.get("distributed.comm.timeouts.connect") == "30s"
    assert pconfig.get("tokenize.ensure-deterministic") is False


def test_get_missing_key_names_it():
    with pytest.raises(KeyError, match="worker.memory.nope"):
        pconfig.get("worker.memory.nope")
    with pytest.raises(KeyError, match="no-such-section"):
        pconfig.get("no-such-section.x")
    # Walking into a leaf is also "missing".
    with pytest.raises(KeyError, match="chunk-size.deeper"):
        pconfig.get("array.chunk-size.deeper")


def test_get_default_and_override():
    assert pconfig.get("worker.memory.nope", 1.5) == 1.5
    assert pconfig.get("worker.memory.nope", default=None) is None
    assert pconfig.get("scheduler", override_with="threads") == "threads"
    assert pconfig.get("worker.memory.target", override_with=None) == 0.6


def test_get_returns_copies_of_sections():
    section = pconfig.get("worker.memory")
    section["target"] = 0.1
    assert pconfig.get("worker.memory.target") == 0.6


def test_canonical_keys():
    assert pconfig.get("distributed.scheduler.worker_saturation") == 1.1
    assert pconfig.get("array.chunk_size") == "128MiB"
    pconfig.set({"new_section.some_key": 1})
    assert pconfig.config["new-section"]["some-key"] == 1
    assert pconfig.get("new-section.some-key") == 1
    assert pconfig.get("new_section.some-key") == 1


def test_set_plain_call_persists():
    pconfig.set({"worker.memory.target": 0.5})
    assert pconfig.get("worker.memory.target") == 0.5
    assert pconfig.get("worker.memory.spill") == 0.7


def test_set_context_manager_restores():
    with pconfig.set({"worker.memory.target": 0.5}, scheduler="sync") as cfg:
        assert cfg is pconfig.config
        assert pconfig.get("worker.memory.target") == 0.5
        assert pconfig.get("scheduler") == "sync"
    assert pconfig.get("worker.memory.target") == 0.6
    assert pconfig.get("scheduler") is None


def test_set_kwargs_double_underscore_is_a_dot():
    with pconfig.set(distributed__scheduler__worker_saturation=2.0, array__chunk_size="1MiB"):
        assert pconfig.get("distributed.scheduler.worker-saturation") == 2.0
        assert pconfig.get("array.chunk-size") == "1MiB"
    assert pconfig.get("distributed.scheduler.worker-saturation") == 1.1


def test_set_nested_dict_merges_and_restores():
    with pconfig.set({"worker": {"memory": {"target": 0.1}}, "array": {"chunk_size": "4MiB"}}):
        assert pconfig.get("worker.memory.target") == 0.1
        assert pconfig.get("worker.memory.spill") == 0.7  # sibling kept
        assert pconfig.get("array.chunk-size") == "4MiB"
    assert pconfig.get("worker.memory") == {"target": 0.6, "spill": 0.7, "pause": 0.8, "terminate": 0.95}


def test_set_new_keys_are_removed_on_exit():
    before = copy.deepcopy(pconfig.config)
    with pconfig.set({"a.b.c": 1, "worker.memory.extra": 2}):
        assert pconfig.get("a.b.c") == 1
        assert pconfig.get("a") == {"b": {"c": 1}}
        assert pconfig.get("worker.memory.extra") == 2
    assert pconfig.config == before


def test_set_value_dict_keys_are_canonical_and_copied():
    value = {"inner_key": [1, 2]}
    with pconfig.set({"x": {"y": value}}):
        assert pconfig.get("x.y.inner-key") == [1, 2]
        value["inner_key"].append(3)
        assert pconfig.get("x.y.inner-key") == [1, 2]


def test_set_replaces_leaf_with_section_and_back():
    with pconfig.set({"scheduler.sub": 1}):
        assert pconfig.get("scheduler") == {"sub": 1}
    assert pconfig.get("scheduler") is None


def test_nested_context_managers():
    with pconfig.set({"worker.memory.target": 0.5}):
        with pconfig.set({"worker.memory.target": 0.4, "worker.memory.pause": 0.9}):
            assert pconfig.get("worker.memory.target") == 0.4
            assert pconfig.get("worker.memory.pause") == 0.9
        assert pconfig.get("worker.memory.target") == 0.5
        assert pconfig.get("worker.memory.pause") == 0.8
    assert pconfig.get("worker.memory.target") == 0.6


def test_same_key_twice_in_one_set_restores_original():
    with pconfig.set({"worker.memory.target": 0.1, "worker": {"memory": {"target": 0.2}}}):
        assert pconfig.get("worker.memory.target") == 0.2
    assert pconfig.get("worker.memory.target") == 0.6


def test_set_restores_on_exception():
    with pytest.raises(RuntimeError):
        with pconfig.set(scheduler="threads"):
            raise RuntimeError("boom")
    assert pconfig.get("scheduler") is None


def test_refresh_inside_set_block_does_not_break_exit():
    with pconfig.set({"brand.new": 1}):
        pconfig.refresh()
    assert "brand" not in pconfig.config


def test_set_on_a_private_config():
    private = {"a": {"b": 1}}
    with pconfig.set({"a.b": 2}, config=private):
        assert pconfig.get("a.b", config=private) == 2
    assert private == {"a": {"b": 1}}
    assert "a" not in pconfig.config


def test_overlapping_blocks_keep_each_others_keys():
    a = pconfig.set({"shared.a": 1})  # creates the section
    b = pconfig.set({"shared.b": 2})
    a.__exit__(None, None, None)
    assert pconfig.get("shared") == {"b": 2}
    b.__exit__(None, None, None)
    assert pconfig.get("shared", {}) == {}


@pytest.fixture
def fast_thread_switching():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_set_from_many_threads(fast_thread_switching):
    errors = []

    def work(i):
        try:
            for _ in range(200):
                with pconfig.set({f"threads.t{i}": i}):
                    assert pconfig.get(f"threads.t{i}") == i
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pconfig.get("threads", {}) == {}


def test_update():
    old = {"a": {"b": 1, "c": 2}, "d": 3}
    assert pconfig.update(old, {"a": {"b": 10, "new_key": 4}, "e": 5}) is old
    assert old == {"a": {"b": 10, "c": 2, "new-key": 4}, "d": 3, "e": 5}


def test_update_priority_old():
    old = {"a": {"b": 1}, "d": 3}
    pconfig.update(old, {"a": {"b": 10, "c": 2}, "d": {"x": 1}, "e": 5}, priority="old")
    assert old == {"a": {"b": 1, "c": 2}, "d": 3, "e": 5}


def test_update_replaces_leaf_with_section_and_copies():
    new = {"d": {"x": [1]}}
    old = pconfig.update({"d": 3}, new)
    assert old == {"d": {"x": [1]}}
    new["d"]["x"].append(2)
    assert old == {"d": {"x": [1]}}


def test_update_bad_priority():
    with pytest.raises(ValueError, match="priority"):
        pconfig.update({}, {}, priority="newest")


def test_env_vars(monkeypatch):
    monkeypatch.setenv("PARDATA_SCHEDULER", "sync")
    monkeypatch.setenv("PARDATA_NUM_WORKERS", "4")
    monkeypatch.setenv("PARDATA_WORKER__MEMORY__TARGET", "0.5")
    monkeypatch.setenv("PARDATA_DISTRIBUTED__SCHEDULER__WORK_STEALING", "False")
    monkeypatch.setenv("PARDATA_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "5s")
    monkeypatch.setenv("PARDATA_OPTIMIZATION__FUSE__ACTIVE", "None")
    monkeypatch.setenv("PARDATA_SOME__LIST", "[1, 'two']")
    monkeypatch.setenv("PARDATA_SOME__TEXT", "hello world")
    monkeypatch.setenv("NOT_PARDATA_X", "1")
    pconfig.refresh()
    assert pconfig.get("scheduler") == "sync"
    assert pconfig.get("num-workers") == 4
    assert pconfig.get("worker.memory.target") == 0.5
    assert pconfig.get("worker.memory.spill") == 0.7
    assert pconfig.get("distributed.scheduler.work-stealing") is False
    assert pconfig.get("distributed.comm.timeouts.connect") == "5s"
    assert pconfig.get("optimization.fuse.active") is None
    assert pconfig.get("some.list") == [1, "two"]
    assert pconfig.get("some.text") == "hello world"
    assert "not-pardata-x" not in pconfig.config
    assert "config" not in pconfig.config


def test_env_vars_malformed_names_are_ignored(monkeypatch):
    monkeypatch.setenv("PARDATA_", "1")
    monkeypatch.setenv("PARDATA_A____B", "1")
    pconfig.refresh()
    assert "" not in pconfig.config
    assert "a" not in pconfig.config


def test_refresh_discards_set_values():
    pconfig.set(scheduler="threads")
    pconfig.refresh()
    assert pconfig.get("scheduler") is None


def test_yaml_directory_via_env(monkeypatch, tmp_path):
    d = tmp_path / "conf"
    write(d / "a.yaml", "worker:\n  memory:\n    target: 0.3\n    spill: 0.4\n")
    write(d / "b.yaml", "worker:\n  memory:\n    spill: 0.45\narray:\n  chunk_size: 64MiB\n")
    write(d / "ignored.txt", "not: [yaml")
    write(d / "empty.yaml", "")
    monkeypatch.setenv("PARDATA_CONFIG", str(d))
    pconfig.refresh()
    assert pconfig.get("worker.memory.target") == 0.3
    assert pconfig.get("worker.memory.spill") == 0.45  # later file in name order wins
    assert pconfig.get("worker.memory.pause") == 0.8  # default kept
    assert pconfig.get("array.chunk-size") == "64MiB"


def test_yaml_single_file_via_env(monkeypatch, tmp_path):
    f = write(tmp_path / "one.yaml", "scheduler: processes\n")
    monkeypatch.setenv("PARDATA_CONFIG", str(f))
    pconfig.refresh()
    assert pconfig.get("scheduler") == "processes"


def test_missing_config_path_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("PARDATA_CONFIG", str(tmp_path / "does-not-exist"))
    pconfig.refresh()
    assert pconfig.get("scheduler") is None


def test_yaml_in_home_config(isolated_config):
    write(isolated_config / ".config" / "pardata" / "mine.yaml", "num-workers: 7\n")
    pconfig.refresh()
    assert pconfig.get("num-workers") == 7


def test_priority_order(isolated_config, monkeypatch, tmp_path):
    home_dir = isolated_config / ".config" / "pardata"
    write(home_dir / "home.yaml", "worker:\n  memory:\n    target: 0.1\n    spill: 0.2\n    pause: 0.3\n")
    env_dir = tmp_path / "envdir"
    write(env_dir / "env.yaml", "worker:\n  memory:\n    spill: 0.22\n    pause: 0.33\n")
    monkeypatch.setenv("PARDATA_CONFIG", str(env_dir))
    monkeypatch.setenv("PARDATA_WORKER__MEMORY__PAUSE", "0.333")
    pconfig.refresh()
    assert pconfig.get("worker.memory.terminate") == 0.95  # built-in default
    assert pconfig.get("worker.memory.target") == 0.1  # ~/.config/pardata beats defaults
    assert pconfig.get("worker.memory.spill") == 0.22  # PARDATA_CONFIG beats ~/.config
    assert pconfig.get("worker.memory.pause") == 0.333  # environment variables beat files
    # And set() beats all of them until the next refresh.
    with pconfig.set({"worker.memory.pause": 0.5}):
        assert pconfig.get("worker.memory.pause") == 0.5
    assert pconfig.get("worker.memory.pause") == 0.333


def test_malformed_yaml_names_the_file(monkeypatch, tmp_path):
    bad = write(tmp_path / "conf" / "bad.yaml", "worker: [unclosed\n")
    monkeypatch.setenv("PARDATA_CONFIG", str(bad.parent))
    with pytest.raises(ValueError, match="bad.yaml"):
        pconfig.refresh()


def test_non_mapping_yaml_names_the_file(monkeypatch, tmp_path):
    bad = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    monkeypatch.setenv("PARDATA_CONFIG", str(bad))
    with pytest.raises(ValueError, match="list.yaml"):
        pconfig.refresh()


def test_collect_with_explicit_sources(tmp_path):
    f = write(tmp_path / "x.yaml", "a:\n  b: 1\n")
    result = pconfig.collect(paths=[str(f)], environ={"PARDATA_A__C": "2", "OTHER": "3"})
    assert result == {"a": {"b": 1, "c": 2}}


def test_update_defaults():
    pconfig.set({"plugin.level": 5})
    pconfig.update_defaults({"plugin": {"level": 1, "mode": "fast"}})
    assert pconfig.get("plugin.level") == 5  # user value kept
    assert pconfig.get("plugin.mode") == "fast"
    pconfig.refresh()
    assert pconfig.get("plugin.level") == 1  # now part of the defaults


def test_import_is_cheap():
    import subprocess
    import sys

    code = (
        "import sys, pardata.config\n"
        "heavy = [m for m in ('numpy', 'pandas', 'yaml') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PARDATA_")}
    env["HOME"] = "/nonexistent-home-for-test"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_units_are_reexported():
    assert pconfig.parse_bytes(pconfig.get("array.chunk-size")) == 128 * 2**20
    assert pconfig.parse_timedelta(pconfig.get("distributed.comm.timeouts.tcp")) == 30.0
    assert pconfig.format_bytes(2**20) == "1.00 MiB"
